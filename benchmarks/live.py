"""Live engine throughput and latency, as ratios to decode-only throughput measured in the same run.

Runs on ../shared/data/videos when present (else on the generated demo camera):
- decode-only frames/s of each source;
- 1, 2 and 4 simultaneous paced cameras of the 1080p crowd clip: processed fps, dropped
  frames, p50/p95 capture-to-alert and capture-to-processed latency;
- the largest number of 720p cameras held at 10 fps;
- the same camera over a real RTSP server;
- tracking against the frame-by-frame baseline: embeddings and alerts.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
from rich.console import Console
from rich.table import Table

from benchmarks.common import hardware, save
from openlfr.live.alerts import CollectingSink
from openlfr.live.runner import LiveRunner
from openlfr.settings import load_settings
from openlfr.video import parse_source
from openlfr.video.sources import bgr_pixels, open_frames
from openlfr.vision import FaceAnalyzer
from openlfr.watchlist import Gallery, face_crop

SHARED = Path(os.environ.get("OPENLFR_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
console = Console()


def decode_fps(path: Path, limit: float = 8.0, decode_device: str = "cpu") -> float:
    """Frames per second decoded to BGR arrays as fast as possible (one connection)."""
    stop = threading.Event()
    start, count = time.perf_counter(), 0
    for _ in open_frames(parse_source(str(path), lossless=True, decode_device=decode_device), stop):
        count += 1
        if time.perf_counter() - start > limit:
            break
    return count / (time.perf_counter() - start)


def colour_conversion_fps(path: Path, frames: int = 50, limit: float = 3.0) -> dict[str, float]:
    """Frames/s converting decoded NV12 frames to BGR on one core: what NVDEC leaves to the CPU.

    NVDEC hands back NV12 in system memory, and our pipeline wants BGR, so this conversion is
    the per-frame CPU cost of a camera decoded on the GPU (``live.decode_device``). Ours
    (OpenCV) against swscale, which PyAV's ``to_ndarray`` uses.
    """
    with av.open(str(path)) as container:
        nv12 = []
        for frame in container.decode(video=0):
            nv12.append(frame.reformat(format="nv12"))
            if len(nv12) == frames:
                break
    rates, threads = {}, cv2.getNumThreads()
    cv2.setNumThreads(1)  # one core, as swscale uses; OpenCV would otherwise take both
    try:
        for label, convert in (("ours", bgr_pixels), ("swscale", lambda f: f.to_ndarray(format="bgr24"))):
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < limit:
                for frame in nv12:
                    convert(frame)
                count += len(nv12)
            rates[label] = count / (time.perf_counter() - start)
    finally:
        cv2.setNumThreads(threads)
    return rates


def transcode(source: Path, target: Path, size: tuple[int, int], fps: int) -> Path:
    """Re-encode a clip at another size and rate (for the 720p/10 fps camera test)."""
    with av.open(str(source)) as reader, av.open(str(target), "w") as writer:
        stream = writer.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "veryfast"}
        stream.thread_type = "FRAME"  # one slice a frame, as cameras send and the real clips have
        src_rate = float(reader.streams.video[0].average_rate or 25)
        step, due = src_rate / fps, 0.0
        for i, frame in enumerate(reader.decode(video=0)):
            if i + 1e-6 < due:
                continue
            due += step
            image = cv2.resize(frame.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_AREA)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                writer.mux(packet)
        for packet in stream.encode(None):
            writer.mux(packet)
    return target


def stand_in_gallery(analyzer: FaceAnalyzer, video: Path) -> Gallery:
    """Enrol the largest face of a frame of the clip itself, so the camera raises alerts to time."""
    stop = threading.Event()
    for frame in open_frames(parse_source(str(video), lossless=True), stop):
        if frame.index < 30:
            continue
        faces = analyzer.analyze(frame.image)
        if faces:
            face = max(faces, key=lambda f: f.quality.score)
            gallery = Gallery(analyzer.embedder.dimension)
            gallery.add("walker", face.embedding[None], face_crop(frame.image, face.box))
            return gallery
    raise RuntimeError(f"no face in {video}")


def crowd_clip() -> Path:
    """The 1080p crowd clip of ../shared/data, or the generated demo camera when it is absent."""
    crowd = SHARED / "videos" / "facenet_pytorch_video.mp4"
    if crowd.is_file():
        return crowd
    console.print(f"[yellow]{crowd} not found: using the generated demo camera instead[/]")
    from openlfr.demo.synthetic import demo_frames, write_video

    demo = Path(tempfile.mkdtemp()) / "demo.mp4"
    write_video(demo, demo_frames())
    return demo


def run_cameras(
    analyzer, gallery, uris: list[str], seconds: float, **source_options: Any
) -> list[dict[str, Any]]:
    live = analyzer.settings.live.model_copy(update={"cooldown": 0.0})
    sources = {f"cam{i + 1}": parse_source(uri, **source_options) for i, uri in enumerate(uris)}
    runner = LiveRunner(sources, analyzer, gallery, CollectingSink(), live).start()
    time.sleep(2.0)  # warm-up: connect, first detections
    start = {s.name: (s.metrics["frames"], s.decoded, s.dropped) for s in runner.status()}
    time.sleep(seconds)
    end = runner.status()
    runner.stop()
    rows = []
    for s in end:
        frames0, decoded0, dropped0 = start[s.name]
        m = s.metrics
        rows.append(
            {
                "camera": s.name,
                "processed_fps": (m["frames"] - frames0) / seconds,
                "decoded_fps": (s.decoded - decoded0) / seconds,
                "dropped": s.dropped - dropped0,
                "alert_latency_p50_ms": m["latency_ms_p50"],
                "alert_latency_p95_ms": m["latency_ms_p95"],
                "frame_latency_p50_ms": m["frame_latency_ms_p50"],
                "frame_latency_p95_ms": m["frame_latency_ms_p95"],
                "alerts": m["alerts"],
            }
        )
    return rows


def tracking_vs_frames(analyzer, gallery, video: Path) -> dict[str, dict[str, Any]]:
    from openlfr.evaluation.trial import run_live

    result = {}
    for label, tracking in (("tracking", True), ("frame by frame", False)):
        live = analyzer.settings.live.model_copy(update={} if tracking else {"cooldown": 0.0})
        alerts, m, _ = run_live(analyzer, video, gallery, live, tracking)
        result[label] = {
            "faces": m["faces"],
            "tracks": m["tracks"],
            "embeddings": m["embeddings"],
            "alerts": len(alerts),
        }
    return result


def print_rows(title: str, rows: list[dict[str, Any]], source_fps: float, decode_only: float) -> None:
    table = Table(title=title, title_justify="left")
    for column in (
        "camera",
        "processed fps",
        "÷ source fps",
        "÷ decode-only",
        "dropped",
        "alert p50/p95 ms",
        "frame p50/p95 ms",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r["camera"],
            f"{r['processed_fps']:.1f}",
            f"{r['processed_fps'] / source_fps:.2f}",
            f"{r['processed_fps'] / decode_only:.3f}",
            str(r["dropped"]),
            f"{r['alert_latency_p50_ms']}/{r['alert_latency_p95_ms']}",
            f"{r['frame_latency_p50_ms']}/{r['frame_latency_p95_ms']}",
        )
    console.print(table)


def run(seconds: float = 12.0) -> dict[str, Any]:
    info = hardware()
    console.print(f"[bold]hardware:[/] {info}")
    analyzer = FaceAnalyzer(load_settings())
    results: dict[str, Any] = {"hardware": info, "settings": analyzer.settings.live.model_dump()}
    crowd = crowd_clip()
    gallery = stand_in_gallery(analyzer, crowd)
    with av.open(str(crowd)) as probe:
        stream = probe.streams.video[0]
        crowd_fps, crowd_size = float(stream.average_rate or 25), (stream.width, stream.height)

    decode_only = decode_fps(crowd)
    results["decode_only_fps"] = {"crowd": decode_only}
    console.print(f"decode-only {crowd.name} {crowd_size[0]}×{crowd_size[1]}: {decode_only:.1f} frames/s")
    conversion = colour_conversion_fps(crowd)
    results["nv12_to_bgr_fps"] = conversion
    console.print(
        f"NV12→BGR alone, what NVDEC leaves to the CPU: ours {conversion['ours']:.0f} frames/s "
        f"({conversion['ours'] / decode_only:.1f}× decode-only), swscale {conversion['swscale']:.0f} "
        f"({conversion['swscale'] / decode_only:.1f}×)"
    )
    results["cameras"] = {}
    for count in (1, 2, 4):
        rows = run_cameras(analyzer, gallery, [str(crowd)] * count, seconds, loop=True, realtime=True)
        results["cameras"][count] = rows
        print_rows(f"{count} × {crowd_size[1]}p camera(s) at {crowd_fps:g} fps", rows, crowd_fps, decode_only)

    with tempfile.TemporaryDirectory() as scratch:
        clip720 = transcode(crowd, Path(scratch) / "crowd720p10.mp4", (1280, 720), 10)
        decode720 = decode_fps(clip720)
        results["decode_only_fps"]["720p"] = decode720
        held = 0
        results["cameras_720p_10fps"] = {}
        for count in range(1, 7):
            rows = run_cameras(analyzer, gallery, [str(clip720)] * count, seconds, loop=True, realtime=True)
            results["cameras_720p_10fps"][count] = rows
            print_rows(f"{count} × 720p camera(s) at 10 fps", rows, 10.0, decode720)
            if min(r["processed_fps"] for r in rows) < 9.5:
                break
            held = count
        results["max_720p_cameras_at_10fps"] = held
        console.print(f"[bold]720p cameras held at 10 fps: {held}[/]")
        stage = SHARED / "videos" / "face_recognition_short_hamilton_clip.mp4"
        rtsp_video = stage if stage.is_file() else crowd
        results["rtsp"] = rtsp_camera(
            analyzer, stand_in_gallery(analyzer, rtsp_video), rtsp_video, Path(scratch), seconds
        )

    results["tracking_vs_frame_by_frame"] = tracking_vs_frames(analyzer, gallery, crowd)
    table = Table(
        title=f"tracking against frame by frame on {crowd.name} (every frame processed)", title_justify="left"
    )
    for column in ("mode", "faces", "tracks", "embeddings", "alerts"):
        table.add_column(column, justify="right")
    for label, row in results["tracking_vs_frame_by_frame"].items():
        table.add_row(label, *(str(row[k]) for k in ("faces", "tracks", "embeddings", "alerts")))
    console.print(table)
    path = save("live", results)
    console.print(f"saved {path}")
    return results


def rtsp_camera(analyzer, gallery, video: Path, scratch: Path, seconds: float) -> dict[str, Any] | None:
    """A clip served by the GStreamer RTSP server at 640×360 and 25 fps (its encoder shares our CPUs)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.rtsp import RtspCamera, rtsp_available

    if rtsp_available() is not None:
        console.print(f"[yellow]RTSP skipped: {rtsp_available()}[/]")
        return None
    frames = scratch / "rtsp_frames"
    frames.mkdir()
    stop = threading.Event()
    for frame in open_frames(parse_source(str(video), lossless=True), stop):
        small = cv2.resize(frame.image, (640, 360), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(frames / f"{frame.index + 1:05d}.jpg"), small)
    camera = RtspCamera(frames, fps=25).start()
    try:
        reader_stop = threading.Event()
        start, count = time.perf_counter(), 0
        for _ in open_frames(parse_source(camera.url), reader_stop):
            count += 1
            if time.perf_counter() - start > 6:
                break
        decode_only = count / (time.perf_counter() - start)
        rows = run_cameras(analyzer, gallery, [camera.url], seconds)
    finally:
        camera.kill()
    print_rows("1 × RTSP camera, 640×360 at 25 fps", rows, 25.0, decode_only)
    return {"decode_only_fps": decode_only, "rows": rows}


if __name__ == "__main__":
    run()
