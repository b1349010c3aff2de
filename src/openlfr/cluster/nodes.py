"""Starting and joining Ray nodes with the settings openlfr needs, and connecting a driver.

Two settings matter for privacy and failover. Object spilling is off: Ray would otherwise
write objects (the watchlist templates, an alert's probe crop) to local disk under memory
pressure, unencrypted. Node health is checked every second, so a dead node's cameras move
within seconds rather than half a minute.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from openlfr.errors import ConfigError

HEAD_SYSTEM_CONFIG = {
    "automatic_object_spilling_enabled": False,
    "health_check_period_ms": 1000,
    "health_check_failure_threshold": 5,
}
NAMESPACE = "openlfr"
HEAD_RESOURCE = "node:__internal_head__"


def require_ray() -> Any:
    """The ray module, or a clear error saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("cluster mode needs Ray: pip install 'openlfr[cluster]'") from exc
    return ray


def ray_start_command(
    *,
    head: bool,
    address: str | None = None,
    port: int = 6379,
    node_ip: str | None = None,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    object_store_bytes: int | None = None,
    block: bool = False,
) -> list[str]:
    """The ``ray start`` command line for a head node, or for a node joining ``address``."""
    if head == bool(address):
        raise ConfigError("give either --head or --address of the head node, not both or neither")
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--disable-usage-stats"]
    if head:
        command += [
            "--head",
            f"--port={port}",
            "--include-dashboard=false",
            f"--system-config={json.dumps(HEAD_SYSTEM_CONFIG)}",
        ]
    else:
        command.append(f"--address={address}")
    if node_ip:
        command.append(f"--node-ip-address={node_ip}")
    if num_cpus is not None:
        command.append(f"--num-cpus={num_cpus:g}")
    if num_gpus is not None:
        command.append(f"--num-gpus={num_gpus:g}")
    if object_store_bytes is not None:
        command.append(f"--object-store-memory={object_store_bytes}")
    if block:
        command.append("--block")
    return command


def connect(address: str, node_ip: str | None = None) -> Any:
    """Join the Ray cluster at ``address`` as a driver; returns the ray module."""
    ray = require_ray()
    if not ray.is_initialized():
        try:
            ray.init(
                address=address,
                _node_ip_address=node_ip,
                namespace=NAMESPACE,
                logging_level="WARNING",
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError) as exc:
            raise ConfigError(
                f"no Ray cluster at {address}: {exc} (start one with `openlfr cluster start`)"
            ) from exc
    return ray


def head_node_id(ray: Any) -> str:
    """The head node's id: the deployment's control actor lives there, next to the store and keys."""
    for node in ray.nodes():
        if node["Alive"] and HEAD_RESOURCE in node["Resources"]:
            return str(node["NodeID"])
    raise ConfigError("the Ray cluster has no live head node")
