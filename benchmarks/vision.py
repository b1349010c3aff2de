"""Recognition core: our pipeline against the bare ONNX Runtime forward passes, in the same run.

The ratio column shows what our pre- and post-processing (letterbox, decode, NMS,
alignment, normalisation) add on top of the networks themselves.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import hardware, median_ms, paired_median_ms, save
from openlfr.models import sample_image_paths
from openlfr.settings import load_settings
from openlfr.vision import FaceAnalyzer, load_image
from openlfr.vision.align import align_faces
from openlfr.vision.tensors import to_nchw


def frame_720p() -> np.ndarray:
    """The team photo fitted into a 1280×720 frame: 16 usable faces plus small crowd faces."""
    players = load_image(sample_image_paths()["players"])
    scale = min(1280 / players.shape[1], 720 / players.shape[0])
    resized = cv2.resize(players, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[: resized.shape[0], : resized.shape[1]] = resized
    return frame


def measure(analyzer: FaceAnalyzer, repeats: int) -> dict[str, Any]:
    """All timings for one analyzer configuration."""
    frame = frame_720p()
    rows: dict[str, Any] = {}
    for size, fit in ((320, True), (640, True), (640, False)):
        detector_settings = analyzer.settings.detector.model_copy(
            update={"input_size": (size, size), "fit_aspect": fit}
        )
        detector = FaceAnalyzer(analyzer.settings.model_copy(update={"detector": detector_settings})).detector
        blob, _ = detector.preprocess([frame])
        w, h = detector.network_size([frame])
        rows[f"detector {w}×{h} input{'' if fit else ' (square, no aspect fit)'} (ms/frame)"] = (
            paired_median_ms(
                lambda d=detector: d.detect(frame), lambda d=detector, b=blob: d.network(b), repeats
            )
        )

    frames = [frame] * 4
    blob4, _ = analyzer.detector.preprocess(frames)
    full, forward = paired_median_ms(
        lambda: analyzer.detector.detect_batch(frames), lambda: analyzer.detector.network(blob4), repeats
    )
    rows["detector batch 4 (ms/frame)"] = (full / 4, forward / 4)

    detections = analyzer.detect(frame)
    crops = analyzer.align(frame, detections)
    embedder = analyzer.embedder
    for batch in (1, 8):
        chunk = np.repeat(crops[:1], batch, axis=0) if len(crops) < batch else crops[:batch]
        blob = embedder.network_input(chunk)
        full, forward = paired_median_ms(
            lambda c=chunk: embedder.embed(c), lambda b=blob: embedder.forward(b), repeats
        )
        rows[f"recognizer batch {batch} (ms/face)"] = (full / batch, forward / batch)

    align_ms = median_ms(lambda: analyzer.align(frame, detections), repeats) / len(detections)
    rows["alignment (ms/face)"] = (align_ms, None)

    det_blob, _ = analyzer.detector.preprocess([frame])
    rec_blob = embedder.network_input(crops)

    def bare() -> None:
        analyzer.detector.network(det_blob)
        for start in range(0, len(rec_blob), embedder.batch_size):
            embedder.forward(rec_blob[start : start + embedder.batch_size])

    rows[f"end to end 1280×720, {len(detections)} faces (ms/frame)"] = paired_median_ms(
        lambda: analyzer.analyze(frame), bare, max(5, repeats // 3)
    )
    return {"faces_in_frame": len(detections), "rows": rows}


def detect_together(detector: Any, frame: np.ndarray, cameras: int, seconds: float) -> float:
    """Frames/s of ``cameras`` threads calling ``detector.detect`` as fast as they can."""
    counts = [0] * cameras
    stop = threading.Event()

    def camera(i: int) -> None:
        while not stop.is_set():
            detector.detect(frame)
            counts[i] += 1

    threads = [threading.Thread(target=camera, args=(i,)) for i in range(cameras)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - start)


def cameras_sharing_the_detector(settings: Any, cameras: int = 4, seconds: float = 6.0) -> dict[str, Any]:
    """Frames/s of ``cameras`` threads detecting at once, with cross-camera batching against without.

    The baseline (batching off) runs in the same run. As in the live engine, the cameras of a
    process share one analyzer and so one detector. Every batch size a GPU session can run at
    (powers of two up to ``cameras``) is run once first, so that cuDNN's planning and CUDA
    graph captures fall outside the timing.
    """
    frame = frame_720p()
    measured: dict[str, Any] = {}
    for label, wait_ms in (("one at a time", 0.0), ("batched, 2 ms wait", 2.0)):
        detector_settings = settings.detector.model_copy(update={"batch_wait_ms": wait_ms})
        detector = FaceAnalyzer(settings.model_copy(update={"detector": detector_settings})).detector
        for size in (1 << k for k in range(max(cameras - 1, 0).bit_length() + 1)):
            detector.network(detector.network_input(detector.letterbox([frame] * size)[0]))
        frames_per_s = detect_together(detector, frame, cameras, seconds)
        batches = sum(b.batches for b in detector.batchers.values())
        rows = sum(b.rows for b in detector.batchers.values())
        measured[label] = {"frames_per_s": frames_per_s, "mean_batch": rows / batches if batches else 1.0}
    base = measured["one at a time"]["frames_per_s"]
    for row in measured.values():
        row["ratio"] = row["frames_per_s"] / base
    return {"cameras": cameras, "rows": measured}


def strided_numpy_scaling(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """The plain-numpy input scaling (strided colour planes) that ``to_nchw`` replaced: its baseline."""
    blob = np.empty((images.shape[0], 3, *images.shape[1:3]), np.float32)
    for plane, channel in enumerate((2, 1, 0)):
        np.subtract(images[..., channel], np.float32(mean), out=blob[:, plane], dtype=np.float32)
    np.multiply(blob, np.float32(1.0 / std), out=blob)
    return blob


def input_scaling(analyzer: FaceAnalyzer, repeats: int) -> dict[str, float]:
    """ms to scale one letterboxed 720p frame and 16 crops into float32 NCHW, each with its own
    model's scaling: ours against numpy."""
    canvas, _ = analyzer.detector.letterbox([frame_720p()])
    crops = np.zeros((16, 112, 112, 3), np.uint8)
    rows = {}
    cases = (
        ("one 640×384 frame", canvas, analyzer.detector),
        ("16 crops of 112×112", crops, analyzer.embedder),
    )
    for label, images, model in cases:
        mean, std = model.scaling.mean, model.scaling.std
        ours, numpy_ms = paired_median_ms(
            lambda i=images, m=mean, s=std: to_nchw(i, m, s),
            lambda i=images, m=mean, s=std: strided_numpy_scaling(i, m, s),
            repeats,
        )
        rows[label] = {"ours_ms": ours, "numpy_ms": numpy_ms, "ratio": ours / numpy_ms}
    return rows


