"""The prepared GPU check: PyTorch-on-GPU templates against ONNX Runtime CPU, then throughput.

Run on a machine with a CUDA GPU, PyTorch and onnx2torch: ``python -m benchmarks.gpu_check``.
It checks that fp16 GPU templates agree with the CPU ones (cosine > 0.999 for every face of
the package photos), that the detector finds the same faces, and then measures:
- recognizer faces/s at batch 1, 64 and 256 through our embedder, against the bare module;
- detector frames/s at 640×640 through our pipeline (batch 1) and the bare module at batch 32;
- the same with CUDA graphs (torch.cuda.graphs) for the recognizer at batch 256, and both bare
  modules in the channels-last layout;
- our own calls again with ``runtime.torch_cuda_graphs`` (templates, batches 1 to 256, 16
  cameras sharing the detector);
- detector frames/s through our pipeline at batch 16, and 16 camera threads sharing one
  detector with and without cross-camera batching (``detector.batch_wait_ms``);
- real-time 1080p cameras through the whole live engine on this GPU, doubling from 8 until the
  slowest falls behind, once with frames in system memory and once with ``live.frames_on_device``
  (NVDEC's frames kept on the GPU, letterbox and alignment there);
- decoding of the 1080p crowd clip to BGR arrays: PyAV on the CPU against NVDEC through our
  own video source (``live.decode_device = "cuda"``); NVDEC with frames left in GPU memory,
  the ceiling without the copy back; those frames taken into PyTorch through DLPack and
  converted and letterboxed there, as ``live.frames_on_device`` does; and torchcodec on NVDEC
  when it is installed;
- exact top-10 search through our own `torch` index (`search.index`) at 1M and 10M templates,
  against numpy on the CPU;
- cross-matching two registers of 50k and of 1M templates on the GPU, against numpy at 50k.
The issue's eager reference on one H200: 24,700 faces/s and 4,600 frames/s. Our H200 runs
and what they changed are in docs/gpu/README.md.

``--smoke`` runs every step on the CPU in fp32 with small batches and short timings, and
saves nothing: the test suite runs it so that the script works before it ever meets a GPU.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from threading import Event
from typing import Any

import av
import numpy as np
from rich.console import Console

from benchmarks.common import hardware, save
from benchmarks.live import crowd_clip, decode_fps, run_cameras, stand_in_gallery
from benchmarks.vision import cameras_sharing_the_detector, frame_720p
from openlfr.models import sample_image_paths
from openlfr.search.crossmatch import crossmatch
from openlfr.search.index import IndexSettings, TemplateBlocks, TemplateIndex
from openlfr.settings import load_settings
from openlfr.video import parse_source
from openlfr.video.hwdecode import context_sharing, decoding_summary, nvdec
from openlfr.video.sources import open_frames
from openlfr.vision import FaceAnalyzer, load_image
from openlfr.vision.torch_backend import CapturedForward

console = Console()


@dataclass(frozen=True)
class Plan:
    """Where the check runs and how big its batches and timings are."""

    device: str = "cuda"
    seconds: float = 2.0
    recognizer_batches: tuple[int, ...] = (1, 64, 256)
    detector_batch: int = 32
    detector_cameras: int = 16
    engine_cameras: tuple[int, ...] = (8, 16, 32, 64)
    engine_seconds: float = 8.0
    search_sizes: tuple[int, ...] = (1_000_000, 10_000_000)
    crossmatch_sizes: tuple[int, ...] = (50_000, 1_000_000)

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    def analyzer(
        self, batching: bool = False, cuda_graphs: bool = False, frames_on_device: bool = False
    ) -> FaceAnalyzer:
        """Our models on PyTorch on this plan's device (fp16 on a GPU); without ``batching``,
        calls are timed one by one, not waiting for callers that never come."""
        runtime = {"backend": "torch", "torch_device": self.device, "torch_fp16": self.on_gpu}
        runtime["torch_cuda_graphs"] = cuda_graphs
        unbatched = {} if batching else {"batch_wait_ms": 0.0}
        live = {"frames_on_device": frames_on_device}
        return FaceAnalyzer(
            load_settings(runtime=runtime, detector=unbatched, recognition=unbatched, live=live)
        )


def team_crops(cpu: FaceAnalyzer) -> np.ndarray:
    """The team photo's aligned faces, each repeated 32 times: enough rows for any batch."""
    players = load_image(sample_image_paths()["players"])
    return np.repeat(cpu.align(players, cpu.detect(players)), 32, axis=0)


