"""Inference providers are chosen honestly; settings come from defaults, TOML and the environment."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from openlfr.errors import ConfigError, ProviderUnavailableError
from openlfr.models import load_pack
from openlfr.settings import RuntimeSettings, load_settings
from openlfr.vision.runtime import create_session, resolve_providers, session_options


def test_auto_picks_installed_providers_and_always_cpu() -> None:
    chosen = resolve_providers("auto")
    assert chosen[-1] == "CPUExecutionProvider"
    assert set(chosen) <= set(ort.get_available_providers())


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA is installed here")
def test_asking_for_cuda_without_it_is_an_error_not_a_fallback() -> None:
    with pytest.raises(ProviderUnavailableError, match="does not fall back"):
        resolve_providers("cuda")


def test_unknown_provider_is_an_error() -> None:
    with pytest.raises(ProviderUnavailableError, match="unknown"):
        resolve_providers("quantum")


def test_session_logs_which_provider_runs(caplog: pytest.LogCaptureFixture) -> None:
    settings = RuntimeSettings(providers="cpu", intra_op_threads=1)
    with caplog.at_level(logging.INFO, logger="openlfr.vision.runtime"):
        session = create_session(load_pack().detector_path, settings)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert "runs on CPUExecutionProvider (1 intra-op threads, spinning off)" in caplog.text


def test_session_options_follow_settings() -> None:
    options = session_options(RuntimeSettings(intra_op_threads=3, allow_spinning=False))
    assert options.intra_op_num_threads == 3
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_environment_and_toml_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "openlfr.toml"
    config.write_text("[detector]\nscore_threshold = 0.66\n[recognition]\nflip_fusion = true\n")
    monkeypatch.setenv("OPENLFR_CONFIG", str(config))
    monkeypatch.setenv("OPENLFR_RUNTIME__INTRA_OP_THREADS", "1")
    settings = load_settings()
    assert settings.detector.score_threshold == 0.66
    assert settings.recognition.flip_fusion is True
    assert settings.runtime.intra_op_threads == 1
    monkeypatch.setenv("OPENLFR_DETECTOR__SCORE_THRESHOLD", "0.7")
    assert load_settings().detector.score_threshold == 0.7  # environment beats the file


def test_invalid_settings_are_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLFR_DETECTOR__SCORE_THRESHOLD", "2")
    with pytest.raises(ConfigError, match=r"detector\.score_threshold"):
        load_settings()
    monkeypatch.delenv("OPENLFR_DETECTOR__SCORE_THRESHOLD")
    with pytest.raises(ConfigError, match="multiples of 32"):
        load_settings(detector={"input_size": (100, 100)})
    monkeypatch.setenv("OPENLFR_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()
    broken = tmp_path / "broken.toml"
    broken.write_text("[detector\n")
    monkeypatch.setenv("OPENLFR_CONFIG", str(broken))
    with pytest.raises(ConfigError):
        load_settings()


def test_cuda_graphs_with_onnx_runtime_are_refused_rather_than_ignored() -> None:
    with pytest.raises(ConfigError, match="torch_cuda_graphs needs backend 'torch'"):
        load_settings(runtime={"torch_cuda_graphs": True})
    assert load_settings(runtime={"backend": "torch", "torch_cuda_graphs": True}).runtime.torch_cuda_graphs


def test_loading_the_models_leaves_nothing_in_the_home_folder(tmp_path: Path) -> None:
    """ONNX Runtime's telemetry would write a device id and an event queue under ~/.cache."""
    home = tmp_path / "home"
    home.mkdir()
    script = (
        "import numpy as np\n"
        "from openlfr.settings import load_settings\n"
        "from openlfr.vision import FaceAnalyzer\n"
        "FaceAnalyzer(load_settings()).analyze(np.zeros((64, 64, 3), np.uint8))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORT_")}
    env |= {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=300)
    assert [p for p in home.rglob("*")] == []
