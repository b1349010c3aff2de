"""What the live engine makes of a labelled clip (``evaluation.scenes``): identity switches,
alerts whose probe shows someone else, and the alerts each person drew.

An identity switch is a shot of one person fused into a track that began with another: the
error that hands a person's alert, or their unblurred face, to someone else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.evaluation.scenes import Clip
from openlfr.live.alerts import Alert, CollectingSink
from openlfr.live.engine import CameraEngine
from openlfr.settings import LiveSettings
from openlfr.video import CameraReader, parse_source
from openlfr.vision import FaceAnalyzer
from openlfr.watchlist import Gallery


@dataclass
class TrackingScore:
    """Counts over one clip (no biometric data)."""

    shots: int = 0
    identity_switches: int = 0
    alerts: list[Alert] = field(default_factory=list)
    wrong_probe_alerts: int = 0  # the probe face shows someone other than the alerted subject
    unblurred_strangers: int = 0  # frames × faces shown unblurred whose own person never alerted
    metrics: dict[str, Any] = field(default_factory=dict)

    def alerts_for(self, subject: str) -> int:
        return sum(alert.subject == subject for alert in self.alerts)


def run_clip(
    analyzer: FaceAnalyzer,
    video: Path,
    clip: Clip,
    gallery: Gallery,
    live: LiveSettings,
    enrolled: dict[str, str],
) -> TrackingScore:
    """Every frame of ``video`` (rendered from ``clip``) through a real engine. ``enrolled`` maps
    each person of the clip on the watchlist to their subject name."""
    score = TrackingScore()
    first_identity: dict[int, str | None] = {}

    def on_shot(track_id: int, box: np.ndarray, position: float) -> None:
        identity = clip.who(round(position * clip.fps), box)
        score.shots += 1
        first = first_identity.setdefault(track_id, identity)
        if identity != first:
            score.identity_switches += 1

    sink = CollectingSink()
    engine = CameraEngine("clip", analyzer, gallery, sink, live, on_shot=on_shot)
    alerted_people: set[str] = set()
    reader = CameraReader("clip", parse_source(str(video), lossless=True)).start()
    try:
        while (frame := reader.slot.get(timeout=10)) is not None:
            engine.watch()  # as the console's live preview does: what it would show is counted below
            engine.process(frame)
            index = round(frame.position * clip.fps)
            alerted_people |= {
                who
                for alert in sink.alerts
                if (who := _probe_person(clip, alert)) is not None and enrolled.get(who) == alert.subject
            }
            for box, _track, shown in engine.last_boxes:
                if shown and clip.who(index, box) not in alerted_people:
                    score.unblurred_strangers += 1
    finally:
        reader.stop()
    engine.finish()
    score.alerts = list(sink.alerts)
    for alert in score.alerts:
        person = _probe_person(clip, alert)
        if person is None or enrolled.get(person) != alert.subject:
            score.wrong_probe_alerts += 1
    score.metrics = engine.metrics.snapshot()
    return score


def _probe_person(clip: Clip, alert: Alert) -> str | None:
    if alert.probe_box is None or alert.probe_position is None:
        return None
    return clip.who(round(alert.probe_position * clip.fps), np.asarray(alert.probe_box))