SMOKE = Plan(
    device="cpu",
    seconds=0.05,
    recognizer_batches=(1, 4),
    detector_batch=2,
    detector_cameras=2,
    engine_cameras=(1,),
    engine_seconds=1.0,
    search_sizes=(10_000,),
    crossmatch_sizes=(2_000,),
)


def per_second(function: Callable[[], object], items: int, plan: Plan) -> float:
    import torch

    def settle() -> None:
        if plan.on_gpu:
            torch.cuda.synchronize()

    function()
    settle()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < plan.seconds:
        function()
        count += items
    settle()
    return count / (time.perf_counter() - start)


def not_measured(exc: Exception) -> str:
    return f"not measured: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


def nvdec_on_device_fps(clip: Path, limit: float) -> float:
    """Frames/s NVDEC decodes when frames stay in GPU memory: the ceiling without the copy back."""
    with av.open(str(clip), hwaccel=nvdec(keep_on_gpu=True)) as container:
        count, start = 0, time.perf_counter()
        for _ in container.decode(video=0):
            count += 1
            if time.perf_counter() - start > limit:
                break
    return count / (time.perf_counter() - start)


def frames_kept_on_the_gpu(clip: Path, limit: float) -> dict[str, float]:
    """NVDEC's frames never copied back: DLPack to PyTorch, NV12 to BGR and the detector's
    letterbox on the GPU, in frames/s, and how far its BGR frames are from the CPU's decode.
    What our pipeline does by default instead: copy back, convert in OpenCV, letterbox on the CPU."""
    import torch

    from openlfr.video import device_pixels
    from openlfr.vision import device

    with av.open(str(clip)) as container:
        on_cpu = [f.to_ndarray(format="bgr24") for f in islice(container.decode(video=0), 10)]
    with av.open(str(clip), hwaccel=nvdec(keep_on_gpu=True)) as container:
        frames = islice(container.decode(video=0), 10)
        on_gpu = [device_pixels.decoded_to_bgr(f).cpu().numpy() for f in frames]
    differences = [np.abs(a.astype(np.int16) - b).mean() for a, b in zip(on_gpu, on_cpu, strict=True)]
    rates = {"against_cpu_mean_abs_difference": float(np.mean(differences))}
    for label, letterboxed in (("to_bgr_fps", False), ("to_letterboxed_640x384_fps", True)):
        with av.open(str(clip), hwaccel=nvdec(keep_on_gpu=True)) as container:
            count, start = 0, time.perf_counter()
            for frame in container.decode(video=0):
                bgr = device_pixels.decoded_to_bgr(frame)
                if letterboxed:
                    canvas = device.canvas(1, 384, 640, bgr.device)
                    canvas[0, :360] = device.resized(bgr, 640, 360)  # the 1080p clip's letterbox
                count += 1
                if time.perf_counter() - start > limit:
                    break
            torch.cuda.synchronize()
            rates[label] = count / (time.perf_counter() - start)
    return rates


def first_frames(clip: Path, decode_device: str, count: int = 50) -> list[np.ndarray]:
    """The clip's first BGR frames through our own video source."""
    frames = []
    for frame in open_frames(parse_source(str(clip), lossless=True, decode_device=decode_device), Event()):
        frames.append(frame.image)
        if len(frames) == count:
            break
    return frames


def nvdec_difference(clip: Path) -> float:
    """Mean absolute difference in grey levels between NVDEC's and the CPU's frames (chroma
    upsampling differs a little; anything above a few levels would be a colour or frame bug)."""
    on_cpu, on_gpu = first_frames(clip, "cpu"), first_frames(clip, "cuda")
    if len(on_cpu) != len(on_gpu) or any(a.shape != b.shape for a, b in zip(on_cpu, on_gpu, strict=True)):
        raise ValueError(f"NVDEC gave {len(on_gpu)} frames, the CPU {len(on_cpu)}, or other sizes")
    return float(
        np.mean([np.abs(a.astype(np.int16) - b).mean() for a, b in zip(on_cpu, on_gpu, strict=True)])
    )


