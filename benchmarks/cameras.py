"""Cameras per CPU: how many 1080p/25 cameras the live engine keeps up with, before and after.

In one run, on the 1080p crowd clip looped as paced live cameras (1, 2 and 3 at once):
- **before**: every decoded frame converted to BGR in full as the reader gets it (the reader as
  it was), the detector letterboxing that, on every frame;
- **lazy**: frames stay as decoded until looked at, the decoder's scaler makes the detector's
  picture, and the whole frame is converted only when there are faces to cut out;
- **lazy + detect_interval** 0.08, 0.1 and 0.16 s: the detector looks at every second, third or fourth frame;
  and 0.1 s with one ONNX Runtime thread per call instead of two.

Each row is processed frames/s ÷ the source's 25 (1.00 = real time), with capture-to-processed
and capture-to-alert latency. The limits are measured in the same run: decoding alone, decoding
with the conversion, and decoding with the conversion and the bare detector forward pass. Then
the same clip, processed frame by frame without pacing, shows what each setting costs in hits:
faces, tracks, embeddings and alerts.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.common import hardware, save
from benchmarks.live import crowd_clip, run_cameras, stand_in_gallery
from openlfr.settings import load_settings
from openlfr.video import parse_source, sources
from openlfr.video.frames import DecodedPixels
from openlfr.vision import FaceAnalyzer

console = Console()
CONFIGS = {  # label: (convert every frame as read, detect_interval, intra-op threads)
    "before (convert every frame, detect every frame)": (True, 0.0, 2),
    "lazy conversion, detect every frame": (False, 0.0, 2),
    "lazy conversion, detect_interval 0.08 s": (False, 0.08, 2),
    "lazy conversion, detect_interval 0.1 s": (False, 0.1, 2),
    "lazy conversion, detect_interval 0.1 s, 1 intra-op thread": (False, 0.1, 1),
    "lazy conversion, detect_interval 0.16 s": (False, 0.16, 2),
}


@contextmanager
def eager_conversion(enabled: bool):
    """The reader as it was: each decoded frame converted to BGR in full at once."""
    lazy = sources.decoded_pixels
    if enabled:
        sources.decoded_pixels = lambda frame: sources.bgr_pixels(frame)  # type: ignore[assignment]
    try:
        yield
    finally:
        sources.decoded_pixels = lazy


def limits(analyzer: FaceAnalyzer, clip: str, seconds: float = 6.0) -> dict[str, float]:
    """Frames/s of one connection: decoding alone, with the conversion, and with the detector."""
    rates = {}
    for label in ("decode only", "decode + full conversion", "decode + scaled conversion + bare detector"):
        stop, count, start = threading.Event(), 0, time.perf_counter()
        for frame in sources.open_frames(parse_source(clip, lossless=True), stop):
            pixels = frame.pixels
            if label == "decode + full conversion" and isinstance(pixels, DecodedPixels):
                pixels.host()
            elif label.endswith("bare detector"):
                analyzer.detector.network(
                    analyzer.detector.network_input(analyzer.detector.letterbox([pixels])[0])
                )
            count += 1
            if time.perf_counter() - start > seconds:
                break
        rates[label] = count / (time.perf_counter() - start)
    return rates


def hits(analyzer: FaceAnalyzer, gallery, clip, interval: float) -> dict[str, int]:
    from openlfr.evaluation.trial import run_live

    live = analyzer.settings.live.model_copy(update={"detect_interval": interval})
    alerts, metrics, _ = run_live(analyzer, clip, gallery, live, True)
    return {key: metrics[key] for key in ("frames", "faces", "tracks", "embeddings")} | {
        "alerts": len(alerts)
    }


def run(seconds: float = 10.0, most: int = 3) -> dict[str, Any]:
    info = hardware()
    console.print(f"[bold]hardware:[/] {info}")
    analyzer = FaceAnalyzer(load_settings())
    clip = crowd_clip()
    gallery = stand_in_gallery(analyzer, clip)
    results: dict[str, Any] = {"hardware": info, "limits_fps": limits(analyzer, str(clip)), "rows": {}}
    for label, rate in results["limits_fps"].items():
        console.print(
            f"limit, one 1080p connection, {label}: {rate:.1f} frames/s ({rate / 25:.2f}× real time)"
        )
    table = Table(
        title="1080p/25 cameras on this machine: processed ÷ 25 fps per camera", title_justify="left"
    )
    for column in ("configuration", "cameras", "each ÷ real time", "frame p95 ms", "alert p95 ms"):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for label, (eager, interval, threads) in CONFIGS.items():
        s = analyzer.settings
        live = s.live.model_copy(update={"detect_interval": interval})
        runtime = s.runtime.model_copy(update={"intra_op_threads": threads})
        tuned = FaceAnalyzer(s.model_copy(update={"live": live, "runtime": runtime}), analyzer.pack)
        for count in range(1, most + 1):
            with eager_conversion(eager):
                rows = run_cameras(tuned, gallery, [str(clip)] * count, seconds, loop=True, realtime=True)
            results["rows"].setdefault(label, {})[count] = rows
            ratios = "/".join(f"{r['processed_fps'] / 25:.2f}" for r in rows)
            table.add_row(
                label,
                str(count),
                ratios,
                str(max(r["frame_latency_p95_ms"] or 0 for r in rows)),
                str(max(r["alert_latency_p95_ms"] or 0 for r in rows)),
            )
    console.print(table)
    results["hits"] = {
        f"{interval:g}": hits(analyzer, gallery, clip, interval) for interval in (0.0, 0.08, 0.1, 0.16)
    }
    hit_table = Table(
        title=f"what each interval finds on {clip.name}, every frame read", title_justify="left"
    )
    for column in ("detect_interval", "frames", "faces", "tracks", "embeddings", "alerts"):
        hit_table.add_column(column, justify="right")
    for interval, row in results["hits"].items():
        hit_table.add_row(
            f"{interval} s", *(str(row[k]) for k in ("frames", "faces", "tracks", "embeddings", "alerts"))
        )
    console.print(hit_table)
    save("cameras", results)
    return results
