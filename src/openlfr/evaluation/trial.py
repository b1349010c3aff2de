"""The NPL-style walk-past trial of the whole live engine, not just the model.

A share of the passers-by are watchlist subjects, shown with a different image from the one
enrolled; the rest are on no watchlist. The same clip is run through the live engine with
tracking (best shots, quality gate, fusion, ``min_faces``) and frame by frame (every face its
own one-shot decision), against watchlists of several sizes padded with other people. Per
passer-by we count: was a watchlist subject alerted while walking past (TPIR), and how many
alerts were false (per 1,000 passers-by).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.evaluation.datasets import LabelledSet
from openlfr.evaluation.walkpast import SceneSettings, Walk, walker_at
from openlfr.live.alerts import Alert, CollectingSink
from openlfr.settings import LiveSettings
from openlfr.vision import FaceAnalyzer
from openlfr.watchlist import Gallery

LATE_ALERT_SECONDS = 1.0  # an alert this long after a walker left the frame still counts for them
# The frame-by-frame baseline (every face judged alone, as the usual open-source loop does) keeps
# the same subject quiet this long after an alert, or it would alert on every frame of a walker.
BASELINE_COOLDOWN = 60.0


@dataclass(frozen=True)
class Passerby:
    image: Path
    identity: str
    on_watchlist: bool


@dataclass(frozen=True)
class TrialPlan:
    """Who walks past, who is enrolled with which image, and who may pad the watchlist."""

    passers_by: list[Passerby]
    enrolment: dict[str, Path]  # watchlist subject -> enrolment image (never the walking image)
    fillers: list[Path]  # images of people who do not walk past, in random order


def plan_trial(
    lfw: LabelledSet, extra_fillers: Sequence[Path], passers_by: int, mated_share: float, seed: int = 0
) -> TrialPlan:
    """Mated walkers come from people with two or more images (one enrolled, another walks);
    non-mated walkers from everyone else. Every image of a walker is kept off the filler list."""
    rng = np.random.default_rng(seed)
    identities = lfw.column("identity")
    by_person: dict[str, list[int]] = {}
    for index, identity in enumerate(identities):
        by_person.setdefault(identity, []).append(index)
    people = sorted(by_person)
    several = [p for p in people if len(by_person[p]) >= 2]
    n_mated = round(passers_by * mated_share)
    mated = [several[i] for i in rng.choice(len(several), n_mated, replace=False)]
    others = [p for p in people if p not in set(mated)]
    unmated = [others[i] for i in rng.choice(len(others), passers_by - n_mated, replace=False)]
    walkers = [Passerby(lfw.paths[by_person[p][1]], p, True) for p in mated]
    walkers += [Passerby(lfw.paths[by_person[p][0]], p, False) for p in unmated]
    order = rng.permutation(len(walkers))
    walking = set(mated) | set(unmated)
    fillers = [lfw.paths[i] for i, identity in enumerate(identities) if identity not in walking]
    fillers += list(extra_fillers)
    return TrialPlan(
        [walkers[i] for i in order],
        {p: lfw.paths[by_person[p][0]] for p in mated},
        [fillers[i] for i in rng.permutation(len(fillers))],
    )


def build_watchlist(size: int, enrolled: dict[str, np.ndarray], fillers: np.ndarray) -> Gallery:
    """Every trial subject plus the first fillers up to ``size`` entries (so smaller watchlists are
    subsets of larger ones, as when NPL scaled one filler set to several sizes)."""
    gallery = Gallery(fillers.shape[1])
    for subject, template in enrolled.items():
        gallery.add(subject, template)
    needed = max(size - len(enrolled), 0)
    if needed > len(fillers):
        raise ValueError(f"a watchlist of {size} needs {needed} fillers; only {len(fillers)} are usable")
    for number in range(needed):
        gallery.add(f"filler-{number}", fillers[number])
    return gallery


def embed_fillers(embed: Callable[[list[Path]], np.ndarray], pool: Sequence[Path], needed: int) -> np.ndarray:
    """Templates of the first ``needed`` usable filler images, in pool order: only as many images
    are embedded as the largest watchlist needs (plus a few for faces not found)."""
    found: list[np.ndarray] = []
    count = start = 0
    while count < needed and start < len(pool):
        batch = list(pool[start : start + int((needed - count) * 1.05) + 10])
        templates = embed(batch)
        found.append(templates[templates.any(axis=1)])
        count += len(found[-1])
        start += len(batch)
    if count < needed:
        raise ValueError(f"{needed} fillers needed; only {count} of {len(pool)} images have a usable face")
    return np.concatenate(found)[:needed] if found else np.zeros((0, 0), np.float32)


@dataclass
class TrialScore:
    """One run: a watchlist size and a mode (tracked or frame by frame)."""

    watchlist_size: int
    mode: str
    mated_passers_by: int
    nonmated_passers_by: int
    found: int
    alerts: int
    false_alerts: int
    nonmated_with_false_alert: int
    embeddings: int
    frames: int
    threshold: float
    mitigation: str
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def tpir(self) -> float:
        return self.found / self.mated_passers_by if self.mated_passers_by else float("nan")

    @property
    def false_alerts_per_1000(self) -> float:
        return 1000 * self.false_alerts / (self.mated_passers_by + self.nonmated_passers_by)

    @property
    def fpir(self) -> float:
        """Share of non-mated passers-by who drew at least one alert."""
        return self.nonmated_with_false_alert / self.nonmated_passers_by if self.nonmated_passers_by else 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {
            "tpir": self.tpir,
            "fpir": self.fpir,
            "false_alerts_per_1000_passers_by": self.false_alerts_per_1000,
        }


def score_alerts(
    alerts: Sequence[Alert], walks: Sequence[Walk], plan: TrialPlan, fps: int
) -> tuple[int, int, int]:
    """(mated walkers found, false alerts, non-mated walkers who drew one).

    An alert is true when its subject is a walker on the watchlist who was in view at the
    alert's media time (or had just left). Any other alert is false, and is charged to every
    non-mated walker then in view (at most two lanes), which is how an operator would see it.
    """
    windows = [
        (w.first_frame / fps, (w.first_frame + w.frames) / fps + LATE_ALERT_SECONDS, p)
        for w, p in zip(walks, plan.passers_by, strict=True)
    ]
    found: set[str] = set()
    false_alerts = 0
    charged: set[int] = set()
    for alert in alerts:
        in_view = [
            (i, p) for i, (start, end, p) in enumerate(windows) if start <= alert.media_position <= end
        ]
        if any(p.on_watchlist and p.identity == alert.subject for _, p in in_view):
            found.add(alert.subject)
            continue
        false_alerts += 1
        charged.update(i for i, p in in_view if not p.on_watchlist)
    return len(found), false_alerts, len(charged)


def run_live(
    analyzer: FaceAnalyzer,
    video: Path,
    gallery: Gallery,
    live: LiveSettings,
    tracking: bool,
    on_shot: Callable[[int, np.ndarray, float], None] | None = None,
) -> tuple[list[Alert], dict[str, Any], float]:
    """The real live runner over the whole clip, every frame decoded (an offline trial, not paced)."""
    from openlfr.live.runner import LiveRunner
    from openlfr.video import parse_source

    sink = CollectingSink()
    runner = LiveRunner(
        {"trial": parse_source(str(video), lossless=True)}, analyzer, gallery, sink, live, tracking=tracking
    )
    runner.workers[0].engine.on_shot = on_shot
    runner.start()
    runner.wait()
    runner.stop()
    status = runner.status()[0]
    if status.metrics.get("errors"):
        raise RuntimeError(f"the live engine reported errors during the trial: {status.last_error}")
    return sink.alerts, status.metrics, runner.settings.alert_threshold


class IdentitySwitches:
    """Counts shots of one walker fused into a track that began with another (``CameraEngine.on_shot``)."""

    def __init__(self, walks: Sequence[Walk], scene: SceneSettings) -> None:
        self.walks, self.scene = walks, scene
        self.first: dict[int, int | None] = {}
        self.count = 0

    def __call__(self, track_id: int, box: np.ndarray, position: float) -> None:
        walker = walker_at(self.walks, round(position * self.scene.fps), box, self.scene)
        if self.first.setdefault(track_id, walker) != walker:
            self.count += 1


def run_trial(
    analyzer: FaceAnalyzer,
    video: Path,
    walks: Sequence[Walk],
    plan: TrialPlan,
    galleries: dict[int, Gallery],
    scene: SceneSettings,
    live: LiveSettings,
    progress: Callable[[int], None] | None = None,
) -> list[TrialScore]:
    """Each watchlist size, tracked and frame by frame."""
    mated = sum(p.on_watchlist for p in plan.passers_by)
    scores = []
    for size, gallery in galleries.items():
        for mode, tracking in (("tracked", True), ("frame by frame", False)):
            switches = IdentitySwitches(walks, scene)
            settings = live if tracking else live.model_copy(update={"cooldown": BASELINE_COOLDOWN})
            alerts, metrics, threshold = run_live(analyzer, video, gallery, settings, tracking, switches)
            found, false_alerts, charged = score_alerts(alerts, walks, plan, scene.fps)
            scores.append(
                TrialScore(
                    size,
                    mode,
                    mated,
                    len(plan.passers_by) - mated,
                    found,
                    len(alerts),
                    false_alerts,
                    charged,
                    int(metrics["embeddings"]),
                    int(metrics["frames"]),
                    threshold,
                    live.mitigation,
                    {"identity_switches": switches.count, "sightings": len(alerts)},
                )
            )
            if progress:
                progress(1)
    return scores