def decoding_rates(plan: Plan) -> dict[str, Any]:
    """Frames/s decoding the 1080p crowd clip to BGR arrays, on the CPU and on NVDEC."""
    clip = crowd_clip()
    limit = max(plan.seconds, 0.5) * 2
    rates: dict[str, Any] = {"clip": clip.name, "pyav_cpu_bgr": decode_fps(clip, limit)}
    try:
        rates["pyav_nvdec_bgr"] = decode_fps(clip, limit, decode_device="cuda")
        rates["nvdec_against_cpu_mean_abs_difference"] = nvdec_difference(clip)
    except Exception as exc:  # no NVIDIA driver here: say so in the results
        rates["pyav_nvdec_bgr"] = not_measured(exc)
    rates["decoders_cuda_context"] = context_sharing()  # "shared" unless refused the one PyTorch uses
    try:
        rates["pyav_nvdec_on_device"] = nvdec_on_device_fps(clip, limit)
    except Exception as exc:
        rates["pyav_nvdec_on_device"] = not_measured(exc)
    try:
        rates["nvdec_kept_on_the_gpu"] = frames_kept_on_the_gpu(clip, limit)
    except Exception as exc:
        rates["nvdec_kept_on_the_gpu"] = not_measured(exc)
    try:
        from torchcodec.decoders import VideoDecoder

        decoder = VideoDecoder(str(clip), device=plan.device)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < limit:
            for index in range(0, len(decoder), 32):
                decoder.get_frames_in_range(index, min(index + 32, len(decoder)))
                count += min(32, len(decoder) - index)
        rates["torchcodec_rgb"] = count / (time.perf_counter() - start)
    except Exception as exc:  # not installed, or no NVDEC: say so in the results
        rates["torchcodec_rgb"] = not_measured(exc)
    return rates


def template_agreement(cpu: FaceAnalyzer, gpu: FaceAnalyzer) -> dict[str, Any]:
    """Cosine of each package photo face's template on both backends, and both face counts."""
    cosines, counts = [], []
    for path in sample_image_paths().values():
        image = load_image(path)
        on_cpu, on_gpu = cpu.detect(image), gpu.detect(image)
        counts.append((len(on_cpu), len(on_gpu)))
        if len(on_cpu):
            crops = cpu.align(image, on_cpu)
            cosines.extend(np.sum(cpu.embedder.embed(crops) * gpu.embedder.embed(crops), axis=1).tolist())
    return {"faces": len(cosines), "min_cosine": min(cosines), "detections": counts}


def throughput(cpu: FaceAnalyzer, gpu: FaceAnalyzer, plan: Plan) -> dict[str, float]:
    """Faces/s and frames/s through our pipeline against the bare converted modules."""
    import torch

    crops = team_crops(cpu)
    module, dtype = gpu.embedder.session.module, gpu.embedder.session.dtype  # type: ignore[attr-defined]
    rates: dict[str, float] = {}
    with torch.inference_mode():
        for batch in plan.recognizer_batches:
            chunk = np.resize(crops, (batch, *crops.shape[1:]))
            rates[f"recognizer_ours_b{batch}"] = per_second(
                lambda c=chunk: gpu.embedder.embed(c), batch, plan
            )
            blob = torch.from_numpy(gpu.embedder.scaling.blob(chunk)).to(plan.device, dtype)
            rates[f"recognizer_bare_b{batch}"] = per_second(lambda b=blob: module(b), batch, plan)
        frame = frame_720p()
        rates["detector_ours_b1"] = per_second(lambda: gpu.detect(frame), 1, plan)
        detector = gpu.detector.session.module  # type: ignore[attr-defined]
        size = plan.detector_batch
        frames = torch.zeros((size, 3, 640, 640), device=plan.device, dtype=dtype)
        try:
            rates[f"detector_bare_b{size}"] = per_second(lambda: detector(frames), size, plan)
        except Exception as exc:  # the graph may fix batch 1
            console.print(f"detector at batch {size} failed ({exc}); batch 1 only")
            rates["detector_bare_b1"] = per_second(lambda: detector(frames[:1]), 1, plan)
        try:
            rates |= channels_last(module, detector, blob, frames, plan)
        except Exception as exc:  # a layout the converted graph refuses loses only these rows
            console.print(f"[red]channels-last failed: {not_measured(exc)}[/]")
        if plan.on_gpu:
            largest = plan.recognizer_batches[-1]
            static = gpu.embedder.scaling.blob(np.resize(crops, (largest, *crops.shape[1:])))
            try:
                captured = CapturedForward(module, torch.from_numpy(static).to(plan.device, dtype))
                rates[f"recognizer_cuda_graph_b{largest}"] = per_second(captured.graph.replay, largest, plan)
            except Exception as exc:  # keep the other rows
                console.print(f"[red]CUDA graph capture failed: {not_measured(exc)}[/]")
    batch = [frame] * plan.detector_cameras
    rates[f"detector_ours_b{len(batch)}"] = per_second(
        lambda: gpu.detector.detect_batch(batch), len(batch), plan
    )
    return rates | where_our_calls_spend(gpu, crops, batch, plan)