def frame_preparation_in_pytorch(analyzer: FaceAnalyzer, repeats: int) -> dict[str, float | str]:
    """ms to letterbox a 1080p frame and align its faces: in PyTorch on this CPU (what
    ``live.frames_on_device`` runs, there on a GPU) against OpenCV. It says what the option costs
    on a machine without a GPU; its GPU figures come from ``benchmarks.gpu_check``."""
    try:
        import torch
    except ImportError as exc:
        return {"not measured": str(exc)}
    frame = cv2.resize(frame_720p(), (1920, 1080), interpolation=cv2.INTER_LINEAR)
    landmarks = analyzer.detect(frame).landmarks
    size = analyzer.crop_size

    def prepare(image: Any) -> None:
        analyzer.detector.letterbox([image])
        align_faces(image, landmarks, size)

    on_torch = torch.from_numpy(frame)
    ours, opencv = paired_median_ms(lambda: prepare(on_torch), lambda: prepare(frame), repeats)
    return {"faces": len(landmarks), "pytorch_ms": ours, "opencv_ms": opencv, "ratio": ours / opencv}


def run(repeats: int = 30) -> dict[str, Any]:
    console = Console()
    info = hardware()
    settings = load_settings()
    console.print(f"[bold]hardware:[/] {info}")
    results: dict[str, Any] = {"hardware": info, "configs": {}}
    configs = {
        "2 threads, no spinning (default)": settings.runtime.model_copy(
            update={"intra_op_threads": 2, "allow_spinning": False}
        ),
        "2 threads, spinning": settings.runtime.model_copy(
            update={"intra_op_threads": 2, "allow_spinning": True}
        ),
        "1 thread": settings.runtime.model_copy(update={"intra_op_threads": 1, "allow_spinning": False}),
    }
    for label, runtime in configs.items():
        analyzer = FaceAnalyzer(settings.model_copy(update={"runtime": runtime}))
        measured = measure(analyzer, repeats if "default" in label else max(5, repeats // 3))
        table = Table(title=f"recognition core — {label}", title_justify="left")
        table.add_column("stage")
        table.add_column("ours (ms)", justify="right")
        table.add_column("bare forward (ms)", justify="right")
        table.add_column("ours / bare", justify="right")
        for stage, (ours, forward) in measured["rows"].items():
            ratio = f"{ours / forward:.2f}×" if forward else "–"
            table.add_row(stage, f"{ours:.2f}", f"{forward:.2f}" if forward else "–", ratio)
        console.print(table)
        results["configs"][label] = {
            stage: {"ours_ms": ours, "bare_ms": forward, "ratio": (ours / forward if forward else None)}
            for stage, (ours, forward) in measured["rows"].items()
        }
    results["input_scaling"] = scaling = input_scaling(FaceAnalyzer(settings), repeats * 5)
    for label, row in scaling.items():
        console.print(
            f"input scaling, {label}: {row['ours_ms']:.2f} ms against numpy's {row['numpy_ms']:.2f} "
            f"({row['ratio']:.2f}×)"
        )
    results["frame_preparation_in_pytorch"] = prepared = frame_preparation_in_pytorch(
        FaceAnalyzer(settings), repeats
    )
    if "ratio" in prepared:
        console.print(
            f"1080p letterbox and {prepared['faces']} alignments in PyTorch on this CPU: "
            f"{prepared['pytorch_ms']:.2f} ms against OpenCV's {prepared['opencv_ms']:.2f} "
            f"({prepared['ratio']:.2f}×)"
        )
    shared = cameras_sharing_the_detector(settings)
    results["cameras_sharing_the_detector"] = shared
    for label, row in shared["rows"].items():
        console.print(
            f"{shared['cameras']} cameras, one detector, {label}: {row['frames_per_s']:.1f} frames/s "
            f"({row['ratio']:.2f}× one at a time), mean batch {row['mean_batch']:.1f}"
        )
    default = results["configs"]["2 threads, no spinning (default)"]
    e2e_key = next(k for k in default if k.startswith("end to end"))
    for label in configs:
        ms = results["configs"][label][e2e_key]["ours_ms"]
        console.print(
            f"end-to-end {label}: {ms:.1f} ms/frame = {ms / default[e2e_key]['ours_ms']:.2f}× the default"
        )
    path = save("vision", results)
    console.print(f"saved {path}")
    return results


if __name__ == "__main__":
    run()
