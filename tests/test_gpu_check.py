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
    # six pairs, graphs at the smoke run's two batches and one frame, the engine's frames on the device
    assert len(summary) == 6 + 2 + 1 + 1, summary
    assert all(isinstance(ratio, float) and ratio > 0 for ratio in summary.values()), summary
    graphed = results["with_cuda_graphs"]
    assert graphed["cuda_graphs"] is False and graphed["agreement"]["min_cosine"] > 0.999
    assert graphed["recognizer_ours_b4"] > 0 and graphed["detector_ours_b2"] > 0
    assert graphed["cameras_sharing_the_detector"]["rows"]["one at a time"]["mean_batch"] == 1.0
    engine = results["cameras_through_the_engine"]
    assert engine["rows"][1]["total_fps"] > 0 and engine["decoding"].startswith("decoding on")
    assert engine["frames"] == "in system memory"
    on_device = results["cameras_through_the_engine_frames_on_device"]
    assert on_device["rows"][1]["total_fps"] > 0 and on_device["frames"] == "on cpu"
    search = results["exact_search"]["10,000"]
    assert search["ms_per_query_batch1"] > 0 and search["ms_per_query_batch1000"] > 0
    assert search["numpy_cpu_ms_per_query"] > 0 and search["recall_at_10_against_numpy"] == 1.0
    matched = results["crossmatch"]["2,000 x 2,000"]
    assert matched["mates_found"] == 300 and matched["same_pairs_as_numpy"]
    decoding = results["decoding"]
    assert decoding["pyav_cpu_bgr"] > 0
    if not Path("/dev/nvidiactl").exists():
        assert decoding["pyav_nvdec_bgr"].startswith("not measured: ")
        assert "NVDEC is not usable" in decoding["pyav_nvdec_bgr"]
        assert decoding["pyav_nvdec_on_device"].startswith("not measured: ")
        assert decoding["nvdec_kept_on_the_gpu"].startswith("not measured: ")
