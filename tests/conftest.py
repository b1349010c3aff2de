"""Shared fixtures: one analyzer per test session, package-shipped photos, and ../shared/data when present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from openlfr.models import sample_image_paths
from openlfr.settings import Settings, load_settings
from openlfr.vision import FaceAnalyzer, load_image

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("OPENLFR_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder; tests that need it skip with the reason when it is absent."""
    folder = shared_data_dir()
    if not (folder / "README.md").is_file():
        pytest.skip(f"shared test data not found at {folder} (set OPENLFR_TEST_DATA)")
    return folder


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def analyzer(settings: Settings) -> FaceAnalyzer:
    return FaceAnalyzer(settings)


@pytest.fixture(scope="session")
def samples() -> dict[str, Path]:
    return sample_image_paths()


@pytest.fixture(scope="session")
def players(samples: dict[str, Path]) -> np.ndarray:
    return load_image(samples["players"])


@pytest.fixture(scope="session")
def yaoming(samples: dict[str, Path]) -> np.ndarray:
    return load_image(samples["yaoming"])


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])
