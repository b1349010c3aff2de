"""The built-in model packs side by side: what each costs per frame and per face, in the same run.

Every pack analyses the same 1280×720 frame (the team photo) and the same aligned faces, with
the calls of one pack alternated with the reference pack's (buffalo_s) so that both see the same
machine noise; the ratio column is pack / buffalo_s. Then each pack's recognizer as openlfr
loads it, PReLU unrolled (``openlfr.models.activations``), against the model as shipped.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import hardware, paired_median_ms, save, shipped_prelu
from benchmarks.vision import frame_720p
from openlfr.models.pack import BUILTIN_PACKS
from openlfr.settings import load_settings
from openlfr.vision import FaceAnalyzer

REFERENCE = "buffalo_s"


def stages(analyzer: FaceAnalyzer, frame: np.ndarray, crops: np.ndarray) -> dict[str, Any]:
    """One call per stage, each over the same inputs whatever the pack."""
    return {
        "detector, 1280×720 frame (ms/frame)": lambda: analyzer.detect(frame),
        "recognizer, one face (ms/face)": lambda: analyzer.embedder.embed(crops[:1]),
        "recognizer, batch of 8 (ms/face)": lambda: analyzer.embedder.embed(crops[:8]),
        "detect, align, assess and embed every face it finds (ms/frame)": lambda: analyzer.analyze(frame),
    }


def run(repeats: int = 20) -> dict[str, Any]:
    console = Console()
    info = hardware()
    console.print(f"[bold]hardware:[/] {info}")
    frame = frame_720p()
    reference = FaceAnalyzer(load_settings(model_pack=REFERENCE))
    found = reference.detect(frame)
    crops = reference.align(frame, found[np.argsort(-found.scores)[:8]])  # the same faces for every pack
    base = stages(reference, frame, crops)
    results: dict[str, Any] = {"hardware": info, "reference": REFERENCE, "packs": {}}
    table = Table(title="model packs, same run (ratio: pack / buffalo_s)", title_justify="left")
    for column in ("pack", "stage", "ms", "buffalo_s ms", "ratio"):
        table.add_column(column, justify="left" if column in ("pack", "stage") else "right")
    for name in BUILTIN_PACKS:
        analyzer = reference if name == REFERENCE else FaceAnalyzer(load_settings(model_pack=name))
        rows = {}
        for stage, call in stages(analyzer, frame, crops).items():
            ours, theirs = paired_median_ms(call, base[stage], repeats)
            if "batch of 8" in stage:
                ours, theirs = ours / 8, theirs / 8
            rows[stage] = {"ms": ours, "reference_ms": theirs, "ratio": ours / theirs}
            table.add_row(name, stage, f"{ours:.2f}", f"{theirs:.2f}", f"{ours / theirs:.2f}×")
        rows["faces_found_in_frame"] = found_here = len(analyzer.detect(frame))
        table.add_row(name, "faces found in the frame", str(found_here), str(len(found)), "")
        results["packs"][name] = rows
    console.print(table)
    results["prelu"] = prelu_unrolled(crops, repeats)
    save("packs", results)
    return results


def prelu_unrolled(crops: np.ndarray, repeats: int) -> dict[str, Any]:
    """Each pack's recognizer with its PReLU unrolled (as openlfr loads it) against as shipped."""
    table = Table(title="recognizers: PReLU unrolled / as shipped, same run", title_justify="left")
    for column in ("pack", "faces per call", "unrolled ms/face", "shipped ms/face", "ratio"):
        table.add_column(column, justify="left" if column == "pack" else "right")
    rows: dict[str, Any] = {}
    for name in BUILTIN_PACKS:
        settings = load_settings(model_pack=name)
        unrolled = FaceAnalyzer(settings).embedder
        with shipped_prelu():
            shipped = FaceAnalyzer(settings).embedder
        for size in (1, 8):
            batch = crops[:size]
            ours, theirs = paired_median_ms(
                functools.partial(unrolled.embed, batch), functools.partial(shipped.embed, batch), repeats
            )
            rows[f"{name}, {size}"] = {"unrolled_ms": ours / size, "shipped_ms": theirs / size}
            table.add_row(
                name, str(size), f"{ours / size:.2f}", f"{theirs / size:.2f}", f"{ours / theirs:.2f}×"
            )
    Console().print(table)
    return rows
