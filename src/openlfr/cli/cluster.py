"""`openlfr cluster …`: Ray nodes for many cameras, and a deployment's cameras run across them."""

from __future__ import annotations

import subprocess
import time
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from openlfr.cli.common import cli_errors, err, open_governance, out
from openlfr.cli.identity import acting

cluster_app = typer.Typer(help="Run a deployment's cameras across the machines of a Ray cluster.")


@cluster_app.command("start")
@cli_errors
def cluster_start(
    head: Annotated[bool, typer.Option("--head", help="Start the head node (store, keys, control).")] = False,
    address: Annotated[str | None, typer.Option(help="Join the head node at host:port.")] = None,
    port: Annotated[int, typer.Option(help="The head node's port.")] = 6379,
    node_ip: Annotated[str | None, typer.Option(help="This machine's address in the cluster.")] = None,
    cpus: Annotated[float | None, typer.Option(help="CPUs this node offers (default: all).")] = None,
    gpus: Annotated[float | None, typer.Option(help="GPUs this node offers (default: all).")] = None,
    block: Annotated[bool, typer.Option(help="Stay in the foreground; Ctrl-C stops the node.")] = False,
) -> None:
    """Start a Ray node with object spilling off (no biometric data to disk) and fast failure detection."""
    from openlfr.cluster.nodes import ray_start_command, require_ray

    require_ray()
    command = ray_start_command(
        head=head, address=address, port=port, node_ip=node_ip, num_cpus=cpus, num_gpus=gpus, block=block
    )
    raise typer.Exit(subprocess.call(command))


@cluster_app.command("stop")
@cli_errors
def cluster_stop() -> None:
    """Stop every Ray node on this machine."""
    import sys

    from openlfr.cluster.nodes import require_ray

    require_ray()
    raise typer.Exit(subprocess.call([sys.executable, "-m", "ray.scripts.scripts", "stop"]))


@cluster_app.command("run")
@cli_errors
def cluster_run(
    deployment_id: str,
    address: Annotated[
        str | None, typer.Option(help="Ray head node host:port (default cluster.address).")
    ] = None,
) -> None:
    """Run a live deployment's cameras as Ray actors until its window closes or Ctrl-C."""
    from openlfr.cluster.run import ClusterRun
    from openlfr.store.models import Deployment

    gov = open_governance()
    actor = acting(gov, "deployments.start")
    if address:
        gov.settings.cluster.address = address
    run = ClusterRun(gov, gov.full_id(Deployment, deployment_id), actor.username)
    status: dict[str, Any] = {}
    try:
        with Live(console=out, refresh_per_second=2, transient=True) as live:
            while True:
                status = run.status()
                live.update(status_table(status))
                if status["state"] == "stopped":
                    break
                time.sleep(gov.settings.cluster.status_seconds)
    except KeyboardInterrupt:
        err.print("stopping: cameras stop, queued alerts are written")
        status = run.stop()
    if status:
        out.print(status_table(status))
    out.print(f"deployment {status.get('deployment')}: {status.get('state')} ({status.get('reason')})")


def status_table(status: dict[str, Any]) -> Table:
    """One row per camera: where it runs, its state and rates, and how often it moved."""
    table = Table(
        "camera",
        "node",
        "state",
        "decoder",
        "decode fps",
        "fps",
        "faces",
        "alerts",
        "restarts",
        title=f"{status['deployment']}: {status['state']}, {status['alerts_written']} alerts stored",
    )
    for name, camera in sorted(status["cameras"].items()):
        metrics = camera.get("metrics", {})
        table.add_row(
            name,
            str(camera.get("node_id", "?"))[:8],
            str(camera.get("state", "starting")),
            str(camera.get("decoder", "")),
            str(camera.get("decode_fps", "")),
            str(metrics.get("processed_fps", "")),
            str(metrics.get("faces", "")),
            str(camera.get("alerts_sent", "")),
            str(status["restarts"].get(name, 0)),
        )
    return table


def register(app: typer.Typer) -> None:
    app.add_typer(cluster_app, name="cluster")
