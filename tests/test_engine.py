"""The live engine end to end on the generated demo camera (package photos only, no data set needed)."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

from openlfr.demo.synthetic import ENROLLED_SUBJECT
from openlfr.live.alerts import CollectingSink, JsonLinesSink
from openlfr.live.engine import CameraEngine
from openlfr.live.preview import privacy_preview
from openlfr.live.runner import LiveRunner
from openlfr.video import parse_source


def run_video(analyzer, gallery, video: Path, tracking: bool = True, **live_overrides):
    sink = CollectingSink()
    settings = analyzer.settings.live.model_copy(update=live_overrides)
    runner = LiveRunner(
        {"cam": parse_source(str(video), lossless=True)}, analyzer, gallery, sink, settings, tracking=tracking
    )
    runner.start()
    assert runner.wait(120)
    runner.stop()
    return sink.alerts, runner.status()[0]


def test_enrolled_person_alerts_once_and_nobody_else(analyzer, demo_gallery, demo_material) -> None:
    alerts, status = run_video(analyzer, demo_gallery, demo_material["video"])
    assert [a.subject for a in alerts] == [ENROLLED_SUBJECT]
    alert = alerts[0]
    assert alert.score >= alert.threshold == analyzer.settings.live.alert_threshold
    assert alert.supporting_faces >= analyzer.settings.live.min_faces
    assert alert.candidates[0].subject == ENROLLED_SUBJECT and len(alert.candidates) == 4
    assert alert.candidates[1].score < alert.threshold
    assert alert.probe_crop.shape == (160, 160, 3) and alert.reference is not None
    assert status.state == "ended" and status.metrics["errors"] == 0
    # Every other track (team-mates, the astronaut) ended without a match and was forgotten.
    assert status.metrics["tracks_ended_unmatched"] == status.metrics["tracks"] - 1


def test_tracking_embeds_far_less_than_frame_by_frame(analyzer, demo_gallery, demo_material) -> None:
    tracked_alerts, tracked = run_video(analyzer, demo_gallery, demo_material["video"])
    single_alerts, single = run_video(
        analyzer, demo_gallery, demo_material["video"], tracking=False, cooldown=0
    )
    live = analyzer.settings.live
    checks = tracked.metrics["frames"] / 10 / live.verify_interval  # identity checks beyond the budget
    assert (
        tracked.metrics["embeddings"] <= (live.max_embeddings_per_track + checks) * tracked.metrics["tracks"]
    )
    assert single.metrics["embeddings"] > 3 * tracked.metrics["embeddings"]
    assert len(single_alerts) > 10 * len(tracked_alerts)  # the stream of alerts tracking prevents
    assert {a.subject for a in single_alerts} == {ENROLLED_SUBJECT}


def test_cooldown_silences_the_same_subject_on_a_loop(analyzer, demo_gallery, demo_material) -> None:
    sink = CollectingSink()
    engine = CameraEngine(
        "cam", analyzer, demo_gallery, sink, analyzer.settings.live.model_copy(update={"cooldown": 1000})
    )
    from openlfr.video import CameraReader

    for _ in range(2):  # the same clip twice: a second track of the same person
        reader = CameraReader("cam", parse_source(str(demo_material["video"]), lossless=True)).start()
        while (frame := reader.slot.get(timeout=5)) is not None:
            engine.process(frame, frame.position + _ * 100)
        reader.stop()
        engine.finish()
    assert len(sink.alerts) == 1
    assert engine.metrics.suppressed_by_cooldown == 1
    assert engine.memories == {}  # nothing of any track is left in memory


def test_alert_threshold_is_honoured(analyzer, demo_gallery, demo_material) -> None:
    alerts, _ = run_video(analyzer, demo_gallery, demo_material["video"], alert_threshold=0.95)
    assert alerts == []


def test_json_lines_sink_has_no_images_unless_asked(
    tmp_path: Path, analyzer, demo_gallery, demo_material
) -> None:
    alerts, _ = run_video(analyzer, demo_gallery, demo_material["video"])
    plain, full = tmp_path / "plain.jsonl", tmp_path / "full.jsonl"
    for path, include in ((plain, False), (full, True)):
        sink = JsonLinesSink(path, include_images=include)
        sink.emit(alerts[0])
        sink.close()
    text = plain.read_text()
    assert ENROLLED_SUBJECT in text and "jpeg" not in text and "threshold" in text
    assert "probe_jpeg_base64" in full.read_text()


def test_no_file_is_written_while_matching(
    analyzer, demo_gallery, demo_material, tmp_path: Path, monkeypatch
) -> None:
    """Privacy canary for the engine alone: running it creates no file anywhere we can see."""
    monkeypatch.chdir(tmp_path)
    watched = [tmp_path, Path(tempfile.gettempdir()), demo_material["video"].parent]
    before = {folder: set(os.listdir(folder)) for folder in watched}
    run_video(analyzer, demo_gallery, demo_material["video"])
    for folder in watched:
        assert set(os.listdir(folder)) == before[folder], folder


def test_preview_pixelates_every_face_but_the_alert(players: np.ndarray, analyzer) -> None:
    detections = analyzer.detect(players)
    faces = [(box, i, i == 0) for i, box in enumerate(detections.boxes)]
    preview = privacy_preview(players, faces)
    for box, _, alerted in faces[:5]:
        x1, y1, x2, y2 = (int(v) for v in box)
        inner = (slice(y1 + 4, y2 - 4), slice(x1 + 4, x2 - 4))
        if alerted:
            assert np.array_equal(preview[inner], players[inner])
        else:
            tiles = preview[inner].reshape(-1, 3)
            assert len(np.unique(tiles, axis=0)) <= 49  # at most 7×7 flat tiles remain of the face
            assert not np.array_equal(preview[inner], players[inner])


def test_runner_stops_every_thread(analyzer, demo_gallery, demo_material) -> None:
    before = threading.active_count()
    runner = LiveRunner(
        {
            "a": parse_source(str(demo_material["video"]), loop=True, realtime=True),
            "b": parse_source("/missing.mp4"),
        },
        analyzer,
        demo_gallery,
        CollectingSink(),
    ).start()
    import time

    time.sleep(1.5)
    states = {s.name: s.state for s in runner.status()}
    runner.stop()
    assert states == {"a": "live", "b": "failed"}
    assert runner.finished
    assert threading.active_count() <= before


def two_cameras(analyzer, gallery, video: str) -> tuple[LiveRunner, CollectingSink]:
    """Two cameras of one file, processed frame by frame to the end."""
    sink = CollectingSink()
    sources = {"a": parse_source(video, lossless=True), "b": parse_source(video, lossless=True)}
    runner = LiveRunner(sources, analyzer, gallery, sink, analyzer.settings.live).start()
    assert runner.wait(180)
    runner.stop()
    return runner, sink


def test_cameras_that_fill_the_cores_run_the_models_on_one_thread_per_call(
    analyzer, demo_gallery, demo_material, monkeypatch
) -> None:
    """Where every core has a camera, a second thread per call only adds hand-overs."""
    video = str(demo_material["video"])
    live = analyzer.settings.live
    assert analyzer.settings.runtime.intra_op_threads == 2

    def engines(cameras: int, cores: int, **overrides) -> list:
        monkeypatch.setattr("openlfr.live.runner.available_cores", lambda: cores)
        sources = {f"cam{i}": parse_source(video, lossless=True) for i in range(cameras)}
        runner = LiveRunner(
            sources, analyzer, demo_gallery, CollectingSink(), live.model_copy(update=overrides)
        )
        return [worker.engine.analyzer for worker in runner.workers]

    assert engines(1, 2) == [analyzer]  # fewer cameras than cores: the given analyzer, as it is
    shared = engines(2, 2)
    assert shared[0] is shared[1] is not analyzer  # one sibling for all the run's cameras
    assert shared[0].settings.runtime.intra_op_threads == 1 and shared[0].pack is analyzer.pack
    assert engines(1, 2, engine_threads=1)[0].settings.runtime.intra_op_threads == 1
    assert engines(3, 2, engine_threads=2) == [analyzer] * 3  # the setting wins

    monkeypatch.setattr("openlfr.live.runner.available_cores", lambda: 2)
    _, sink = two_cameras(analyzer, demo_gallery, video)
    assert sorted(alert.camera for alert in sink.alerts) == ["a", "b"]  # the same alert on each
    assert {alert.subject for alert in sink.alerts} == {ENROLLED_SUBJECT}


# Cases from the adversarial pass on the engines' threads.


def test_an_analyzer_of_ones_own_stays_itself_on_fewer_threads(
    analyzer, demo_gallery, demo_material, monkeypatch
):
    """A subclass that withholds every face (an opt-out, say) must withhold them in every run."""
    from openlfr.vision import FaceAnalyzer
    from openlfr.vision.types import Detections

    class SeesNobody(FaceAnalyzer):
        def detect(self, image, score_threshold=None):
            return Detections.empty()

    withholding = SeesNobody(analyzer.settings, analyzer.pack)
    monkeypatch.setattr("openlfr.live.runner.available_cores", lambda: 2)
    runner, sink = two_cameras(withholding, demo_gallery, str(demo_material["video"]))
    engines = runner.workers[0].engine.analyzer
    assert isinstance(engines, SeesNobody) and engines is not withholding
    assert engines.settings.runtime.intra_op_threads == 1
    assert sink.alerts == [] and runner.status()[0].metrics["faces"] == 0


def test_the_fewer_threads_copy_is_made_once_and_from_the_checked_weights(
    tmp_path: Path, monkeypatch
) -> None:
    """Runs started and stopped all day share one copy (no models loaded per run), and a weights
    file changed on disk after the pack loaded is refused, not loaded."""
    from openlfr.errors import ModelPackError
    from openlfr.settings import load_settings
    from openlfr.vision import FaceAnalyzer
    from tests.support.packs import make_pack

    mine = FaceAnalyzer(load_settings(model_pack=str(make_pack(tmp_path / "pack"))))
    once = mine.with_threads(1)
    assert once is not mine and mine.with_threads(1) is once and once.with_threads(1) is once
    assert once.detector.session is not mine.detector.session
    assert once.detector.score_threshold == mine.detector.score_threshold

    again = FaceAnalyzer(load_settings(model_pack=str(tmp_path / "pack")))
    _ = again.detector, again.embedder  # the models as checked when the pack loaded
    with (tmp_path / "pack" / "rec.onnx").open("ab") as handle:
        handle.write(b"\0")  # weights swapped on disk while the service runs
    with pytest.raises(ModelPackError, match="changed on disk"):
        again.with_threads(1)
