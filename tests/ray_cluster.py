"""A real two-node Ray cluster on 127.0.0.1: a head and a worker, each its own `ray start --block`."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from openlfr.cluster.nodes import ray_start_command
from tests.rtsp import free_port

OBJECT_STORE = 80 * 1024 * 1024


class RayNodes:
    """Starts the nodes in their own process groups, so one can be killed like a lost machine."""

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

    def start_head(self, cpus: float) -> None:
        common = {"node_ip": "127.0.0.1", "num_cpus": cpus, "object_store_bytes": OBJECT_STORE, "block": True}
        self._start("head", ray_start_command(head=True, port=self.port, **common))

    def start_worker(self, cpus: float) -> None:
        common = {"node_ip": "127.0.0.1", "num_cpus": cpus, "object_store_bytes": OBJECT_STORE, "block": True}
        self._start("worker", ray_start_command(head=False, address=self.address, **common))

    def kill(self, name: str) -> None:
        """SIGKILL the node's whole process group: its raylet and workers vanish at once."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.5)
