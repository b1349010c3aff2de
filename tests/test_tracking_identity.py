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


def portrait(
    analyzer, image: np.ndarray, scale: float = 2.4, size: int = 250, central: bool = False
) -> np.ndarray:
    """An LFW-like portrait: the largest face (or the most central one) centred, ``scale`` times its
    box, ``size`` pixels square."""
    faces = analyzer.analyze(image, embed=False)
    middle = np.array(image.shape[1::-1]) / 2
    if central:
        face = min(faces, key=lambda f: float(np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - middle)))
    else:
        face = max(faces, key=lambda f: f.area)
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
        gallery.add(name, analyzer.subject_face(analyzer.load(people[name]), largest=True).face.embedding)
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


def test_scene_cuts_resolution_changes_and_black_frames() -> None:
    from openlfr.evaluation.walkpast import background

    detector = SceneCutDetector(0.2)

    def street(index: int, seed: int = 0, light: float = 1.0) -> np.ndarray:
        return np.clip(background(index, seed) * light, 0, 255).astype(np.uint8)

    assert detector.change(street(0)) == "none"
    assert detector.change(street(3)) == "none"  # the camera sways
    assert detector.change(street(3, light=0.5)) == "none"  # lights dim
    assert detector.change(street(4, seed=9)) == "cut"  # another street
    assert detector.change(np.zeros_like(street(0))) == "none"  # black frames show nobody: skipped
    assert detector.change(np.full_like(street(0), 255)) == "none"  # nor does a flash
    assert detector.change(street(5, seed=9)) == "none"  # the same street after the flash
    assert detector.change(street(6, seed=4)) == "cut"
    assert detector.change(cv2.resize(street(6, seed=4), (640, 360))) == "resized"


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
    assert engine.metrics.errors == 0
    assert sink.alerts and {a.subject for a in sink.alerts} == {"yao"}
    assert len(sink.alerts) == 2  # one sighting before the stream went black, one after it came back


LOOKALIKES = [  # LFW pairs of different people whose photos score 0.28 against each other
    ("Lyle_Vanclief", "Gerard_Kleisterlee"),
    ("Antanas_Valionis", "Svetislav_Pesic"),
    ("Dan_Duquette", "John_Richardson"),
]


def lfw_portraits(analyzer, shared_data, names, folder) -> dict[str, Path]:
    paths = {}
    for name in names:
        photo = analyzer.load(shared_data / "lfw" / "images" / name / f"{name}_0001.jpg")
        paths[name] = folder / f"{name}.png"
        cv2.imwrite(str(paths[name]), portrait(analyzer, photo, central=True))
    return paths


def test_a_lookalike_who_takes_the_place_is_never_fused_nor_shown(analyzer, shared_data, tmp_path) -> None:
    for subject, stranger in LOOKALIKES:
        faces = lfw_portraits(analyzer, shared_data, (subject, stranger), tmp_path)
        clip = scenes.hard_cut((subject, faces[subject]), (stranger, faces[stranger]), same_backdrop=True)
        score = run(analyzer, clip, tmp_path, gallery_of(analyzer, faces, [subject]))
        assert score.alerts_for(subject) >= 1, subject
        assert score.identity_switches == 0 and score.unblurred_strangers == 0, (subject, stranger)


def test_a_subject_who_takes_a_strangers_place_is_still_found(analyzer, people, tmp_path) -> None:
    """The stranger's track has spent its budget when the subject appears where they stood: the
    periodic identity check finds the subject all the same."""
    clip = scenes.hard_cut(("collins", people["collins"]), ("yao", people["yao"]), same_backdrop=True)
    score = run(analyzer, clip, tmp_path, gallery_of(analyzer, people, ["yao"]))
    assert score.alerts_for("yao") == 1 and score.wrong_probe_alerts == 0
    cut_at = clip.frames / 2 / clip.fps
    assert score.alerts[0].media_position - cut_at <= analyzer.settings.live.verify_interval + 0.5


def test_fast_pans_and_flashes_do_not_lose_the_person(analyzer, people) -> None:
    import time

    from openlfr.live.alerts import CollectingSink
    from openlfr.live.engine import CameraEngine
    from openlfr.video.frames import Frame

    still = next(iter(scenes.render(scenes.hard_cut(("yao", people["yao"]), ("yao", people["yao"])))))
    gallery = gallery_of(analyzer, people, ["yao"])
    for kind in ("pan", "flash"):
        sink = CollectingSink()
        engine = CameraEngine("cam", analyzer, gallery, sink)
        for i in range(16):  # the camera pans 60 px a frame, keeping the face in view
            frame = np.roll(still, 60 * (i - 8), axis=1) if kind == "pan" else still
            if kind == "flash" and i % 3 == 2:
                frame = np.full_like(still, 255)  # the sensor saturates
            engine.process(Frame(frame, i, i / 10, time.time()))
        engine.finish()
        assert [a.subject for a in sink.alerts] == ["yao"], kind


def test_a_face_cut_by_the_frame_edge_never_alerts(analyzer, people) -> None:
    import time

    from openlfr.live.alerts import CollectingSink
    from openlfr.live.engine import CameraEngine
    from openlfr.video.frames import Frame

    frame = next(iter(scenes.render(scenes.hard_cut(("yao", people["yao"]), ("yao", people["yao"])))))
    face = analyzer.subject_face(frame).face
    top = int((face.landmarks[:, 1].min() + face.landmarks[:, 1].max()) / 2)  # the eyes leave the picture
    sink = CollectingSink()
    engine = CameraEngine("cam", analyzer, gallery_of(analyzer, people, ["yao"]), sink)
    for i in range(30):
        engine.process(Frame(np.ascontiguousarray(frame[top:]), i, i / 10, time.time()))
    assert sink.alerts == [] and engine.metrics.embeddings == 0
