"""Cluster scaling: total processed camera-fps on Ray with 1 and 2 nodes, against one process.

The same cameras (the 1080p crowd clip played as a real-time camera, looping) run four ways
in one run: the single-process ``LiveRunner``; camera actors on a one-node Ray cluster;
camera actors spread over a head and a worker node; and camera actors on one node sending
their frames and faces to one shared inference actor (``cluster.inference = "node"``), which
batches them. On one machine the nodes share its cores, so this measures what Ray costs, not
what a second machine adds.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.common import hardware, save
from benchmarks.live import crowd_clip, run_cameras, stand_in_gallery
from openlfr.cluster.camera import CameraActor
from openlfr.cluster.inference import start_inference
from openlfr.cluster.local import LocalCluster
from openlfr.live.alerts import CollectingSink
from openlfr.settings import Settings, load_settings
from openlfr.video import parse_source
from openlfr.vision import FaceAnalyzer
from openlfr.watchlist import Gallery

console = Console()


def on_ray(
    settings: Settings, gallery: Gallery, uris: list[str], node_cpus: list[float], seconds: float
) -> dict[str, Any]:
    """Processed fps of camera actors on a local cluster with one node per entry of ``node_cpus``."""
    with tempfile.TemporaryDirectory() as logs:
        cluster = LocalCluster(Path(logs))
        try:
            cluster.start_head(cpus=node_cpus[0])
            for i, cpus in enumerate(node_cpus[1:]):
                cluster.start_worker(cpus=cpus, name=f"worker{i + 1}")
            cluster.wait_for_nodes(len(node_cpus))
            import ray

            shared = start_inference(ray, settings) if settings.cluster.inference == "node" else {}
            ray.get([actor.ports.remote("detector") for actor in shared.values()], timeout=120)
            sink = ray.remote(CollectingSink).options(num_cpus=0).remote()
            actor = ray.remote(CameraActor).options(
                num_cpus=settings.cluster.camera_cpus, max_concurrency=4, scheduling_strategy="SPREAD"
            )
            live = settings.live.model_copy(update={"cooldown": 0.0})
            cameras = [
                actor.remote(
                    f"cam{i + 1}", parse_source(uri, loop=True, realtime=True), settings, live, gallery, sink
                )
                for i, uri in enumerate(uris)
            ]
            ray.get([camera.status.remote() for camera in cameras], timeout=120)
            time.sleep(2.0)  # warm-up, as in the single-process run
            start = ray.get([camera.status.remote() for camera in cameras])
            time.sleep(seconds)
            end = ray.get([camera.status.remote() for camera in cameras])
            batches = [ray.get(actor.stats.remote()) for actor in shared.values()]
            ray.get([camera.stop.remote() for camera in cameras], timeout=30)
        finally:
            cluster.stop()
    fps = [
        (e["metrics"]["frames"] - s["metrics"]["frames"]) / seconds for s, e in zip(start, end, strict=True)
    ]
    used = len({e["node_id"] for e in end})
    return {"processed_fps": fps, "total_fps": sum(fps), "nodes_used": used} | (
        {"shared_inference_batches": batches} if batches else {}
    )


def run(seconds: float = 20.0, cameras: int = 2) -> dict[str, Any]:
    info = hardware()
    console.print(f"[bold]hardware:[/] {info}")
    settings = load_settings(runtime={"intra_op_threads": 1})
    analyzer = FaceAnalyzer(settings)
    crowd = crowd_clip()
    gallery = stand_in_gallery(analyzer, crowd).templates_only()
    uris = [str(crowd)] * cameras
    single = run_cameras(analyzer, gallery, uris, seconds, loop=True, realtime=True)
    results: dict[str, Any] = {
        "hardware": info,
        "cameras": cameras,
        "video": crowd.name,
        "single_process": {"processed_fps": [r["processed_fps"] for r in single]},
    }
    results["single_process"]["total_fps"] = sum(results["single_process"]["processed_fps"])
    results["ray_1_node"] = on_ray(settings, gallery, uris, [float(cameras)], seconds)
    results["ray_2_nodes"] = on_ray(settings, gallery, uris, [cameras / 2, cameras / 2], seconds)
    node_inference = settings.model_copy(
        update={"cluster": settings.cluster.model_copy(update={"inference": "node"})}
    )
    results["ray_1_node_shared"] = on_ray(node_inference, gallery, uris, [float(cameras)], seconds)
    baseline = results["single_process"]["total_fps"]
    table = Table(
        "configuration", "nodes used", "total camera-fps", "× single process", title=f"{cameras} cameras"
    )
    for key, label in (
        ("single_process", "one process"),
        ("ray_1_node", "Ray, 1 node"),
        ("ray_2_nodes", "Ray, 2 nodes"),
        ("ray_1_node_shared", "Ray, 1 node, one inference actor batching both cameras"),
    ):
        row = results[key]
        row["ratio_to_single_process"] = row["total_fps"] / baseline if baseline else 0.0
        table.add_row(
            label,
            str(row.get("nodes_used", 1)),
            f"{row['total_fps']:.1f}",
            f"{row['ratio_to_single_process']:.2f}",
        )
    console.print(table)
    console.print(f"saved {save('cluster', results)}")
    return results


if __name__ == "__main__":
    run()
