"""The prepared GPU check: PyTorch-on-GPU templates against ONNX Runtime CPU, then throughput.

Run on a machine with a CUDA GPU, PyTorch and onnx2torch: ``python -m benchmarks.gpu_check``.
It checks that fp16 GPU templates agree with the CPU ones (cosine > 0.999 for every face of
the package photos), that the detector finds the same faces, and then measures:
- recognizer faces/s at batch 1, 64 and 256 through our embedder, against the bare module;
- detector frames/s at 640×640 through our pipeline (batch 1) and the bare module at batch 32;
- the same with CUDA graphs (torch.cuda.graphs) for the recognizer at batch 256;
- detector frames/s through our pipeline at batch 16, and 16 camera threads sharing one
  detector with and without cross-camera batching (``detector.batch_wait_ms``);
- decoding of the 1080p crowd clip: PyAV on one CPU thread against torchcodec on NVDEC, when
  torchcodec is installed (decoding on the GPU is not built into openlfr until this is measured).
The issue's eager reference on one H200: 24,700 faces/s and 4,600 frames/s.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from rich.console import Console

from benchmarks.common import hardware, save
from benchmarks.live import crowd_clip, decode_fps
from benchmarks.vision import cameras_sharing_the_detector, frame_720p
from openlfr.models import sample_image_paths
from openlfr.settings import load_settings
from openlfr.vision import FaceAnalyzer, load_image

console = Console()


def per_second(function, items: int, seconds: float = 3.0) -> float:  # type: ignore[no-untyped-def]
    import torch

    function()
    torch.cuda.synchronize()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        function()
        count += items
    torch.cuda.synchronize()
    return count / (time.perf_counter() - start)


def decoding_rates(seconds: float = 8.0) -> dict[str, Any]:
    """Frames/s decoding the 1080p crowd clip: PyAV to BGR on the CPU, torchcodec on NVDEC."""
    clip = crowd_clip()
    rates: dict[str, Any] = {"clip": clip.name, "pyav_cpu_bgr": decode_fps(clip, seconds)}
    try:
        from torchcodec.decoders import VideoDecoder

        decoder = VideoDecoder(str(clip), device="cuda")
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for index in range(0, len(decoder), 32):
                decoder.get_frames_in_range(index, min(index + 32, len(decoder)))
                count += min(32, len(decoder) - index)
        rates["torchcodec_nvdec_rgb"] = count / (time.perf_counter() - start)
    except Exception as exc:  # not installed, or FFmpeg without NVDEC: say so in the results
        rates["torchcodec_nvdec_rgb"] = f"not measured: {type(exc).__name__}: {exc}"
    return rates


def run() -> dict[str, Any]:
    import torch

    cpu = FaceAnalyzer(load_settings(runtime={"providers": "cpu"}))
    gpu = FaceAnalyzer(
        load_settings(runtime={"backend": "torch", "torch_device": "cuda", "torch_fp16": True})
    )
    results: dict[str, Any] = {"hardware": hardware() | {"gpu": torch.cuda.get_device_name(0)}}
    console.print(f"{results['hardware']}\n{gpu.backend_summary()}")

    cosines, counts = [], []
    for path in sample_image_paths().values():
        image = load_image(path)
        on_cpu, on_gpu = cpu.detect(image), gpu.detect(image)
        counts.append((len(on_cpu), len(on_gpu)))
        if len(on_cpu):
            crops = cpu.align(image, on_cpu)
            cosines.extend(np.sum(cpu.embedder.embed(crops) * gpu.embedder.embed(crops), axis=1).tolist())
    results["agreement"] = {"faces": len(cosines), "min_cosine": min(cosines), "detections": counts}
    console.print(f"templates: {len(cosines)} faces, min cosine GPU fp16 vs CPU {min(cosines):.5f}")
    assert min(cosines) > 0.999, "GPU templates disagree with the CPU ones"

    players = load_image(sample_image_paths()["players"])
    crops = np.repeat(cpu.align(players, cpu.detect(players)), 32, axis=0)
    module, dtype = gpu.embedder.session.module, gpu.embedder.session.dtype  # type: ignore[attr-defined]
    throughput: dict[str, float] = {}
    for batch in (1, 64, 256):
        chunk = np.resize(crops, (batch, *crops.shape[1:]))
        throughput[f"recognizer_ours_b{batch}"] = per_second(lambda c=chunk: gpu.embedder.embed(c), batch)
        blob = torch.from_numpy(gpu.embedder.blob(chunk)).to("cuda", dtype)
        with torch.inference_mode():
            throughput[f"recognizer_bare_b{batch}"] = per_second(lambda b=blob: module(b), batch)
    frame = frame_720p()
    throughput["detector_ours_b1"] = per_second(lambda: gpu.detect(frame), 1)
    detector = gpu.detector.session.module  # type: ignore[attr-defined]
    frames = torch.zeros((32, 3, 640, 640), device="cuda", dtype=dtype)
    with torch.inference_mode():
        try:
            throughput["detector_bare_b32"] = per_second(lambda: detector(frames), 32)
        except Exception as exc:  # the graph may fix batch 1
            console.print(f"detector at batch 32 failed ({exc}); batch 1 only")
            throughput["detector_bare_b1"] = per_second(lambda: detector(frames[:1]), 1)
        static = torch.from_numpy(gpu.embedder.blob(np.resize(crops, (256, *crops.shape[1:])))).to(
            "cuda", dtype
        )
        module(static)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            module(static)
        throughput["recognizer_cuda_graph_b256"] = per_second(graph.replay, 256)
    frames16 = [frame] * 16
    throughput["detector_ours_b16"] = per_second(lambda: gpu.detector.detect_batch(frames16), 16)
    results["per_second"] = throughput
    gpu_settings = gpu.settings
    results["cameras_sharing_the_detector"] = cameras_sharing_the_detector(gpu_settings, cameras=16)
    console.print(results["cameras_sharing_the_detector"])
    results["decoding"] = decoding_rates()
    console.print(results["decoding"])
    for name, value in throughput.items():
        console.print(f"{name:32} {value:12,.0f}/s")
    console.print(f"saved {save('gpu_check', results)}")
    return results


if __name__ == "__main__":
    run()
