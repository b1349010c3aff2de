"""Cameras per CPU: how many cameras the live engine keeps up with, before and after, in one run.

The 1080p crowd clip is looped as paced live cameras (1 to 4 at once) under each step of the
change, cumulatively:
- **before**: every decoded frame converted to BGR in full as the reader gets it, the detector
  letterboxing that on every frame, the recognizers' PReLU as shipped, and only the newest frame
  kept for the engine (``live.max_frame_lag`` 0);
- **+ lazy conversion**: frames stay as decoded until looked at; the decoder's scaler makes the
  detector's picture; the whole frame is converted only when there are faces to cut out;
- **+ detect_interval 0.1 s**: the detector looks at every third frame of a 25 fps camera;
- **+ PReLU unrolled**: the recognizer's PReLU as three vectorised kernels (``models.activations``);
- **+ max_frame_lag 0.2 s**: frames wait for the engine instead of being overwritten;
- **+ slice-threaded decoding**: a camera's decoder hands out each frame as soon as it is
  decoded, not a frame per frame thread late;
- **+ one thread per call once cameras fill the cores**: the engines' models run on one ONNX
  Runtime thread per call where a run has as many cameras as cores (the defaults);
- and the defaults with the faces of all cameras batched into one recognizer pass.

Each row is processed frames/s ÷ the source's rate (1.00 = real time), with the process's CPU
use and capture-to-processed and capture-to-alert latency. Then the most 720p/10 cameras held in
real time (every camera at 0.95× or more), before and after. The limits are measured in the
same run: decoding alone, with the full conversion, and with the scaled conversion and the bare
detector. The per-stage profile runs one camera frame by frame with the defaults. Last, the
clip processed frame by frame without pacing shows what each detect_interval costs in hits.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.common import hardware, save, shipped_prelu
from benchmarks.live import crowd_clip, run_cameras, stand_in_gallery, transcode
from openlfr.live.alerts import CollectingSink
from openlfr.live.metrics import STAGES
from openlfr.live.runner import LiveRunner
from openlfr.settings import load_settings
from openlfr.video import parse_source, sources
from openlfr.video.frames import DecodedPixels
from openlfr.vision import FaceAnalyzer

console = Console()
HELD = 0.95  # a camera is held when it processes at least this share of its frames


@dataclass(frozen=True)
class Step:
    eager: bool  # every frame converted to BGR in full as it is read
    interval: float  # live.detect_interval
    unrolled: bool  # the recognizer's PReLU unrolled (models.activations)
    lag: float  # live.max_frame_lag
    frame_threads: bool = False  # cameras decoded with FFmpeg's frame threads, as files are
    engine_threads: int | None = 2  # live.engine_threads (None: one once the cameras fill the cores)
    batch_wait_ms: float = 0.0  # recognition.batch_wait_ms: faces of all cameras in one forward pass


STEPS = {
    "before": Step(True, 0.0, False, 0.0, frame_threads=True),
    "+ lazy conversion": Step(False, 0.0, False, 0.0, frame_threads=True),
    "+ detect_interval 0.1 s": Step(False, 0.1, False, 0.0, frame_threads=True),
    "+ PReLU unrolled": Step(False, 0.1, True, 0.0, frame_threads=True),
    "+ max_frame_lag 0.2 s": Step(False, 0.1, True, 0.2, frame_threads=True),
    "+ slice-threaded decoding": Step(False, 0.1, True, 0.2),
    "+ one thread per call once cameras fill the cores (defaults)": Step(
        False, 0.1, True, 0.2, engine_threads=None
    ),
    "defaults, faces of all cameras batched (3 ms)": Step(
        False, 0.1, True, 0.2, engine_threads=None, batch_wait_ms=3.0
    ),
}
BEFORE, AFTER = "before", "+ one thread per call once cameras fill the cores (defaults)"


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


@contextmanager
def frame_threads(enabled: bool):
    """Cameras decoded as files are, with FFmpeg's frame threads."""
    chosen = sources.decoder_threads
    if enabled:
        sources.decoder_threads = lambda spec, pixels: "AUTO"  # type: ignore[assignment]
    try:
        yield
    finally:
        sources.decoder_threads = chosen


def analyzer_for(base: FaceAnalyzer, step: str) -> FaceAnalyzer:
    chosen, s = STEPS[step], base.settings
    live = {
        "detect_interval": chosen.interval,
        "max_frame_lag": chosen.lag,
        "engine_threads": chosen.engine_threads,
    }
    updates = {
        "live": s.live.model_copy(update=live),
        "recognition": s.recognition.model_copy(update={"batch_wait_ms": chosen.batch_wait_ms}),
    }
    with shipped_prelu(not chosen.unrolled):
        return FaceAnalyzer(s.model_copy(update=updates), base.pack)


def paced(analyzer: FaceAnalyzer, step: str, gallery, clip: Path, count: int, seconds: float) -> dict:
    """``count`` paced cameras of ``clip`` under ``step``: per-camera rows and the process's cores."""
    with eager_conversion(STEPS[step].eager), frame_threads(STEPS[step].frame_threads):
        before = os.times()
        rows = run_cameras(analyzer, gallery, [str(clip)] * count, seconds, loop=True, realtime=True)
        after = os.times()
    used = (after.user + after.system - before.user - before.system) / (seconds + 2.0)
    return {"cameras": rows, "cores": round(used, 2)}


