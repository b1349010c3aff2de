"""A Ray cluster of several nodes on this one machine, on 127.0.0.1: for trying cluster mode,
for the failover test and for the scaling benchmark. Each node is its own ``ray start --block``
in its own process group, so killing one behaves like losing a machine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from openlfr.cluster.nodes import connect, ray_start_command, require_ray

OBJECT_STORE = 80 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalCluster:
    """A head node and any number of worker nodes; ``kill(name)`` is a machine lost without warning."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _start(self, name: str, command: list[str]) -> None:
        log = (self.logs / f"ray-{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def _command(self, cpus: float, **where: Any) -> list[str]:
        return ray_start_command(
            node_ip="127.0.0.1", num_cpus=cpus, object_store_bytes=OBJECT_STORE, block=True, **where
        )

    def start_head(self, cpus: float) -> None:
        self._start("head", self._command(cpus, head=True, port=self.port))

    def start_worker(self, cpus: float, name: str = "worker") -> None:
        self._start(name, self._command(cpus, head=False, address=self.address))

    def wait_for_nodes(self, count: int, limit: float = 90.0) -> None:
        """Connect this process as a driver and wait until ``count`` nodes are alive."""
        ray = connect(self.address, "127.0.0.1")
        deadline = time.monotonic() + limit
        while sum(node["Alive"] for node in ray.nodes()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{count} Ray nodes did not come up within {limit:.0f} s (logs in {self.logs})"
                )
            time.sleep(0.25)

    def kill(self, name: str) -> None:
        """SIGKILL the node's whole process group: its raylet and workers vanish at once."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        """Disconnect the driver and stop every node gracefully (forcefully if one hangs)."""
        ray = require_ray()
        ray.shutdown()
        for name in list(self.processes):
            process = self.processes.pop(name)
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.5)
