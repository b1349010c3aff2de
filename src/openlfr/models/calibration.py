"""A pack's calibration: how often two different people score at or above each threshold.

With it, settings can name a target false alert rate ("one in 5,000 passers-by") instead of a
bare cosine threshold, and every alert and report can state both. The built-in table for
buffalo_s was measured by ``openlfr eval study --part calibrate`` on about 8 million LFW
impostor pairs; below one false match in that many pairs the rate is only an upper bound.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from openlfr.errors import ModelPackError

BUILTIN = Path(__file__).parent / "calibration"


@dataclass(frozen=True)
class Calibration:
    thresholds: list[float]
    false_matches: list[int]
    impostor_pairs: int
    source: str

    def fmr(self, threshold: float) -> float:
        """Per-comparison false match rate at ``threshold`` (an upper bound past the data's resolution)."""
        for t, count in zip(self.thresholds, self.false_matches, strict=True):
            if t >= threshold - 1e-9:
                return max(count, 1) / self.impostor_pairs
        return 1 / self.impostor_pairs

    def false_alert_rate(self, threshold: float, watchlist_size: int) -> float:
        """Expected share of passers-by who raise a false alert: 1 − (1 − FMR)^N."""
        return -math.expm1(watchlist_size * math.log1p(-self.fmr(threshold)))

    def threshold_for(self, rate: float, watchlist_size: int) -> float:
        """The lowest tabulated threshold whose expected false alert rate is at most ``rate``."""
        for t in self.thresholds:
            if self.false_alert_rate(t, watchlist_size) <= rate:
                return t
        raise ModelPackError(
            f"the calibration cannot promise a false alert rate of {rate:g} for {watchlist_size} subjects "
            f"(it resolves rates down to about 1 in {self.impostor_pairs:,} comparisons)"
        )


@lru_cache(maxsize=8)
def load_calibration(pack_name: str, folder: Path | None = None) -> Calibration | None:
    """The calibration shipped with openlfr for a built-in pack, or in a user's pack ``folder``
    (only there: a user's pack named like a built-in one has other weights), if any."""
    path = folder / "calibration.json" if folder else BUILTIN / f"{pack_name}.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return Calibration(
        data["thresholds"], data["false_matches"], data["impostor_pairs"], data.get("source", "")
    )


def operating_point(
    alert_threshold: float,
    false_alert_rate: float | None,
    calibration: Calibration | None,
    watchlist_size: int,
) -> tuple[float, float | None]:
    """(threshold, expected false alert rate) for a watchlist: from a target rate when one is set."""
    if false_alert_rate is not None:
        if calibration is None:
            raise ModelPackError(
                "live.false_alert_rate needs a calibrated model pack; set live.alert_threshold instead"
            )
        threshold = calibration.threshold_for(false_alert_rate, watchlist_size)
        return threshold, calibration.false_alert_rate(threshold, watchlist_size)
    expected = calibration.false_alert_rate(alert_threshold, watchlist_size) if calibration else None
    return alert_threshold, expected
