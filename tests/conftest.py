"""Shared fixtures: one analyzer per test session, package-shipped photos, and ../shared/data when present."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from openlfr.models import sample_image_paths
from openlfr.settings import Settings, load_settings
from openlfr.vision import FaceAnalyzer, load_image

REPO_ROOT = Path(__file__).resolve().parents[1]
OWN_TEMP = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """The test run gets a temporary folder of its own (TMPDIR, for this process and every one it
    starts), so the privacy canaries see only what openlfr could have written there, not what
    other programs on a busy machine write to the system's."""
    own = Path(tempfile.mkdtemp(prefix="openlfr-tests-"))
    own.chmod(0o711)  # the test PostgreSQL runs as its own user in a folder here
    os.environ["TMPDIR"] = str(own)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    # the tests are research use of the research-only default pack; test_model_licence.py checks
    # the refusal without this
    os.environ.setdefault("OPENLFR_GOVERNANCE__RESEARCH_USE_ACKNOWLEDGED", "true")
    config.stash[OWN_TEMP] = own


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(OWN_TEMP, None)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)


def shared_data_dir() -> Path:
    return Path(os.environ.get("OPENLFR_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder; tests that need it skip with the reason when it is absent."""
    folder = shared_data_dir()
    if not (folder / "README.md").is_file():
        pytest.skip(f"shared test data not found at {folder} (set OPENLFR_TEST_DATA)")
    return folder


@pytest.fixture(autouse=True)
def own_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is its own terminal: its CLI sign-in is kept in its own folder, and no API token
    from the environment signs it in."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "terminal-state"))
    monkeypatch.delenv("OPENLFR_TOKEN", raising=False)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def analyzer(settings: Settings) -> FaceAnalyzer:
    return FaceAnalyzer(settings)


@cache
def analyzer_of(pack: str) -> FaceAnalyzer:
    """One analyzer per model pack for the whole run (their models take seconds to load)."""
    return FaceAnalyzer(load_settings(model_pack=pack))


@pytest.fixture(scope="session", params=["buffalo_s", "yunet_sface"])
def pack_analyzer(request: pytest.FixtureRequest, analyzer: FaceAnalyzer) -> FaceAnalyzer:
    """Each built-in model pack in turn (tests that every pack must pass)."""
    return analyzer if request.param == analyzer.pack.name else analyzer_of(request.param)


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


@pytest.fixture(scope="session")
def demo_material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The generated demo camera (video and JPEG sequence) and its watchlist folder."""
    from openlfr.demo.synthetic import demo_frames, write_frames, write_video, write_watchlist

    folder = tmp_path_factory.mktemp("demo")
    write_video(folder / "demo.mp4", demo_frames())
    write_frames(folder / "frames", demo_frames())
    write_watchlist(folder / "watchlist")
    return {"video": folder / "demo.mp4", "frames": folder / "frames", "watchlist": folder / "watchlist"}


@pytest.fixture(scope="session")
def demo_gallery(analyzer: FaceAnalyzer, demo_material: dict[str, Path]):
    from openlfr.watchlist import load_watchlist_folder

    gallery, report = load_watchlist_folder(demo_material["watchlist"], analyzer)
    assert not report.rejected
    return gallery


class MutableClock:
    """A clock tests can move forward, for retention and time windows."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def postgres():
    from tests.postgres import PostgresServer, postgres_available

    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    server = PostgresServer().init()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'main.sqlite'}"
    server = request.getfixturevalue("postgres")
    return server.create_database(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def gov(database_url: str, tmp_path: Path, clock: MutableClock, analyzer: FaceAnalyzer):
    from openlfr.governance import Governance
    from openlfr.store import Store
    from openlfr.store.crypto import new_key

    settings = load_settings(data_dir=tmp_path / "data")
    store = Store(database_url, f"sqlite:///{tmp_path / 'keys.sqlite'}", new_key())
    store.migrate()
    governance = Governance(store, settings, clock, analyzer)  # share the session's models
    yield governance
    store.dispose()