def channels_last(recognizer: Any, detector: Any, crops: Any, frames: Any, plan: Plan) -> dict[str, float]:
    """The bare modules on channels-last (NHWC) tensors, the layout tensor cores prefer, on copies
    of the modules (``Module.to`` works in place). Our uint8 frames and crops arrive in NHWC, so
    a win here would cost no transpose."""
    import copy

    import torch

    nhwc = torch.channels_last
    rates = {}
    for name, module, batch in (("recognizer", recognizer, crops), ("detector", detector, frames)):
        copied = copy.deepcopy(module).to(memory_format=nhwc)
        laid_out = batch.contiguous(memory_format=nhwc)
        rates[f"{name}_bare_channels_last_b{len(batch)}"] = per_second(
            lambda m=copied, b=laid_out: m(b), len(batch), plan
        )
    return rates


def with_cuda_graphs(cpu: FaceAnalyzer, plan: Plan) -> dict[str, Any]:
    """Our own calls again with ``runtime.torch_cuda_graphs``: whether the replayed graphs give
    the same templates, and how much faster small batches and shared detectors run with them.
    The smoke run takes the same steps eagerly (graphs need CUDA), so the code is tried."""
    graphed = plan.analyzer(cuda_graphs=plan.on_gpu)
    crops = team_crops(cpu)
    rates: dict[str, Any] = {"cuda_graphs": plan.on_gpu, "agreement": template_agreement(cpu, graphed)}
    for batch in plan.recognizer_batches:
        chunk = np.resize(crops, (batch, *crops.shape[1:]))
        embed = graphed.embedder.embed
        rates[f"recognizer_ours_b{batch}"] = per_second(lambda c=chunk, e=embed: e(c), batch, plan)
    frame = frame_720p()
    frames = [frame] * plan.detector_cameras
    rates["detector_ours_b1"] = per_second(lambda: graphed.detect(frame), 1, plan)
    rates[f"detector_ours_b{len(frames)}"] = per_second(
        lambda: graphed.detector.detect_batch(frames), len(frames), plan
    )
    rates["cameras_sharing_the_detector"] = cameras_sharing_the_detector(
        plan.analyzer(batching=True, cuda_graphs=plan.on_gpu).settings,
        cameras=plan.detector_cameras,
        seconds=max(plan.seconds, 0.2) * 2,
    )
    rates["backends"] = graphed.backend_summary()  # a model whose capture failed has lost "cuda-graphs"
    return rates


