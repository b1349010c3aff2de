"""Tracking and open-set search on small inputs whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.live.tracker import IoUTracker, iou_matrix
from openlfr.vision import Detections
from openlfr.watchlist import Gallery


def dets(boxes: list[list[float]], scores: list[float] | None = None) -> Detections:
    array = np.array(boxes, np.float32).reshape(-1, 4)
    return Detections(
        array, np.array(scores or [0.9] * len(array), np.float32), np.zeros((len(array), 5, 2), np.float32)
    )


def test_iou_matrix_known_values() -> None:
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])


def test_two_walkers_keep_their_ids_as_they_move() -> None:
    tracker = IoUTracker()
    ids = []
    for step in range(10):
        t = step * 0.1
        left = [10 + 4 * step, 50, 60 + 4 * step, 110]
        right = [300 - 4 * step, 40, 350 - 4 * step, 100]
        ids.append(tuple(tracker.update(dets([right, left] if step % 2 else [left, right]), t).track_ids))
    firsts = {ids[0][0], ids[0][1]}
    for step, pair in enumerate(ids):
        assert set(pair) == firsts
        assert pair == (ids[0] if step % 2 == 0 else ids[0][::-1])


def test_fast_mover_is_followed_by_its_velocity() -> None:
    tracker = IoUTracker(match_iou=0.2)
    steps = [5, 10, 15, 20, 25, 30, 30, 30, 30, 30]
    positions = np.concatenate([[0], np.cumsum(steps)])
    track_ids = [
        tracker.update(dets([[x, 0, x + 40, 40]]), i * 0.1).track_ids[0] for i, x in enumerate(positions)
    ]
    # 30 px steps on a 40 px face overlap by IoU 0.14 < 0.2: only the predicted box keeps the track.
    assert iou_matrix(np.array([[0, 0, 40, 40.0]]), np.array([[30, 0, 70, 40.0]]))[0, 0] < 0.2
    assert len(set(track_ids)) == 1


def test_tracks_end_after_max_age_and_new_people_get_new_ids() -> None:
    tracker = IoUTracker(max_age=0.5)
    first = tracker.update(dets([[0, 0, 50, 50]]), 0.0).track_ids[0]
    assert tracker.update(dets([]), 0.3).ended == []
    update = tracker.update(dets([]), 0.6)
    assert update.ended == [first]
    assert tracker.update(dets([[0, 0, 50, 50]]), 0.7).track_ids[0] != first


def test_doubtful_detection_continues_a_track_but_never_starts_one() -> None:
    tracker = IoUTracker(high_score=0.6)
    assert tracker.update(dets([[0, 0, 50, 50]], [0.55]), 0.0).track_ids[0] == -1
    started = tracker.update(dets([[0, 0, 50, 50]], [0.9]), 0.1).track_ids[0]
    assert tracker.update(dets([[2, 0, 52, 50]], [0.55]), 0.2).track_ids[0] == started


def unit(vector: list[float]) -> np.ndarray:
    v = np.array(vector, np.float32)
    return v / np.linalg.norm(v)


def test_gallery_scores_each_subject_by_its_best_template() -> None:
    gallery = Gallery(dimension=3)
    gallery.add("ann", np.stack([unit([1, 0, 0]), unit([0, 1, 0])]))
    gallery.add("bob", unit([0, 0, 1])[None])
    gallery.add("cid", unit([1, 1, 0])[None])
    [ranked] = gallery.search(unit([0, 1, 0.1])[None], k=3)
    assert [c.subject for c in ranked] == ["ann", "cid", "bob"]
    assert ranked[0].score == pytest.approx(float(unit([0, 1, 0.1]) @ unit([0, 1, 0])))
    assert gallery.template_count == 4 and len(gallery) == 3


def test_gallery_top_k_remove_and_empty() -> None:
    gallery = Gallery(dimension=2)
    assert gallery.search(unit([1, 0])[None]) == [[]]
    gallery.add("ann", unit([1, 0])[None])
    gallery.add("bob", unit([0, 1])[None])
    results = gallery.search(np.stack([unit([1, 0.1]), unit([0.1, 1])]), k=1)
    assert [r[0].subject for r in results] == ["ann", "bob"]
    gallery.remove("ann")
    assert gallery.search(unit([1, 0])[None], k=5)[0][0].subject == "bob"
    with pytest.raises(ValueError):
        gallery.add("empty", np.zeros((0, 2), np.float32))


def test_gallery_states_stay_whole_as_subjects_are_added_removed_and_copied() -> None:
    gallery = Gallery(dimension=2)
    gallery.add("ann", unit([1, 0])[None])
    remote = gallery.templates_only()  # a camera's copy: its own from here on
    gallery.add("bob", unit([0, 1])[None])
    remote.add("cid", unit([1, 1])[None])
    assert gallery.subjects == ["ann", "bob"] and remote.subjects == ["ann", "cid"]
    gallery.add("ann", unit([1, 1])[None])  # more templates for someone enrolled
    assert gallery.template_count == 3 and len(gallery.templates_of("ann")) == 2
    assert len(remote.templates_of("ann")) == 1  # the copy keeps what it had
    gallery.remove("bob")
    gallery.add("dee", unit([0, 1])[None])
    [ranked] = gallery.search(unit([0, 1])[None], k=3)
    assert ranked[0].subject == "dee" and {c.subject for c in ranked} == {"ann", "dee"}
    with pytest.raises(ValueError, match="not in the gallery"):
        gallery.templates_of("bob")


def test_enrolling_many_subjects_one_by_one_keeps_every_one() -> None:
    rng = np.random.default_rng(1)
    templates = rng.standard_normal((3000, 8)).astype(np.float32)
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    gallery = Gallery(dimension=8)
    for i, template in enumerate(templates):
        gallery.add(f"s{i}", template[None])
    assert len(gallery) == 3000 and gallery.subjects[1234] == "s1234"
    found = gallery.search(templates[[7, 2999]], k=1)
    assert [r[0].subject for r in found] == ["s7", "s2999"]


def test_a_gallery_travels_to_another_process_whole() -> None:
    import pickle

    gallery = Gallery(dimension=2)
    gallery.add("ann", unit([1, 0])[None], reference=np.zeros((4, 4, 3), np.uint8))
    copy = pickle.loads(pickle.dumps(gallery))  # as Ray sends it to a camera actor
    copy.add("bob", unit([0, 1])[None])
    assert copy.subjects == ["ann", "bob"] and gallery.subjects == ["ann"] and "ann" in copy.references
