"""Evaluation throughput: images/s embedded without and with the encrypted cache, and the
pipeline's time as a ratio to the bare forward passes measured on the same images.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from benchmarks.common import hardware, save
from benchmarks.live import SHARED
from openlfr.evaluation.datasets import Embedder, read_labels
from openlfr.models import sample_image_paths
from openlfr.settings import load_settings
from openlfr.store.crypto import new_key
from openlfr.vision import FaceAnalyzer

console = Console()


def images(limit: int) -> list[Path]:
    labels = SHARED / "lfw" / "labels.csv"
    if labels.is_file():
        return read_labels(labels).paths[:limit]
    console.print("[yellow]LFW not found: timing the package photos instead[/]")
    return list(sample_image_paths().values()) * (limit // 3)


def bare_forward_seconds(analyzer: FaceAnalyzer, paths: list[Path]) -> float:
    """Detector forward on each image plus recognizer forward on its face and mirror, nothing else."""
    detector, embedder = analyzer.detector, analyzer.embedder
    blobs = [detector.preprocess([analyzer.load(p)])[0] for p in paths]
    crop_blob = embedder.network_input(np.zeros((2, 112, 112, 3), np.uint8))
    start = time.perf_counter()
    for blob in blobs:
        detector.network(blob)
        embedder.forward(crop_blob)
    return time.perf_counter() - start


def run(limit: int = 400) -> dict[str, Any]:
    info = hardware()
    console.print(f"[bold]hardware:[/] {info}")
    analyzer = FaceAnalyzer(load_settings())
    paths = images(limit)
    with tempfile.TemporaryDirectory() as folder:
        embedder = Embedder(analyzer, Path(folder), new_key())
        start = time.perf_counter()
        embedder.embed("bench", paths)
        uncached = time.perf_counter() - start
        start = time.perf_counter()
        embedder.embed("bench", paths)
        cached = time.perf_counter() - start
    bare = bare_forward_seconds(analyzer, paths)
    results = {
        "hardware": info,
        "images": len(paths),
        "uncached_images_per_s": len(paths) / uncached,
        "cached_images_per_s": len(paths) / cached,
        "cached_speedup": uncached / cached,
        "pipeline_over_bare_forward": uncached / bare,
        "full_lfw_minutes_estimate": 7701 / (len(paths) / uncached) / 60,
    }
    console.print(
        f"{len(paths)} images: {results['uncached_images_per_s']:.1f}/s uncached, "
        f"{results['cached_images_per_s']:.0f}/s cached ({results['cached_speedup']:.0f}× faster); "
        f"the uncached pipeline takes {results['pipeline_over_bare_forward']:.2f}× the bare forward passes; "
        f"a full LFW run ≈ {results['full_lfw_minutes_estimate']:.1f} min"
    )
    console.print(f"saved {save('evaluation', results)}")
    return results


if __name__ == "__main__":
    run()
