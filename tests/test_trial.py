"""The walk-past trial: scene geometry, who walks, how alerts are scored, and a small run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from openlfr.cli import app
from openlfr.evaluation import trial, walkpast
from openlfr.evaluation.datasets import LabelledSet
from openlfr.live.alerts import Alert
from openlfr.settings import get_settings


def alert_at(subject: str, seconds: float) -> Alert:
    return Alert(
        camera="trial",
        subject=subject,
        score=0.6,
        threshold=0.45,
        track_id=1,
        candidates=[],
        supporting_faces=2,
        frame_time=0.0,
        raised_at=0.0,
        media_position=seconds,
        probe_crop=np.zeros((4, 4, 3), np.uint8),
    )


def test_alerts_are_scored_per_passer_by() -> None:
    people = [
        trial.Passerby(Path("a.jpg"), "Ann", True),
        trial.Passerby(Path("b.jpg"), "Bob", False),
        trial.Passerby(Path("c.jpg"), "Cat", True),
        trial.Passerby(Path("d.jpg"), "Dan", False),
    ]
    plan = trial.TrialPlan(people, {"Ann": Path("a0.jpg"), "Cat": Path("c0.jpg")}, [])
    scene = walkpast.SceneSettings(fps=10, walk_seconds=3.0, gap_seconds=1.0)
    walks = walkpast.schedule([p.image for p in people], scene)
    # Lanes alternate; the second lane starts half a step later. Ann walks 0-3 s, Bob 2-5 s.
    assert [(w.lane, w.first_frame) for w in walks] == [(0, 0), (1, 20), (0, 40), (1, 60)]
    alerts = [
        alert_at("Ann", 1.0),  # Ann in view: a hit
        alert_at("Ann", 2.5),  # Ann again: the same hit, not a false alert
        alert_at("filler-3", 2.5),  # nobody on the list in view: false, charged to Bob (in view)
        alert_at("Cat", 9.0),  # Cat walks 4-7 s (+1 s grace): too late, false, charged to Dan (6-9 s)
        alert_at("Ann", 20.0),  # after everyone left: false, charged to nobody
    ]
    found, false_alerts, charged = trial.score_alerts(alerts, walks, plan, scene.fps)
    assert (found, false_alerts, charged) == (1, 3, 2)
    score = trial.TrialScore(1000, "tracked", 2, 2, found, 5, false_alerts, charged, 10, 100, 0.45, "none")
    assert score.tpir == 0.5 and score.fpir == 1.0 and score.false_alerts_per_1000 == 750


def test_plan_keeps_walking_images_off_the_watchlist() -> None:
    rows = [
        {"path": f"{p}_{i}.jpg", "identity": p}
        for p in "ABCDEFGH"
        for i in range(1 + "ABCDEFGH".index(p) % 3)
    ]
    lfw = LabelledSet("lfw", [Path(r["path"]) for r in rows], rows)
    plan = trial.plan_trial(lfw, [Path("utk_1.jpg")], passers_by=6, mated_share=0.5, seed=3)
    walking = {p.identity for p in plan.passers_by}
    assert len(plan.passers_by) == 6 and sum(p.on_watchlist for p in plan.passers_by) == 3
    for person in plan.passers_by:
        if person.on_watchlist:
            assert plan.enrolment[person.identity] != person.image  # shown with a different image
    assert not any(path.name.split("_")[0] in walking for path in plan.fillers if path.name != "utk_1.jpg")
    assert Path("utk_1.jpg") in plan.fillers


def test_watchlist_holds_every_subject_and_refuses_impossible_padding() -> None:
    rng = np.random.default_rng(0)
    fillers = rng.normal(size=(30, 8)).astype(np.float32)
    enrolled = {"Ann": fillers[0], "Cat": fillers[1]}
    gallery = trial.build_watchlist(20, enrolled, fillers[2:])
    assert len(gallery) == 20 and {"Ann", "Cat"} <= set(gallery.subjects)
    larger = trial.build_watchlist(25, enrolled, fillers[2:])
    assert set(gallery.subjects) < set(larger.subjects)  # smaller watchlists nest in larger ones
    with pytest.raises(ValueError, match="needs 98 fillers"):
        trial.build_watchlist(100, enrolled, fillers[2:])


def test_only_the_fillers_needed_are_embedded() -> None:
    pool = [Path(f"{i}.jpg") for i in range(1000)]
    asked: list[int] = []

    def embed(paths: list[Path]) -> np.ndarray:
        asked.extend(int(p.stem) for p in paths)
        out = np.ones((len(paths), 4), np.float32)
        out[[i for i, p in enumerate(paths) if int(p.stem) % 10 == 0]] = 0  # one in ten has no face
        return out

    fillers = trial.embed_fillers(embed, pool, 50)
    assert len(fillers) == 50 and fillers.any(axis=1).all()
    assert len(asked) < 100  # not the whole pool
    with pytest.raises(ValueError, match="only 900 of 1000"):
        trial.embed_fillers(embed, pool, 950)


@pytest.mark.shared_data
def test_walkers_grow_from_distant_to_close(shared_data: Path, analyzer) -> None:
    image = sorted((shared_data / "lfw" / "images").glob("*/*.jpg"))[0]
    scene = walkpast.SceneSettings()
    frames = list(walkpast.scene_frames(walkpast.schedule([image], scene), scene))
    assert len(frames) == scene.walk_frames and frames[0].shape == (walkpast.HEIGHT, walkpast.WIDTH, 3)
    widths = []
    for frame in (frames[len(frames) // 2], frames[-1]):
        boxes = analyzer.detect(frame).boxes
        assert len(boxes) == 1  # the backdrop holds no face-like clutter
        widths.append(boxes[0, 2] - boxes[0, 0])
    assert widths[0] < widths[1] and 120 < widths[1] < 260  # about 200 px at the end of the walk


@pytest.mark.shared_data
def test_small_trial_end_to_end(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    args = ["eval", "trial", "--data", str(shared_data), "--output", str(tmp_path / "out")]
    args += ["--passers-by", "8", "--mated-share", "0.5", "--watchlist-size", "20", "--seed", "1"]
    result = CliRunner().invoke(app, args)
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    runs = {r["mode"]: r for r in json.loads((tmp_path / "out" / "trial.json").read_text())["runs"]}
    tracked, single = runs["tracked"], runs["frame by frame"]
    assert tracked["mated_passers_by"] == 4 and tracked["nonmated_passers_by"] == 4
    assert tracked["embeddings"] * 2 < single["embeddings"]  # tracking embeds a few best shots per person
    assert tracked["found"] >= 1  # watchlist subjects walking past are found, from a different image
    assert tracked["false_alerts"] <= single["false_alerts"]
    assert (tmp_path / "out" / "trial.png").read_bytes().startswith(b"\x89PNG")