def where_our_calls_spend(
    gpu: FaceAnalyzer, crops: np.ndarray, frames: list[np.ndarray], plan: Plan
) -> dict[str, float]:
    """Items/s of each part of our calls alone, to show what holds ``embed`` and
    ``detect_batch`` below the bare modules: the letterbox, the session fed uint8 images
    (scaled on the device, as our calls now do) against the session fed a float32 blob scaled
    on the CPU (as they did), that CPU scaling itself, and the decoding of the detector's outputs."""
    largest = plan.recognizer_batches[-1]
    chunk = np.resize(crops, (largest, *crops.shape[1:]))
    embedder, detector = gpu.embedder, gpu.detector
    session = embedder.session
    blob = embedder.scaling.blob(chunk)
    canvas, scales = detector.letterbox(frames)
    canvas_blob = detector.scaling.blob(canvas)
    outputs = detector.network(canvas)
    size = (canvas.shape[1], canvas.shape[2])

    def decode_outputs() -> None:
        for i, frame in enumerate(frames):
            detector.postprocess(outputs, i, scales[i], frame.shape[:2], size)

    def fed(session: Any, batch: np.ndarray) -> Callable[[], object]:
        return lambda: session.run(None, {session.get_inputs()[0].name: batch})

    n, b = len(frames), largest
    return {
        f"recognizer_cpu_scaling_b{b}": per_second(lambda: embedder.scaling.blob(chunk), b, plan),
        f"recognizer_session_blob_b{b}": per_second(fed(session, blob), b, plan),
        f"recognizer_session_images_b{b}": per_second(lambda: embedder.forward(chunk), b, plan),
        f"detector_cpu_letterbox_b{n}": per_second(lambda: detector.letterbox(frames), n, plan),
        f"detector_cpu_scaling_b{n}": per_second(lambda: detector.scaling.blob(canvas), n, plan),
        f"detector_session_blob_b{n}": per_second(fed(detector.session, canvas_blob), n, plan),
        f"detector_session_images_b{n}": per_second(lambda: detector.network(canvas), n, plan),
        f"detector_cpu_postprocess_b{n}": per_second(decode_outputs, n, plan),
    }


def exact_search(plan: Plan) -> dict[str, Any]:
    """Exact top-10 search through our own ``torch`` index (``search.index = "torch"``) on this
    device, queries from and results to system memory as ``openlfr search`` has them, against
    numpy's exact search on this machine's CPU at the smallest size: the GPU figures for the
    gallery benchmarks. Random templates: exact search costs the same on any data."""
    rows: dict[str, Any] = {}
    for size in plan.search_sizes:
        rows[f"{size:,}"] = row = search_over(size, plan, with_numpy=size == plan.search_sizes[0])
        console.print(f"search over {size:,}: {row}")
    return rows


def search_over(size: int, plan: Plan, with_numpy: bool, step: int = 1_000_000) -> dict[str, float]:
    import torch

    def block(i: int) -> Any:  # unit templates made on the device, a million at a time
        generator = torch.Generator(plan.device).manual_seed(i)
        rows = torch.randn((min(step, size - i * step), 512), device=plan.device, generator=generator)
        return torch.nn.functional.normalize(rows, dim=1)

    blocks = TemplateBlocks(count=size, dimension=512, blocks=-(-size // step), read=block)
    settings = IndexSettings(kind="torch", torch_device=plan.device, torch_fp16=plan.on_gpu)
    index = TemplateIndex(blocks, settings)
    row = {"gib_on_device": index.memory_bytes()["device"] / 2**30}
    probes = block(0)[:1000].cpu().numpy()  # members of the gallery, each its own mate
    for queries in (1, 1000):
        rate = per_second(lambda p=probes[:queries]: index.search(p, 10), queries, plan)
        row[f"ms_per_query_batch{queries}"] = 1000.0 / rate
    if with_numpy:
        on_cpu = np.concatenate([block(i).cpu().numpy() for i in range(blocks.blocks)])
        rate = per_second(lambda: np.argpartition(-(on_cpu @ probes[0]), 10)[:10], 1, plan)
        row["numpy_cpu_ms_per_query"] = 1000.0 / rate
        row["batch1_speedup_over_numpy"] = row["numpy_cpu_ms_per_query"] / row["ms_per_query_batch1"]
        _, truth = TemplateIndex(on_cpu, IndexSettings(kind="exact")).search(probes[:50], 10)
        _, found = index.search(probes[:50], 10)
        row["recall_at_10_against_numpy"] = float(
            np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found, strict=True)])
        )
    return row


