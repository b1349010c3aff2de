"""The driver side of cluster mode: start a deployment's control actor on the head node, watch it.

The driver checks the legal gate itself first, so a refusal reads as a clear message here
rather than as a dead actor's traceback; the control actor checks it again, and keeps
checking for as long as it runs.
"""

from __future__ import annotations

from typing import Any

from openlfr.cluster.control import DeploymentControl
from openlfr.cluster.nodes import connect, head_node_id
from openlfr.errors import PolicyViolation
from openlfr.governance import deployments as dep
from openlfr.governance import runner_lease as lease
from openlfr.governance.context import Governance
from openlfr.settings import Settings
from openlfr.store.models import Deployment


class ClusterRun:
    """One deployment running on a Ray cluster, seen from the driver."""

    def __init__(self, gov: Governance, deployment_id: str, started_by: str = "cluster") -> None:
        with gov.store.session() as session:
            dep.assert_can_match(gov, gov.get(session, Deployment, deployment_id))
        held = lease.holder(gov, deployment_id)
        if held:
            raise PolicyViolation(f"deployment {deployment_id} is already running under {held}")
        settings: Settings = gov.settings
        self.ray = ray = connect(settings.cluster.address, settings.cluster.node_ip)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        head = NodeAffinitySchedulingStrategy(node_id=head_node_id(ray), soft=False)
        self.timeout = settings.cluster.call_timeout
        self.control: Any = (
            ray.remote(DeploymentControl)
            .options(num_cpus=0, max_concurrency=32, scheduling_strategy=head)
            .remote(settings, deployment_id, started_by)
        )

    def status(self) -> dict[str, Any]:
        """The control actor's view: state, each camera's node, counters and restarts."""
        return dict(self.ray.get(self.control.status.remote(), timeout=self.timeout))

    def stop(self, reason: str = "stopped by the operator") -> dict[str, Any]:
        """Stop every camera, write every acknowledged alert, then end the control actor."""
        final = dict(self.ray.get(self.control.stop.remote(reason), timeout=self.timeout * 3))
        self.ray.kill(self.control)
        return final

    def inference_stats(self) -> dict[str, dict[str, Any]]:
        """Per node and model, the shared inference actor's batches (``cluster.inference = "node"`` only)."""
        return dict(self.ray.get(self.control.inference_stats.remote(), timeout=self.timeout))

    def nodes(self) -> dict[str, bool]:
        """Node id → alive, for every node the cluster has known."""
        return {str(node["NodeID"]): bool(node["Alive"]) for node in self.ray.nodes()}
