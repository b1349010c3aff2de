"""One recognizer per node, shared by the node's cameras: their faces batched into one forward pass.

With ``cluster.inference = "node"`` the control actor starts a ``RecognizerActor`` on every
node (holding the node's GPU when it has one), and each camera actor sends its aligned
faces there instead of running its own recognizer. Concurrent calls from the node's cameras
meet in a ``MicroBatcher``, so a GPU sees one batch where it would have seen many small ones.
Faces travel only between processes of one node and are never kept.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from openlfr.settings import Settings
from openlfr.vision.batching import MicroBatcher
from openlfr.vision.runtime import create_session
from openlfr.vision.torch_backend import Port

log = logging.getLogger(__name__)


def actor_name(node_id: str) -> str:
    return f"openlfr-recognizer-{node_id}"


class RecognizerActor:
    """The recognizer network on this node, fed by every camera on it."""

    def __init__(self, settings: Settings) -> None:
        from openlfr.models.pack import load_pack

        pack = load_pack(settings.model_pack)
        self.session = create_session(pack.recognizer_path, settings.runtime)
        self.input_name = self.session.get_inputs()[0].name
        wait = settings.recognition.batch_wait_ms
        self.batcher = MicroBatcher(
            self._forward, 4 * settings.recognition.batch_size, (2.0 if wait is None else wait) / 1000
        )

    def _forward(self, blob: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: blob})[0]

    def ports(self) -> tuple[list[Port], list[Port]]:
        """The session's inputs and outputs as plain values (ONNX Runtime's own do not pickle)."""
        return (
            [Port(p.name, list(p.shape)) for p in self.session.get_inputs()],
            [Port(p.name, list(p.shape)) for p in self.session.get_outputs()],
        )

    def run(self, blob: np.ndarray) -> np.ndarray:
        return self.batcher(blob)

    def stats(self) -> dict[str, float]:
        return {
            "batches": self.batcher.batches,
            "rows": self.batcher.rows,
            "mean_batch": self.batcher.mean_batch,
        }


class RemoteSession:
    """Looks like an inference session to ``ArcFaceEmbedder``; runs on the node's recognizer actor."""

    def __init__(self, actor: Any, timeout: float) -> None:
        import ray

        self.ray, self.actor, self.timeout = ray, actor, timeout
        self._inputs, self._outputs = ray.get(actor.ports.remote(), timeout=timeout)

    def get_inputs(self) -> list[Any]:
        return self._inputs

    def get_outputs(self) -> list[Any]:
        return self._outputs

    def get_providers(self) -> list[str]:
        return ["node recognizer actor"]

    def run(self, _names: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        (blob,) = feeds.values()
        return [self.ray.get(self.actor.run.remote(blob), timeout=self.timeout)]


def start_recognizers(ray: Any, settings: Settings) -> dict[str, Any]:
    """One recognizer actor per live node, on that node; it takes the node's GPU if there is one."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actors = {}
    for node in ray.nodes():
        if not node["Alive"]:
            continue
        node_id = str(node["NodeID"])
        actors[node_id] = (
            ray.remote(RecognizerActor)
            .options(
                name=actor_name(node_id),
                num_cpus=0,
                num_gpus=1 if node["Resources"].get("GPU", 0) >= 1 else 0,
                max_concurrency=64,
                max_restarts=-1,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node_id, soft=False),
            )
            .remote(settings)
        )
    return actors


def node_recognizer(ray: Any, node_id: str, timeout: float) -> RemoteSession | None:
    """This node's recognizer, if the control actor started one here (a node that joined later has none)."""
    try:
        return RemoteSession(ray.get_actor(actor_name(node_id), namespace="openlfr"), timeout)
    except ValueError:
        log.warning("no shared recognizer on node %s: this camera runs its own", node_id[:8])
        return None