def ratios(run: dict, fps: float) -> list[float]:
    return [row["processed_fps"] / fps for row in run["cameras"]]


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


def stage_profile(analyzer: FaceAnalyzer, gallery, clip: Path) -> dict[str, float]:
    """Milliseconds per frame of each engine stage, one camera, every frame, the defaults."""
    live = analyzer.settings.live.model_copy(update={"cooldown": 0.0})
    runner = LiveRunner(
        {"cam": parse_source(str(clip), lossless=True)}, analyzer, gallery, CollectingSink(), live
    )
    started = time.perf_counter()
    runner.start()
    runner.wait()
    wall = time.perf_counter() - started
    runner.stop()
    metrics = runner.workers[0].engine.metrics
    frames = max(metrics.frames, 1)
    profile = {stage: metrics.stage_seconds[stage].total * 1000 / frames for stage in STAGES}
    profile["engine thread, all"] = wall * 1000 / frames
    return profile


def most_held(analyzer: FaceAnalyzer, step: str, gallery, clip: Path, seconds: float) -> dict[str, Any]:
    """The most cameras of ``clip`` (10 fps) that all process ≥ ``HELD`` of their frames."""
    held, tried = 0, {}
    for count in range(2, 40, 2):
        run = paced(analyzer, step, gallery, clip, count, seconds)
        tried[count] = run
        worst = min(ratios(run, 10.0))
        console.print(f"  {step}: {count} × 720p/10, worst camera {worst:.2f}× real time")
        if worst < HELD:
            break
        held = count
    if held:  # one more camera between the last even count held and the first not held
        run = paced(analyzer, step, gallery, clip, held + 1, seconds)
        tried[held + 1] = run
        if min(ratios(run, 10.0)) >= HELD:
            held += 1
    return {"held": held, "tried": tried}


def run(seconds: float = 10.0, most: int = 4) -> dict[str, Any]:
    info = hardware()
    console.print(f"[bold]hardware:[/] {info}")
    base = FaceAnalyzer(load_settings())
    clip = crowd_clip()
    gallery = stand_in_gallery(base, clip)
    results: dict[str, Any] = {"hardware": info, "limits_fps": limits(base, str(clip)), "rows": {}}
    for label, rate in results["limits_fps"].items():
        console.print(f"limit, one 1080p connection, {label}: {rate:.1f} frames/s ({rate / 25:.2f}×)")

    table = Table(title="1080p/25 cameras: processed ÷ 25 fps per camera", title_justify="left")
    for column in ("step", "cameras", "each ÷ real time", "cores used", "frame p95 ms", "alert p95 ms"):
        table.add_column(column, justify="left" if column == "step" else "right")
    analyzers = {step: analyzer_for(base, step) for step in STEPS}
    for step, analyzer in analyzers.items():
        for count in range(1, most + 1):
            run_ = paced(analyzer, step, gallery, clip, count, seconds)
            results["rows"].setdefault(step, {})[count] = run_
            rows = run_["cameras"]
            table.add_row(
                step,
                str(count),
                "/".join(f"{r:.2f}" for r in ratios(run_, 25.0)),
                f"{run_['cores']:.2f}",
                str(max(r["frame_latency_p95_ms"] or 0 for r in rows)),
                str(max(r["alert_latency_p95_ms"] or 0 for r in rows)),
            )
            console.print(f"  {step}, {count} camera(s): {ratios(run_, 25.0)}")
    console.print(table)

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        small = transcode(clip, folder / "crowd_720p10.mp4", (1280, 720), 10)
        small_gallery = stand_in_gallery(base, small)
        results["held_720p10"] = {
            step: most_held(analyzers[step], step, small_gallery, small, seconds) for step in (BEFORE, AFTER)
        }
    for step, found in results["held_720p10"].items():
        console.print(f"720p/10 cameras held in real time, {step}: {found['held']}")

    results["profile_ms_per_frame"] = stage_profile(analyzers[AFTER], gallery, clip)
    console.print("per-stage profile, one 1080p camera, every frame, defaults (ms per frame):")
    for stage, ms in results["profile_ms_per_frame"].items():
        console.print(f"  {stage}: {ms:.2f}")

    results["hits"] = {
        f"{interval:g}": hits(base, gallery, clip, interval) for interval in (0.0, 0.08, 0.1, 0.16)
    }
    hit_table = Table(
        title=f"what each interval finds on {clip.name}, every frame read", title_justify="left"
    )
    columns = ("frames", "detected_frames", "faces", "tracks", "embeddings", "alerts")
    for column in ("detect_interval", *columns, "faces per detected frame"):
        hit_table.add_column(column, justify="right")
    for interval, row in results["hits"].items():
        per_frame = row["faces"] / max(row["detected_frames"], 1)
        hit_table.add_row(f"{interval} s", *(str(row[k]) for k in columns), f"{per_frame:.2f}")
    console.print(hit_table)
    save("cameras", results)
    return results


def hits(analyzer: FaceAnalyzer, gallery, clip, interval: float) -> dict[str, int]:
    from openlfr.evaluation.trial import run_live

    live = analyzer.settings.live.model_copy(update={"detect_interval": interval})
    alerts, metrics, _ = run_live(analyzer, clip, gallery, live, True)
    counts = {key: metrics[key] for key in ("frames", "detected_frames", "faces", "tracks", "embeddings")}
    return counts | {"alerts": len(alerts)}
