"""The live engine on real recorded video from ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from openlfr.live.alerts import CollectingSink
from openlfr.live.runner import LiveRunner
from openlfr.video import parse_source
from openlfr.watchlist import load_watchlist_folder

pytestmark = pytest.mark.shared_data


def lfw_watchlist(shared: Path, folder: Path, count: int, skip: set[str] = frozenset()) -> Path:
    """One folder per LFW identity (first image of each), linked rather than copied."""
    rows = csv.DictReader((shared / "lfw" / "labels.csv").open())
    chosen: dict[str, Path] = {}
    for row in rows:
        if row["identity"] not in chosen and row["identity"] not in skip:
            chosen[row["identity"]] = shared / "lfw" / row["path"]
        if len(chosen) == count:
            break
    for identity, path in chosen.items():
        (folder / identity).mkdir(parents=True)
        (folder / identity / path.name).symlink_to(path)
    return folder


def run(analyzer, gallery, video: Path, tracking: bool = True):
    sink = CollectingSink()
    live = analyzer.settings.live if tracking else analyzer.settings.live.model_copy(update={"cooldown": 0})
    runner = LiveRunner(
        {"cam": parse_source(str(video), lossless=True)}, analyzer, gallery, sink, live, tracking=tracking
    )
    runner.start()
    assert runner.wait(300)
    runner.stop()
    return sink.alerts, runner.status()[0].metrics


def test_hamilton_clip_alerts_for_lin_manuel_miranda_only(
    shared_data: Path, pack_analyzer, tmp_path: Path
) -> None:
    analyzer = pack_analyzer
    folder = lfw_watchlist(shared_data, tmp_path / "watchlist", 8)
    (folder / "lin_manuel_miranda").mkdir()
    (folder / "lin_manuel_miranda" / "reference.png").symlink_to(
        shared_data / "face_recognition_examples" / "examples" / "lin-manuel-miranda.png"
    )
    gallery, report = load_watchlist_folder(folder, analyzer)
    assert "lin_manuel_miranda" in report.enrolled and len(gallery) >= 8
    video = shared_data / "videos" / "face_recognition_short_hamilton_clip.mp4"
    alerts, metrics = run(analyzer, gallery, video)
    assert alerts, metrics
    assert {a.subject for a in alerts} == {"lin_manuel_miranda"}
    baseline_alerts, baseline = run(analyzer, gallery, video, tracking=False)
    assert baseline["embeddings"] > 5 * metrics["embeddings"]
    assert len(baseline_alerts) > 5 * len(alerts)


def test_crowd_video_raises_no_alert_against_a_thousand_strangers(
    shared_data: Path, pack_analyzer, tmp_path: Path
) -> None:
    analyzer = pack_analyzer
    # A few LFW photos show a second face of similar size, or a poor one, and are refused with the reason.
    gallery, report = load_watchlist_folder(
        lfw_watchlist(shared_data, tmp_path / "watchlist", 1080), analyzer
    )
    reasons = ("none clearly the subject", "quality gate", "cut off", "sure this is a face")
    assert all(any(r in reason for r in reasons) for _, reason in report.rejected), report.rejected
    assert len(report.rejected) < 80
    for subject in gallery.subjects[1000:]:
        gallery.remove(subject)
    assert len(gallery) == 1000
    alerts, metrics = run(analyzer, gallery, shared_data / "videos" / "facenet_pytorch_video.mp4")
    assert metrics["faces"] > 100 and metrics["tracks"] >= 5
    assert alerts == []
