"""One inference actor per node, shared by the node's cameras: their frames and faces batched.

With ``cluster.inference = "node"`` the control actor starts an ``InferenceActor`` on every
node (holding the node's GPU when it has one). Each camera actor on that node sends it its
letterboxed frames for detection and its aligned faces for embedding, as uint8 images (a
quarter of the bytes of float32 blobs; the actor scales them, on its GPU where it has one),
instead of loading models of its own. Concurrent calls from the node's cameras meet in a
``MicroBatcher`` per model (per input size for the detector), so a GPU sees one batch where it
would have seen many small ones. Frames and faces travel only between processes of one node
(through Ray's shared-memory object store) and are never kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import numpy as np

from openlfr.settings import Settings
from openlfr.vision.batching import MicroBatcher
from openlfr.vision.runtime import create_session, recognizer_batch_size
from openlfr.vision.sessions import ImageSession
from openlfr.vision.tensors import InputScaling
from openlfr.vision.torch_backend import Port

log = logging.getLogger(__name__)

Model = Literal["detector", "recognizer"]


def actor_name(node_id: str) -> str:
    return f"openlfr-inference-{node_id}"


class InferenceActor:
    """The pack's two networks on this node, fed by every camera on it."""

    def __init__(self, settings: Settings) -> None:
        from openlfr.models.pack import load_pack

        pack = load_pack(settings.model_pack)
        self.sessions = {
            "detector": create_session(pack.detector_model, settings.runtime),
            "recognizer": create_session(pack.recognizer_model, settings.runtime),
        }
        waits = {
            "detector": settings.detector.batch_wait_ms,
            "recognizer": settings.recognition.batch_wait_ms,
        }
        recognizer_batch = recognizer_batch_size(settings.recognition.batch_size, self.sessions["recognizer"])
        sizes = {"detector": settings.detector.max_batch, "recognizer": 4 * recognizer_batch}
        # sharing is the point of a node actor, so it batches even on the CPU unless told not to
        self.batchers: dict[tuple[str, tuple[int, ...], InputScaling], MicroBatcher] = {}
        self.wait = {m: (2.0 if w is None else w) / 1000 for m, w in waits.items()}
        self.max_batch = sizes

    def ports(self, model: Model) -> tuple[list[Port], list[Port]]:
        """The model's inputs and outputs as plain values (ONNX Runtime's own do not pickle)."""
        session = self.sessions[model]
        return (
            [Port(p.name, list(p.shape)) for p in session.get_inputs()],
            [Port(p.name, list(p.shape)) for p in session.get_outputs()],
        )

    def providers(self, model: Model) -> list[str]:
        return [f"node inference actor: {self.sessions[model].get_providers()[0]}"]

    def run_images(self, model: Model, images: np.ndarray, scaling: InputScaling) -> list[np.ndarray]:
        """All outputs for this caller's uint8 images, computed in a batch with other cameras'
        images and scaled here: on the session's device where it can."""
        key = (model, images.shape[1:], scaling)
        batcher = self.batchers.get(key)
        if batcher is None:  # setdefault is atomic: concurrent first callers end up sharing one
            batcher = self.batchers.setdefault(
                key, MicroBatcher(self._network(model, scaling), self.max_batch[model], self.wait[model])
            )
        return batcher(images)

    def _network(self, model: Model, scaling: InputScaling) -> Callable[[np.ndarray], list[np.ndarray]]:
        session = self.sessions[model]
        if isinstance(session, ImageSession):
            return partial(session.run_images, scaling=scaling)
        plain, name = session, session.get_inputs()[0].name
        return lambda images: plain.run(None, {name: scaling.blob(images)})

    def stats(self) -> dict[str, dict[str, float]]:
        """Per model: batches run, rows and mean batch size."""
        stats: dict[str, dict[str, float]] = {}
        for (model, _, _), batcher in list(self.batchers.items()):
            row = stats.setdefault(model, {"batches": 0, "rows": 0})
            row["batches"] += batcher.batches
            row["rows"] += batcher.rows
        for row in stats.values():
            row["mean_batch"] = row["rows"] / row["batches"] if row["batches"] else 0.0
        return stats


class RemoteSession:
    """Looks like an inference session to our detector and embedder, which feed it uint8
    images (``run_images``, never float blobs); runs on the node's actor."""

    def __init__(self, actor: Any, model: Model, timeout: float) -> None:
        import ray

        self.ray, self.actor, self.model, self.timeout = ray, actor, model, timeout
        self._inputs, self._outputs = ray.get(actor.ports.remote(model), timeout=timeout)
        self._providers = ray.get(actor.providers.remote(model), timeout=timeout)

    def get_inputs(self) -> list[Any]:
        return self._inputs

    def get_outputs(self) -> list[Any]:
        return self._outputs

    def get_providers(self) -> list[str]:
        return self._providers

    def run_images(self, images: np.ndarray, scaling: InputScaling) -> list[np.ndarray]:
        """uint8 images to the node's actor, which scales them: what our cameras send."""
        return self.ray.get(self.actor.run_images.remote(self.model, images, scaling), timeout=self.timeout)


def start_inference(ray: Any, settings: Settings) -> dict[str, Any]:
    """One inference actor per live node, on that node; it takes the node's GPU if there is one."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actors = {}
    for node in ray.nodes():
        if not node["Alive"]:
            continue
        node_id = str(node["NodeID"])
        actors[node_id] = (
            ray.remote(InferenceActor)
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


def node_sessions(ray: Any, node_id: str, timeout: float) -> dict[Model, RemoteSession]:
    """This node's shared models, if the control actor started an actor here (a later node has none)."""
    try:
        actor = ray.get_actor(actor_name(node_id), namespace="openlfr")
    except ValueError:
        log.warning("no inference actor on node %s: this camera runs its own models", node_id[:8])
        return {}
    return {model: RemoteSession(actor, model, timeout) for model in ("detector", "recognizer")}
