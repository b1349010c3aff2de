"""From impostor scores to the sentence users need: "threshold t gives about one false alert in
X passers-by against a watchlist of N subjects".

Each passer-by is compared with N subjects; with a per-comparison false match rate FMR(t),
the chance that at least one comparison passes is FPIR(t, N) = 1 − (1 − FMR(t))^N. The
impostor set bounds what can be claimed: below one false match in the number of impostor
pairs, rates are upper bounds, and the table says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CalibrationRow:
    threshold: float
    fmr: float
    resolved: bool
    passers_by_per_false_alert: dict[int, float]


def fpir(fmr: float, watchlist_size: int) -> float:
    return float(-np.expm1(watchlist_size * np.log1p(-min(fmr, 1 - 1e-15))))


def calibration_table(
    impostor: np.ndarray, thresholds: np.ndarray, sizes: tuple[int, ...] = (100, 1000, 10_000)
) -> list[CalibrationRow]:
    ordered = np.sort(impostor)
    rows = []
    for t in thresholds:
        matches = len(ordered) - int(np.searchsorted(ordered, t, side="left"))
        resolved = matches > 0
        fmr = (matches if resolved else 1) / len(ordered)  # an upper bound when nothing passed
        rows.append(CalibrationRow(float(t), fmr, resolved, {n: 1 / fpir(fmr, n) for n in sizes}))
    return rows


def threshold_for_rate(impostor: np.ndarray, watchlist_size: int, false_alert_rate: float) -> float:
    """The lowest threshold whose expected FPIR for this watchlist is at most ``false_alert_rate``."""
    per_comparison = -np.expm1(np.log1p(-false_alert_rate) / watchlist_size)
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(per_comparison * len(ordered)))
    return float(np.nextafter(ordered[min(allowed, len(ordered) - 1)], np.inf))


def fmr_curve(impostor: np.ndarray, thresholds: np.ndarray) -> dict[str, object]:
    """The per-comparison FMR at each threshold, as stored in a pack's calibration file."""
    ordered = np.sort(impostor)
    counts = len(ordered) - np.searchsorted(ordered, thresholds, side="left")
    return {
        "impostor_pairs": len(ordered),
        "thresholds": [round(float(t), 3) for t in thresholds],
        "false_matches": [int(c) for c in counts],
    }
