"""Robustness: real LFW faces made harder, and clips where tracking is hard, each before and after.

`python -m benchmarks robustness` prints three tables and writes `results/robustness.json` and
`results/robustness.png`.

1. Stills. Each perturbation of ``evaluation.perturb`` is applied to mated and non-mated probe
   photos. "Before" finds faces as openlfr did before (one detector pass, black fill outside the
   picture), "after" as it does now (``vision.stills``). Per row: detection rate, the median
   cosine of a mated probe's template to the same photo's clean template, and TPIR at FPIR 1% for a
   1,000-subject watchlist (mates enrolled from another photo of them; a probe without a face is a
   miss). The threshold is set per row from its own non-mated probes.
2. Clips: hard cuts (a new backdrop, and the same backdrop), and people crossing, over pairs of
   LFW people. "Before" runs the engine with identity checks and scene cuts off. Per row: identity
   switches, alerts whose probe shows someone else, frames where the preview would show a
   stranger's face unblurred, and enrolled people never alerted.
3. Alerts per person present: the demo clip passing five times, and a walk-past clip, with the
   old cooldown and no grouping (before) against sightings grouped into alerts (after).
"""

from __future__ import annotations

import csv
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import RESULTS, hardware, save
from benchmarks.live import SHARED
from openlfr.evaluation import perturb, scenes, tracking
from openlfr.evaluation.embeddings import central_index
from openlfr.settings import load_settings
from openlfr.vision import FaceAnalyzer
from openlfr.vision.stills import StillDetections
from openlfr.watchlist import Gallery

console = Console()
FPIR = 0.01
WATCHLIST = 1000


@dataclass
class Person:
    identity: str
    photos: list[Path]


