"""NVDEC decoding: used where it works, refused where asked for and missing, never a silent fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from av.codec.hwaccel import HWAccel

from openlfr.errors import ProviderUnavailableError
from openlfr.video import CameraReader, CameraState, hwdecode, parse_source
from openlfr.video.hwdecode import (
    OWN_CONTEXT,
    SHARED_CONTEXT,
    cuda_context_options,
    decode_probe,
    decoding_summary,
    nvdec,
    nvdec_unavailable,
    probe_clip,
    resolve_decode_device,
    stop_sharing_the_context,
)
from openlfr.video.sources import SourceError, bgr_pixels, open_frames
from tests.waiting import wait_for

HAS_NVIDIA = Path("/dev/nvidiactl").exists()
needs_no_gpu = pytest.mark.skipif(HAS_NVIDIA, reason="this machine has an NVIDIA GPU")
needs_nvdec = pytest.mark.skipif(
    nvdec_unavailable() is not None, reason="needs NVDEC: an NVIDIA GPU and driver (none here)"
)


def frames_of(video: Path, decode_device: str) -> list[np.ndarray]:
    spec = parse_source(str(video), lossless=True, decode_device=decode_device)
    return [frame.image for frame in open_frames(spec, threading.Event())]


def test_the_probe_clip_decodes_on_the_cpu() -> None:
    """So a failed probe means no CUDA decoder, not a broken clip."""
    assert decode_probe(probe_clip(), None) == 2


def test_the_probe_finds_no_nvdec_on_a_machine_without_an_nvidia_gpu() -> None:
    if HAS_NVIDIA:
        pytest.skip("this machine has an NVIDIA GPU; whether NVDEC works depends on its driver")
    assert "could not open a CUDA decoder" in (nvdec_unavailable() or "")
    assert resolve_decode_device("auto") == "cpu"


def test_the_setting_is_checked() -> None:
    assert resolve_decode_device("cpu") == "cpu"
    with pytest.raises(ProviderUnavailableError, match="unknown decode device"):
        resolve_decode_device("vaapi")


def test_nv12_frames_as_nvdec_returns_them_get_the_colours_swscale_gives(demo_material) -> None:
    with av.open(str(demo_material["video"])) as container:
        decoded = [frame for _, frame in zip(range(10), container.decode(video=0), strict=False)]
    for frame in decoded:
        assert np.array_equal(bgr_pixels(frame), frame.to_ndarray(format="bgr24"))  # not NV12: swscale
        nv12 = frame.reformat(format="nv12")
        ours, theirs = bgr_pixels(nv12), nv12.to_ndarray(format="bgr24")
        assert ours.shape == theirs.shape == (frame.height, frame.width, 3)
        assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 2.5  # BT.601 and its rounding
        for tag, value in (("colorspace", 1), ("color_range", 2)):  # BT.709, full range
            tagged = frame.reformat(format="nv12")
            setattr(tagged, tag, value)
            assert np.array_equal(
                bgr_pixels(tagged), tagged.to_ndarray(format="bgr24")
            )  # swscale follows tags


def test_a_failure_names_nvdec_only_where_the_decoder_may_have_caused_it() -> None:
    from openlfr.video.sources import _on_device

    refused = SourceError("cam: connection refused", permanent=False)
    assert _on_device("cuda", ConnectionRefusedError(), refused, stalled=False) is refused
    assert _on_device("cuda", ValueError("bad bitstream"), refused, stalled=True) is refused
    bad = SourceError("cam: not a video, or a codec openlfr cannot decode", permanent=False)
    assert _on_device("cpu", ValueError("bad bitstream"), bad, stalled=False) is bad
    named = _on_device("cuda", NotImplementedError("No supported hardware config"), bad, stalled=False)
    assert "decoding on NVDEC; live.decode_device 'cpu' avoids it" in str(named) and not named.permanent


@needs_no_gpu
def test_without_nvdec_auto_decodes_on_the_cpu_and_cuda_is_refused(demo_material) -> None:
    summary = decoding_summary("auto")
    assert summary.startswith("decoding on the CPU (auto: FFmpeg could not open a CUDA decoder")
    assert decoding_summary("cpu") == "decoding on the CPU (live.decode_device = 'cpu')"
    with pytest.raises(ProviderUnavailableError, match=r"NVDEC is not usable here.*not fall back"):
        decoding_summary("cuda")
    assert len(frames_of(demo_material["video"], "auto")) == 60

    spec = parse_source(str(demo_material["video"]), lossless=True, decode_device="cuda")
    with pytest.raises(SourceError, match="NVDEC is not usable") as failure:
        next(open_frames(spec, threading.Event()))
    assert failure.value.permanent
    reader = CameraReader("cam1", spec).start()
    assert wait_for(lambda: reader.state == CameraState.FAILED, 10)
    reader.stop()
    assert "NVDEC is not usable" in (reader.last_error or "") and reader.decoded == 0


@needs_no_gpu
def test_openlfr_run_refuses_to_start_when_cuda_decoding_is_missing(demo_material) -> None:
    script = Path(sys.executable).with_name("openlfr")
    env = dict(os.environ, OPENLFR_LIVE__DECODE_DEVICE="cuda")
    args = ["run", "--source", str(demo_material["video"]), "--watchlist", str(demo_material["watchlist"])]
    done = subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == ProviderUnavailableError.exit_code, done.stderr
    assert "NVDEC is not usable" in " ".join(done.stderr.split()) and "Traceback" not in done.stderr


@needs_nvdec
def test_nvdec_gives_the_frames_the_cpu_gives(demo_material) -> None:
    assert decoding_summary("cuda").startswith("decoding on NVDEC")
    on_cpu, on_gpu = frames_of(demo_material["video"], "cpu"), frames_of(demo_material["video"], "cuda")
    assert len(on_gpu) == len(on_cpu) == 60
    for cpu, gpu in zip(on_cpu, on_gpu, strict=True):
        assert gpu.shape == cpu.shape
        assert np.abs(gpu.astype(int) - cpu.astype(int)).mean() < 3.0  # chroma upsampling differs


@pytest.fixture
def fresh_probe():  # type: ignore[no-untyped-def]
    """Forget the probe's cached answer (and any refusal) before and after a test that fakes it."""
    hwdecode._probe.cache_clear()
    hwdecode._refused.clear()
    yield
    hwdecode._probe.cache_clear()
    hwdecode._refused.clear()


