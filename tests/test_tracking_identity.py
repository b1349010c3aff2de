"""One person per track: hard cuts and people crossing, on real faces (package photos and LFW)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from openlfr.demo.synthetic import write_video
from openlfr.evaluation import scenes, tracking
from openlfr.live.scene import SceneCutDetector
from openlfr.watchlist import Gallery

pytestmark = pytest.mark.slow


def portrait(analyzer, image: np.ndarray, scale: float = 2.4, size: int = 250) -> np.ndarray:
    """An LFW-like portrait: the largest face centred, ``scale`` times its box, ``size`` pixels square."""
    face = max(analyzer.analyze(image, embed=False), key=lambda f: f.area)
    x1, y1, x2, y2 = face.box
    side = max(x2 - x1, y2 - y1) * scale
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    m = size / side
    matrix = np.array([[m, 0, size / 2 - cx * m], [0, m, size / 2 - cy * m]], np.float32)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def people(analyzer, yaoming, astronaut, tmp_path_factory) -> dict[str, Path]:
    """Two real people as portrait files (Yao Ming, the astronaut Eileen Collins)."""
    folder = tmp_path_factory.mktemp("people")
    paths = {}
    for name, image in (("yao", yaoming), ("collins", astronaut)):
        paths[name] = folder / f"{name}.png"
        cv2.imwrite(str(paths[name]), portrait(analyzer, image))
    return paths


def gallery_of(analyzer, people: dict[str, Path], names: list[str]) -> Gallery:
    gallery = Gallery(analyzer.embedder.dimension)
    for name in names:
        gallery.add(name, analyzer.subject_face(analyzer.load(people[name])).face.embedding)
    return gallery


def run(analyzer, clip, tmp_path, gallery, live=None):
    video = tmp_path / "clip.mp4"
    write_video(video, scenes.render(clip), clip.fps)
    enrolled = {name: name for name in gallery.subjects}
    return tracking.run_clip(analyzer, video, clip, gallery, live or analyzer.settings.live, enrolled)


@pytest.mark.parametrize("same_backdrop", [False, True], ids=["new-backdrop", "same-backdrop"])
def test_a_hard_cut_never_hands_an_alerted_track_to_the_next_person(
    analyzer, people, tmp_path, same_backdrop
) -> None:
    clip = scenes.hard_cut(
        ("yao", people["yao"]), ("collins", people["collins"]), same_backdrop=same_backdrop
    )
    only_yao = run(analyzer, clip, tmp_path, gallery_of(analyzer, people, ["yao"]))
    assert only_yao.alerts_for("yao") >= 1 and only_yao.wrong_probe_alerts == 0
    assert only_yao.identity_switches == 0
    assert only_yao.unblurred_strangers == 0  # her face is never shown under his alert

    both = run(analyzer, clip, tmp_path, gallery_of(analyzer, people, ["yao", "collins"]))
    assert both.identity_switches == 0 and both.wrong_probe_alerts == 0
    hers = [a for a in both.alerts if a.subject == "collins"]
    assert hers, "her own alert must come after the cut"
    cut_at = clip.frames / 2 / clip.fps
    assert hers[0].media_position - cut_at <= 1.0  # within a second of her appearing


def test_without_identity_checks_the_cut_shows_a_stranger(analyzer, people, tmp_path) -> None:
    """The same clip with the checks off: this is the failure the checks above prevent."""
    clip = scenes.hard_cut(("yao", people["yao"]), ("collins", people["collins"]), same_backdrop=True)
    live = analyzer.settings.live.model_copy(
        update={"track_identity_threshold": None, "scene_cut_correlation": None}
    )
    unchecked = run(analyzer, clip, tmp_path, gallery_of(analyzer, people, ["yao"]), live)
    assert unchecked.unblurred_strangers > 0


def test_people_crossing_keep_their_own_tracks(analyzer, people, tmp_path) -> None:
    clip = scenes.crossing([("yao", people["yao"]), ("collins", people["collins"])])
    score = run(analyzer, clip, tmp_path, gallery_of(analyzer, people, ["yao", "collins"]))
    assert score.identity_switches == 0 and score.wrong_probe_alerts == 0
    assert score.alerts_for("yao") >= 1 and score.alerts_for("collins") >= 1
    assert score.unblurred_strangers == 0


def test_lfw_pairs_cut_and_cross_without_identity_switches(analyzer, shared_data, tmp_path) -> None:
    """Six pairs of real people from LFW through both hard cases: no switch, no wrong probe."""
    import csv

    rows = list(csv.DictReader((shared_data / "lfw" / "labels.csv").open()))
    rng = np.random.default_rng(19)
    chosen = [rows[i] for i in rng.choice(len(rows), 12, replace=False)]
    people = {row["identity"]: shared_data / "lfw" / row["path"] for row in chosen}
    names = sorted(people)[:12]
    for first, second in zip(names[::2], names[1::2], strict=True):
        gallery = Gallery(analyzer.embedder.dimension)
        for name in (first, second):
            found = analyzer.find_faces(analyzer.load(people[name]))
            centre = int(np.argmin(np.abs(found.detections.boxes[:, [0, 2]].mean(axis=1) - 125)))
            crop = analyzer.align(analyzer.load(people[name]), found.detections[centre], still=True)
            gallery.add(name, analyzer.embedder.embed(crop)[0])
        pair = [(first, people[first]), (second, people[second])]
        for clip in (scenes.hard_cut(*pair, same_backdrop=True), scenes.crossing(pair)):
            score = run(analyzer, clip, tmp_path, gallery)
            assert score.identity_switches == 0 and score.wrong_probe_alerts == 0, (first, second)
            assert score.unblurred_strangers == 0, (first, second)


def test_scene_cuts_resolution_changes_and_black_frames(people) -> None:
    detector = SceneCutDetector(0.2)
    from openlfr.evaluation.walkpast import background

    street = np.clip(background(0), 0, 255).astype(np.uint8)
    assert not detector.is_cut(street)
    assert not detector.is_cut(np.clip(background(3), 0, 255).astype(np.uint8))  # the camera sways
    assert not detector.is_cut(np.clip(background(3) * 0.5, 0, 255).astype(np.uint8))  # lights dim
    assert detector.is_cut(np.clip(background(4, seed=9), 0, 255).astype(np.uint8))  # another street
    assert detector.is_cut(np.zeros_like(street))  # the picture goes black
    assert not detector.is_cut(np.zeros_like(street))  # and stays black
    assert detector.is_cut(cv2.resize(street, (640, 360)))  # a new resolution is a new picture


def test_black_frames_and_a_resolution_change_mid_stream(analyzer, people, tmp_path) -> None:
    """A stream that goes black, then comes back at another resolution (two MPEG-TS segments
    joined, as a camera renegotiating its stream): every frame processed, tracks ended at each
    change, only the right person alerted."""
    import av

    from openlfr.live.alerts import CollectingSink
    from openlfr.live.engine import CameraEngine
    from openlfr.video import CameraReader, parse_source

    clip = scenes.hard_cut(("yao", people["yao"]), ("yao", people["yao"]), same_backdrop=True)
    frames = list(scenes.render(clip))[:20]
    parts = [
        [cv2.resize(f, (640, 360)) for f in frames] + [np.zeros((360, 640, 3), np.uint8)] * 5,
        frames,  # 1280×720
    ]
    joined = tmp_path / "renegotiated.ts"
    with joined.open("wb") as out:
        for number, part in enumerate(parts):
            segment = tmp_path / f"part{number}.ts"
            with av.open(str(segment), "w", format="mpegts") as container:
                stream = container.add_stream("libx264", rate=10)
                stream.width, stream.height, stream.pix_fmt = part[0].shape[1], part[0].shape[0], "yuv420p"
                for image in part:
                    container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
                container.mux(stream.encode(None))
            out.write(segment.read_bytes())

    sink = CollectingSink()
    engine = CameraEngine("cam", analyzer, gallery_of(analyzer, people, ["yao"]), sink)
    reader = CameraReader("cam", parse_source(str(joined), lossless=True)).start()
    sizes = []
    try:
        while (frame := reader.slot.get(timeout=10)) is not None:
            sizes.append(frame.image.shape[:2])
            engine.process(frame, float(len(sizes)) / 10)
    finally:
        reader.stop()
    assert (360, 640) in sizes and (720, 1280) in sizes and len(sizes) == 45
    assert engine.metrics.errors == 0 and engine.metrics.scene_cuts >= 2  # to black, and to the new size
    assert sink.alerts and {a.subject for a in sink.alerts} == {"yao"}
    assert len(sink.alerts) == 2  # one sighting before the stream went black, one after it came back