def lfw_people() -> list[Person]:
    by_identity: dict[str, list[Path]] = {}
    with (SHARED / "lfw" / "labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            by_identity.setdefault(row["identity"], []).append(SHARED / "lfw" / row["path"])
    return [Person(identity, photos) for identity, photos in sorted(by_identity.items())]


def template(analyzer: FaceAnalyzer, image: np.ndarray, after: bool) -> tuple[np.ndarray | None, str | None]:
    """The central face's template and the pass that found it, as openlfr finds faces now (after)
    or did before (one pass, black outside the picture)."""
    if after:
        found = analyzer.find_faces(image)
    else:
        direct = analyzer.detect(image)
        found = StillDetections(direct, ["direct"] * len(direct))
    if len(found) == 0:
        return None, None
    index = central_index(found.detections, image.shape)
    crop = analyzer.align(image, found.detections[index], still=after)
    return analyzer.embedder.embed(crop)[0], found.found_by[index]


def clean_face(
    analyzer: FaceAnalyzer, path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """A photo, its central face's box and landmarks, and its clean template."""
    image = analyzer.load(path)
    found = analyzer.find_faces(image)
    if len(found) == 0:
        return None
    index = central_index(found.detections, image.shape)
    face = found.detections[index]
    crop = analyzer.align(image, face, still=True)
    return image, face.boxes[0], face.landmarks[0], analyzer.embedder.embed(crop)[0]


def tpir_at_fpir(mated: list[tuple[bool, float]], nonmated: list[float]) -> float:
    """Share of mated probes whose own subject is first and at or above the threshold that lets
    FPIR of the non-mated probes' best scores through (missing faces: a miss, and no false alarm)."""
    ordered = sorted(nonmated, reverse=True)
    allowed = int(FPIR * len(nonmated))
    threshold = ordered[allowed] + 1e-6 if allowed < len(ordered) else -1.0
    hits = sum(rank_one and score >= threshold for rank_one, score in mated)
    return hits / max(len(mated), 1)


def stills(analyzer: FaceAnalyzer, probes: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    people = lfw_people()
    several = [p for p in people if len(p.photos) >= 2]
    order = rng.permutation(len(several))
    mated = [several[i] for i in order[:probes]]
    singles = [p for p in people if len(p.photos) == 1]
    picked = rng.permutation(len(singles))
    nonmated = [singles[i] for i in picked[:probes]]
    fillers = [singles[i] for i in picked[probes : probes + WATCHLIST - probes]]

    gallery = Gallery(analyzer.embedder.dimension)
    with console.status("enrolling a 1,000-subject watchlist"):
        for person in mated + fillers:
            clean = clean_face(analyzer, person.photos[0])
            if clean is not None:
                gallery.add(person.identity, clean[3])
    mated_probes = [(p.identity, clean_face(analyzer, p.photos[1])) for p in mated]
    other_probes = [clean_face(analyzer, p.photos[0]) for p in nonmated]
    mated_probes = [(who, c) for who, c in mated_probes if c is not None]
    other_probes = [c for c in other_probes if c is not None]

    rows = []
    conditions = perturb.conditions()
    for number, (name, change) in enumerate(conditions.items(), start=1):
        started = time.perf_counter()
        row: dict[str, Any] = {"condition": name}
        for stage in ("before", "after"):
            after = stage == "after"
            found, cosines, passes = 0, [], {}
            mated_scores: list[tuple[bool, float]] = []
            for identity, (image, box, points, clean) in mated_probes:
                probe, found_by = template(analyzer, change(image, box, points), after)
                if probe is None:
                    mated_scores.append((False, -1.0))
                    continue
                found += 1
                passes[found_by] = passes.get(found_by, 0) + 1
                cosines.append(float(probe @ clean))
                best = gallery.search(probe[None], 1)[0][0]
                mated_scores.append((best.subject == identity, best.score))
            other_scores = []
            for image, box, points, _clean in other_probes:
                probe, _ = template(analyzer, change(image, box, points), after)
                other_scores.append(-1.0 if probe is None else gallery.search(probe[None], 1)[0][0].score)
            row[stage] = {
                "detected": found / max(len(mated_probes), 1),
                "cosine_median": float(np.median(cosines)) if cosines else None,
                "cosine_at_least_095": float(np.mean(np.array(cosines) >= 0.95)) if cosines else None,
                "tpir": tpir_at_fpir(mated_scores, other_scores),
                "passes": passes,
            }
        rows.append(row)
        seconds = time.perf_counter() - started
        console.print(f"  [{number}/{len(conditions)}] {name}: {seconds:.0f} s", highlight=False)
    return rows


def clip_rows(analyzer: FaceAnalyzer, pairs: int, seed: int, folder: Path) -> list[dict[str, Any]]:
    from openlfr.demo.synthetic import write_video

    rng = np.random.default_rng(seed)
    people = [p for p in lfw_people() if len(p.photos) >= 2]
    chosen = [people[i] for i in rng.choice(len(people), 2 * pairs, replace=False)]
    live = analyzer.settings.live
    unchecked = live.model_copy(
        update={"track_identity_threshold": None, "scene_cut_correlation": None, "cooldown": 60.0}
    )
    makers: dict[str, Callable[[list[tuple[str, Path]]], scenes.Clip]] = {
        "hard cut, new backdrop": lambda pair: scenes.hard_cut(*pair),
        "hard cut, same backdrop": lambda pair: scenes.hard_cut(*pair, same_backdrop=True),
        "two people crossing": scenes.crossing,
    }
    rows = []
    for name, make in makers.items():
        totals = {
            stage: dict.fromkeys(("switches", "wrong_probe", "strangers_shown", "missed"), 0)
            for stage in ("before", "after")
        }
        for a, b in zip(chosen[::2], chosen[1::2], strict=True):
            gallery = Gallery(analyzer.embedder.dimension)
            for person in (a, b):  # enrolled from another photo than the one walking
                clean = clean_face(analyzer, person.photos[1])
                if clean is not None:
                    gallery.add(person.identity, clean[3])
            clip = make([(a.identity, a.photos[0]), (b.identity, b.photos[0])])
            video = folder / "clip.mp4"
            write_video(video, scenes.render(clip), clip.fps)
            enrolled = {identity: identity for identity in gallery.subjects}
            for stage, settings in (("before", unchecked), ("after", live)):
                score = tracking.run_clip(analyzer, video, clip, gallery, settings, enrolled)
                counts = totals[stage]
                counts["switches"] += score.identity_switches
                counts["wrong_probe"] += score.wrong_probe_alerts
                counts["strangers_shown"] += score.unblurred_strangers
                counts["missed"] += sum(score.alerts_for(identity) == 0 for identity in enrolled)
        rows.append({"clip": name, "pairs": pairs} | totals)
        console.print(f"  {name}: {totals}", highlight=False)
    return rows


def alerts_per_person(analyzer: FaceAnalyzer, folder: Path) -> dict[str, Any]:
    """The demo clip passing five times, with the old cooldown (60 s, one alert per pass after it)
    against sightings grouped into alerts; the passes are 100 s apart, as the demo loops."""
    from openlfr.demo.synthetic import demo_frames, write_video, write_watchlist
    from openlfr.live.alerts import CollectingSink
    from openlfr.live.engine import CameraEngine
    from openlfr.live.sightings import SightingLedger
    from openlfr.video import CameraReader, parse_source
    from openlfr.watchlist import load_watchlist_folder

    video = folder / "demo.mp4"
    write_video(video, demo_frames())
    gallery, _ = load_watchlist_folder(write_watchlist(folder / "watchlist"), analyzer)
    before = analyzer.settings.live.model_copy(update={"cooldown": 60.0})
    counts = {}
    for stage, live in (("before", before), ("after", analyzer.settings.live)):
        collected = CollectingSink()
        engine = CameraEngine("cam1", analyzer, gallery, SightingLedger(collected), live)
        for loop in range(5):
            reader = CameraReader("cam1", parse_source(str(video), lossless=True)).start()
            while (frame := reader.slot.get(timeout=10)) is not None:
                engine.process(frame, frame.position + 100 * loop)
            reader.stop()
            engine.finish()
        grouped = {alert.sighting_of for alert in collected.alerts}
        counts[stage] = {
            "passes": 5,
            "alerts": len(collected.alerts) if stage == "before" else len(grouped),
            "sightings": len(collected.alerts),
        }
    return counts


def run(probes: int = 150, pairs: int = 6, seed: int = 0) -> dict[str, Any]:
    info = hardware()
    console.print(f"[bold]hardware:[/] {info}")
    if not (SHARED / "lfw" / "labels.csv").is_file():
        console.print(f"[yellow]skipped: LFW not found under {SHARED}[/]")
        return {}
    analyzer = FaceAnalyzer(load_settings())
    started = time.perf_counter()
    console.print(
        f"[bold]stills[/]: {probes} mated and {probes} non-mated LFW probes, {WATCHLIST:,} subjects"
    )
    still_rows = stills(analyzer, probes, seed)
    with tempfile.TemporaryDirectory(prefix="openlfr-robustness-") as folder:
        console.print(f"[bold]clips[/]: {pairs} pairs of LFW people each")
        clips = clip_rows(analyzer, pairs, seed, Path(folder))
        demo = alerts_per_person(analyzer, Path(folder))
    results = {
        "hardware": info,
        "seconds": round(time.perf_counter() - started, 1),
        "fpir": FPIR,
        "watchlist": WATCHLIST,
        "stills": still_rows,
        "clips": clips,
        "demo_alerts": demo,
    }
    print_tables(results)
    path = save("robustness", results)
    plot(results, RESULTS / "robustness.png")
    console.print(f"wrote {path} and {RESULTS / 'robustness.png'}")
    return results


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def print_tables(results: dict[str, Any]) -> None:
    table = Table(title=f"stills (TPIR at FPIR {results['fpir']:.0%}, {results['watchlist']:,} subjects)")
    for column in ("condition", "found before", "after", "cosine before", "after", "TPIR before", "after"):
        table.add_column(column, justify="left" if column == "condition" else "right")
    for row in results["stills"]:
        b, a = row["before"], row["after"]

        def cos(stage: dict[str, Any]) -> str:
            return "–" if stage["cosine_median"] is None else f"{stage['cosine_median']:.2f}"

        table.add_row(
            row["condition"],
            _pct(b["detected"]),
            _pct(a["detected"]),
            cos(b),
            cos(a),
            _pct(b["tpir"]),
            _pct(a["tpir"]),
        )
    console.print(table)
    clips = Table(title="clips (totals over the pairs)")
    for column in (
        "clip",
        "switches before",
        "after",
        "wrong probe before",
        "after",
        "stranger shown before",
        "after",
        "never alerted before",
        "after",
    ):
        clips.add_column(column, justify="left" if column == "clip" else "right")
    for row in results["clips"]:
        b, a = row["before"], row["after"]
        clips.add_row(
            row["clip"],
            *(
                str(x)
                for key in ("switches", "wrong_probe", "strangers_shown", "missed")
                for x in (b[key], a[key])
            ),
        )
    console.print(clips)
    demo = results["demo_alerts"]
    console.print(
        f"demo clip passing {demo['after']['passes']} times: {demo['before']['alerts']} alerts before, "
        f"{demo['after']['alerts']} after ({demo['after']['sightings']} sightings)"
    )


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["stills"]
    names = [row["condition"] for row in rows]
    y = np.arange(len(rows))
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.32 * len(rows) + 1.5), sharey=True)
    for axis, key, title in (
        (axes[0], "detected", "faces found"),
        (axes[1], "tpir", f"TPIR at FPIR {FPIR:.0%}"),
    ):
        axis.barh(y - 0.2, [row["before"][key] for row in rows], 0.4, label="before", color="#bbbbbb")
        axis.barh(y + 0.2, [row["after"][key] for row in rows], 0.4, label="after", color="#2a6f97")
        axis.set_xlim(0, 1)
        axis.set_title(title)
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names, fontsize=8)
    axes[0].invert_yaxis()
    axes[1].legend(loc="lower right")
    fig.suptitle("openlfr robustness on perturbed LFW photos (1,000-subject watchlist)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
