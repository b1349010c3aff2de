"""One alert per sighting: later tracks of the same subject on the same camera join its alert.

The engine raises one event per track that matches a subject (a sighting). An operator should
decide about a person once, not once per track: someone who stands in view, walks out and back,
or is split into two tracks by an occlusion is one alert with several sightings. The rule:

- a sighting attaches to the newest alert for its subject on its camera while that alert is
  open: undecided, or decided no more than ``live.sighting_window`` seconds before it;
- otherwise (another camera, another subject, or a decision older than the window) it starts
  a new alert.

The store applies the rule with the decisions people made (``governance.alerts.record``);
``SightingLedger`` applies it in memory where there is no store and so no decision (``openlfr run
--watchlist``).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta

from openlfr.live.alerts import Alert, AlertSink


def attaches(decided_at: datetime | None, seen_at: datetime, window: float) -> bool:
    """Whether a sighting at ``seen_at`` joins an alert decided at ``decided_at`` (None: undecided)."""
    return decided_at is None or seen_at - decided_at <= timedelta(seconds=window)


class SightingLedger:
    """A sink that marks each sighting with the alert it belongs to, then passes it on. For runs
    without a store: nothing is decided there, so every alert stays open and each (camera,
    subject) is one alert."""

    def __init__(self, sink: AlertSink) -> None:
        self.sink = sink
        self._open: dict[tuple[str, str], tuple[str, int]] = {}
        self._lock = threading.Lock()

    def emit(self, alert: Alert) -> None:
        alert_id, number = self.note(alert)
        self.sink.emit(replace(alert, sighting_of=alert_id, sighting=number))

    def close(self) -> None:
        self.sink.close()

    def note(self, alert: Alert) -> tuple[str, int]:
        """The id of the alert this sighting belongs to, and its number within it (1 = first)."""
        key = (alert.camera, alert.subject)
        with self._lock:
            alert_id, count = self._open.get(key, (alert.alert_id, 0))
            self._open[key] = (alert_id, count + 1)
            return alert_id, count + 1