def crossmatch_registers(plan: Plan) -> dict[str, Any]:
    """Two registers of n random unit templates with 300 planted mates, cross-matched at 0.5 on
    this device (``openlfr crossmatch --device``), against numpy on the CPU at the smallest n."""
    rows: dict[str, Any] = {}
    for size in plan.crossmatch_sizes:
        rng = np.random.default_rng(size)
        a = rng.standard_normal((size, 512), np.float32)
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        b = rng.standard_normal((size, 512), np.float32)
        b[:300] = a[:300] + 0.3 * b[:300] / np.sqrt(512)  # mates near cosine 0.95
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        started = time.perf_counter()
        pairs = crossmatch(a, b, 0.5, device=plan.device)
        row = {"seconds_on_device": time.perf_counter() - started}
        row["mates_found"] = int(np.count_nonzero((pairs.a == pairs.b) & (pairs.a < 300)))
        row["pairs"] = len(pairs)
        if size == plan.crossmatch_sizes[0]:
            started = time.perf_counter()
            on_cpu = crossmatch(a, b, 0.5)
            row["seconds_numpy_cpu"] = time.perf_counter() - started
            row["speedup_over_numpy"] = row["seconds_numpy_cpu"] / row["seconds_on_device"]
            row["same_pairs_as_numpy"] = bool(
                np.array_equal(np.sort(pairs.a * size + pairs.b), np.sort(on_cpu.a * size + on_cpu.b))
            )
        rows[f"{size:,} x {size:,}"] = row
        console.print(f"crossmatch {size:,} × {size:,}: {row}")
    return rows


def cameras_through_the_engine(gpu: FaceAnalyzer, plan: Plan) -> dict[str, Any]:
    """Real-time 1080p cameras through the whole live engine: decoding as ``auto`` picks, models on ``gpu``.

    Doubles the cameras until the slowest one falls below 95% of the clip's frame rate; that
    count is what one GPU node carries, the figure the README's 100-camera plan needs.
    """
    clip = crowd_clip()
    gallery = stand_in_gallery(gpu, clip)
    with av.open(str(clip)) as container:
        source_fps = float(container.streams.video[0].average_rate or 25)
    rows: dict[int, dict[str, float]] = {}
    for count in plan.engine_cameras:
        cameras = run_cameras(
            gpu,
            gallery,
            [str(clip)] * count,
            plan.engine_seconds,
            loop=True,
            realtime=True,
            **gpu.settings.live.source_options(),
        )
        slowest = min(camera["processed_fps"] for camera in cameras) / source_fps
        rows[count] = {"total_fps": sum(c["processed_fps"] for c in cameras), "slowest_to_source": slowest}
        console.print(f"{count} cameras: {rows[count]}")
        if slowest < 0.95:
            break
    carried = max((count for count, row in rows.items() if row["slowest_to_source"] >= 0.95), default=0)
    return {
        "clip": clip.name,
        "source_fps": source_fps,
        "decoding": decoding_summary(gpu.settings.live.decode_device, gpu.settings.live.frames_on_device),
        "frames": f"on {gpu.frames_device}" if gpu.frames_device is not None else "in system memory",
        "rows": rows,
        "cameras_carried": carried,
        "best_total_fps": max(row["total_fps"] for row in rows.values()),
    }


def ratios(results: dict[str, Any], plan: Plan) -> dict[str, float | str]:
    """The comparisons the next decisions rest on, as ratios of items/s (above 1: the first is
    faster), each measured within this run: our calls against the bare modules, uint8 images
    against CPU-scaled blobs, graphs against eager calls, channels-last against the default
    layout. A step that failed says "not measured" for its ratios."""
    rates = results.get("per_second")
    graphed = results.get("with_cuda_graphs")
    largest, cameras, frames = plan.recognizer_batches[-1], plan.detector_cameras, plan.detector_batch
    wanted: dict[str, tuple[Any, str, Any, str]] = {
        f"embed() / bare recognizer, batch {largest}": (
            rates,
            f"recognizer_ours_b{largest}",
            rates,
            f"recognizer_bare_b{largest}",
        ),
        f"detect_batch() of {cameras} / bare detector at 640×640, batch {frames}": (
            rates,
            f"detector_ours_b{cameras}",
            rates,
            f"detector_bare_b{frames}",
        ),
        f"recognizer session fed uint8 / fed a CPU-scaled blob, batch {largest}": (
            rates,
            f"recognizer_session_images_b{largest}",
            rates,
            f"recognizer_session_blob_b{largest}",
        ),
        f"detector session fed uint8 / fed a CPU-scaled blob, batch {cameras}": (
            rates,
            f"detector_session_images_b{cameras}",
            rates,
            f"detector_session_blob_b{cameras}",
        ),
        f"bare recognizer channels-last / default layout, batch {largest}": (
            rates,
            f"recognizer_bare_channels_last_b{largest}",
            rates,
            f"recognizer_bare_b{largest}",
        ),
        f"bare detector channels-last / default layout, batch {frames}": (
            rates,
            f"detector_bare_channels_last_b{frames}",
            rates,
            f"detector_bare_b{frames}",
        ),
    }
    for batch in plan.recognizer_batches:
        wanted[f"embed() with CUDA graphs / eager, batch {batch}"] = (
            graphed,
            f"recognizer_ours_b{batch}",
            rates,
            f"recognizer_ours_b{batch}",
        )
    wanted["detect() of one frame with CUDA graphs / eager"] = (
        graphed,
        "detector_ours_b1",
        rates,
        "detector_ours_b1",
    )
    wanted["engine's best camera-fps, frames on the device / in system memory"] = (
        results.get("cameras_through_the_engine_frames_on_device"),
        "best_total_fps",
        results.get("cameras_through_the_engine"),
        "best_total_fps",
    )
    found: dict[str, float | str] = {}
    for label, (top, top_key, bottom, bottom_key) in wanted.items():
        if isinstance(top, dict) and isinstance(bottom, dict) and top_key in top and bottom_key in bottom:
            found[label] = top[top_key] / bottom[bottom_key]
        else:
            found[label] = "not measured"
    return found


