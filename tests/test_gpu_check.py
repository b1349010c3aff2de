"""The prepared GPU script runs every step on the CPU, so its first GPU run does not fail on a bug."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.common import RESULTS


def test_the_prepared_gpu_script_runs_every_step_on_the_cpu() -> None:
    pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
    pytest.importorskip("onnx2torch", reason="onnx2torch is not installed (make test installs it)")
    from benchmarks.gpu_check import SMOKE, run

    saved = RESULTS / "gpu_check.json"
    before = saved.read_bytes() if saved.is_file() else None
    results = run(SMOKE, keep=False)
    assert (saved.read_bytes() if saved.is_file() else None) == before, "a smoke run must save nothing"

    agreement = results["agreement"]
    assert agreement["faces"] >= 20 and agreement["min_cosine"] > 0.999 and results["templates_agree"]
    assert all(on_cpu == on_torch for on_cpu, on_torch in agreement["detections"])
    rates = results["per_second"]
    expected = {"recognizer_ours_b1", "recognizer_bare_b4", "detector_ours_b1", "detector_bare_b2"}
    expected |= {"recognizer_cpu_scaling_b4", "recognizer_session_blob_b4", "recognizer_session_images_b4"}
    expected |= {"detector_cpu_letterbox_b2", "detector_cpu_scaling_b2", "detector_cpu_postprocess_b2"}
    expected |= {"detector_session_blob_b2", "detector_session_images_b2"}
    expected |= {"recognizer_bare_channels_last_b4", "detector_bare_channels_last_b2"}
    assert expected <= set(rates) and all(rate > 0 for rate in rates.values())
    sharing = results["cameras_sharing_the_detector"]["rows"]
    assert sharing["one at a time"]["mean_batch"] == 1.0 and sharing["batched, 2 ms wait"]["mean_batch"] >= 1
    # whether two CPU threads meet within 2 ms is chance; tests/test_batching.py checks that they batch
    summary = results["ratios"]
    assert len(summary) == 6 + 2 + 1, summary  # six pairs, graphs at the smoke run's two batches, one frame
    assert all(isinstance(ratio, float) and ratio > 0 for ratio in summary.values()), summary
    graphed = results["with_cuda_graphs"]
    assert graphed["cuda_graphs"] is False and graphed["agreement"]["min_cosine"] > 0.999
    assert graphed["recognizer_ours_b4"] > 0 and graphed["detector_ours_b2"] > 0
    assert graphed["cameras_sharing_the_detector"]["rows"]["one at a time"]["mean_batch"] == 1.0
    engine = results["cameras_through_the_engine"]
    assert engine["rows"][1]["total_fps"] > 0 and engine["decoding"].startswith("decoding on")
    search = results["exact_search"]["10,000"]
    assert search["ms_per_query_batch1"] > 0 and search["ms_per_query_batch1000"] > 0
    assert search["numpy_cpu_ms_per_query"] > 0
    decoding = results["decoding"]
    assert decoding["pyav_cpu_bgr"] > 0
    if not Path("/dev/nvidiactl").exists():
        assert decoding["pyav_nvdec_bgr"].startswith("not measured: ")
        assert "NVDEC is not usable" in decoding["pyav_nvdec_bgr"]
        assert decoding["pyav_nvdec_on_device"].startswith("not measured: ")
        assert decoding["nvdec_kept_on_the_gpu"].startswith("not measured: ")


def test_frames_kept_on_the_gpu_convert_and_letterbox_as_the_cpu_does(players) -> None:  # type: ignore[no-untyped-def]
    """The GPU-resident path the script measures takes NVDEC's NV12 planes through DLPack; on
    the CPU the same code runs on a CPU frame's planes and must give OpenCV's pixels."""
    pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
    import av
    import cv2
    import numpy as np
    from benchmarks.gpu_check import device_planes, letterbox_on_device, nv12_to_bgr_on_device

    from openlfr.vision import FaceAnalyzer

    image = np.ascontiguousarray(cv2.resize(players, (1110, 624))[:, :, :])  # rows padded past the width
    frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="nv12")
    assert frame.planes[0].line_size > frame.width
    luma, chroma = device_planes(frame)
    assert tuple(luma.shape) == (624, 1110) and tuple(chroma.shape) == (312, 555, 2)
    ours = nv12_to_bgr_on_device(luma, chroma).numpy()
    opencv = cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2BGR_NV12)
    difference = np.abs(ours.astype(np.int16) - opencv)
    assert difference.max() <= 2 and difference.mean() < 0.5, (difference.max(), difference.mean())
    assert np.abs(ours.astype(np.int16) - image).mean() < 4  # and the photo survived the round trip

    import torch

    hd = cv2.resize(players, (1920, 1080))
    canvas = letterbox_on_device(torch.from_numpy(hd), 640, 384).numpy()
    expected = FaceAnalyzer().detector.letterbox([hd])[0][0]
    assert canvas.shape == expected.shape == (384, 640, 3)
    assert np.abs(canvas.astype(np.int16) - expected).max() <= 1  # 3:1 area averaging, rounding apart