def refuse_the_shared_context(clip: bytes, hwaccel: HWAccel, hold: bool = False) -> int:
    """FFmpeg's answer on an H200 where PyTorch had made the primary context first."""
    if hwaccel.options.get("primary_ctx") == "1":
        raise OSError(95, "Operation not supported")
    assert not hold  # only a decoder on the shared context is kept open
    return 2


def test_the_probe_gives_each_decoder_its_own_context_when_the_shared_one_is_taken(
    fresh_probe, monkeypatch, caplog
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(hwdecode, "decode_probe", refuse_the_shared_context)
    with caplog.at_level("WARNING", logger="openlfr.video.hwdecode"):
        assert nvdec_unavailable() is None and cuda_context_options() is OWN_CONTEXT
    assert "cannot share the GPU's primary CUDA context" in caplog.text
    assert "one per camera" in decoding_summary("auto")
    assert "primary_ctx" not in nvdec().options


def test_every_decoder_refused_the_shared_context_retries_with_its_own(fresh_probe, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(hwdecode, "decode_probe", lambda clip, hwaccel, hold=False: 2)
    assert cuda_context_options() is SHARED_CONTEXT and "shared CUDA context" in decoding_summary("cuda")
    shared_a, shared_b = nvdec(), nvdec()  # two cameras opening at the same moment
    assert not stop_sharing_the_context(OSError(5, "Input/output error"), shared_a)  # not the context
    assert not stop_sharing_the_context(OSError(95, "Operation not supported"), None)  # not NVDEC
    assert cuda_context_options() is SHARED_CONTEXT
    refused = OSError(95, "Operation not supported")
    assert stop_sharing_the_context(refused, shared_a) and stop_sharing_the_context(refused, shared_b)
    assert cuda_context_options() is OWN_CONTEXT and "primary_ctx" not in nvdec().options
    assert not stop_sharing_the_context(refused, nvdec())  # refused on its own context: a real failure


def test_a_source_refused_the_shared_context_opens_again_on_its_own(
    fresh_probe, monkeypatch, demo_material
) -> None:  # type: ignore[no-untyped-def]
    """The stream opens again with a context of its own. av.open is faked only for the refusal;
    an H200 run showed decoders on their own context working beside PyTorch."""
    from openlfr.video import sources

    real_open, attempts = av.open, []

    def open_on_a_gpu(uri, options=None, timeout=None, hwaccel=None):  # type: ignore[no-untyped-def]
        attempts.append(dict(hwaccel.options))
        if hwaccel.options.get("primary_ctx") == "1":
            raise OSError(95, "Operation not supported")
        return real_open(uri, options=options, timeout=timeout)  # decodes here on the CPU

    monkeypatch.setattr(hwdecode, "decode_probe", lambda clip, hwaccel, hold=False: 2)
    assert nvdec_unavailable() is None  # probed before av.open is faked: the probe makes its clip with it
    monkeypatch.setattr(sources.av, "open", open_on_a_gpu)
    frames = frames_of(demo_material["video"], "cuda")
    assert len(frames) == 60 and attempts == [SHARED_CONTEXT, OWN_CONTEXT]