def run(plan: Plan = Plan(), keep: bool = True) -> dict[str, Any]:
    """Every step in turn. On a GPU a failed step is recorded and the rest still run, and the
    results are saved after each step, so one bug cannot cost the whole lent machine; the
    smoke run lets failures raise, so that the test suite sees them."""
    import torch

    cpu = FaceAnalyzer(load_settings(runtime={"providers": "cpu"}))
    engine = plan.analyzer(batching=True)  # batching as deployed: 2 ms on a GPU
    gpu = plan.analyzer()
    summary = engine.backend_summary()  # before any other CUDA call, as in `openlfr run`
    name = torch.cuda.get_device_name(0) if plan.on_gpu else f"{plan.device} (smoke run, fp32)"
    results: dict[str, Any] = {"hardware": hardware() | {"gpu": name}}
    console.print(f"{results['hardware']}\n{summary}\n{decoding_summary('auto')}")

    steps: dict[str, Callable[[], Any]] = {
        "agreement": lambda: template_agreement(cpu, gpu),
        "per_second": lambda: throughput(cpu, gpu, plan),
        "cameras_sharing_the_detector": lambda: cameras_sharing_the_detector(
            engine.settings, cameras=plan.detector_cameras, seconds=max(plan.seconds, 0.2) * 2
        ),
        "with_cuda_graphs": lambda: with_cuda_graphs(cpu, plan),
        "decoding": lambda: decoding_rates(plan),
        "exact_search": lambda: exact_search(plan),
        "crossmatch": lambda: crossmatch_registers(plan),
        "cameras_through_the_engine": lambda: cameras_through_the_engine(engine, plan),
        "cameras_through_the_engine_frames_on_device": lambda: cameras_through_the_engine(
            plan.analyzer(batching=True, frames_on_device=True), plan
        ),
    }
    for step, measure in steps.items():
        try:
            results[step] = measure()
        except Exception as exc:
            if not plan.on_gpu:
                raise
            console.print_exception()
            results[step] = not_measured(exc)
        console.print(step, results[step])
        if keep:
            save("gpu_check", results)
    agreement = results["agreement"]
    results["templates_agree"] = isinstance(agreement, dict) and agreement["min_cosine"] > 0.999
    results["ratios"] = ratios(results, plan)
    for label, ratio in results["ratios"].items():
        console.print(f"{label}: {ratio if isinstance(ratio, str) else f'{ratio:.2f}× the rate'}")
    if keep:
        console.print(f"saved {save('gpu_check', results)}")
    verdict = "agree" if results["templates_agree"] else "[red]DISAGREE[/]"
    console.print(f"templates on {name} {verdict} with ONNX Runtime on the CPU (cosine > 0.999)")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="run every step on the CPU, save nothing")
    args = parser.parse_args()
    outcome = run(SMOKE, keep=False) if args.smoke else run()
    raise SystemExit(0 if outcome["templates_agree"] else 1)
