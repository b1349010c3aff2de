"""`openlfr eval …`: accuracy on public benchmarks, the walk-past trial and the equity study."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from openlfr.cli.common import cli_errors, out, progress_bar
from openlfr.models.operating import for_pack
from openlfr.settings import get_settings

eval_app = typer.Typer(help="Measure accuracy on public benchmarks.", no_args_is_help=True)


@eval_app.command("lfw")
@cli_errors
def eval_lfw(
    data: Annotated[Path, typer.Option(help="LFW folder with pairs.txt and images/.")] = Path(
        "../shared/data/lfw"
    ),
    pairs: Annotated[Path | None, typer.Option(help="Another pairs file in LFW's format.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """LFW 10-fold verification accuracy (mean ± sd), plain and with mirror fusion."""
    from openlfr.evaluation.lfw import evaluate_lfw
    from openlfr.vision import FaceAnalyzer

    analyzer = FaceAnalyzer()
    with progress_bar() as bar:
        task = bar.add_task("embedding LFW", total=None)
        result = evaluate_lfw(
            analyzer,
            data,
            pairs,
            progress=lambda n: bar.advance(task, n),
            on_start=lambda total: bar.update(task, total=total),
        )
    summary = {
        "pack": analyzer.pack.name,
        "images": result.images,
        "found_beyond_the_direct_pass": result.retried,
        "no_face": result.missing,
        "plain": {
            "mean": result.plain.mean,
            "std": result.plain.std,
            "threshold": float(result.plain.thresholds.mean()),
        },
        "flip": {
            "mean": result.flip.mean,
            "std": result.flip.std,
            "threshold": float(result.flip.thresholds.mean()),
        },
        "accuracy_at_configured_threshold": {"threshold": result.threshold, "accuracy": result.at_threshold},
    }
    if as_json:
        out.print_json(json.dumps(summary))
        return
    out.print(
        f"LFW 10-fold, pack {analyzer.pack.name}, {result.images} images "
        f"({result.retried} found beyond the detector's direct pass, {result.missing} without a face)"
    )
    for name, fold in (("plain", result.plain), ("mirror fusion", result.flip)):
        out.print(
            f"  {name:14s} accuracy {fold.mean * 100:.2f}% ± {fold.std * 100:.2f}  "
            f"(mean threshold {fold.thresholds.mean():.3f})"
        )
    out.print(
        f"  at the configured verify threshold {result.threshold:.2f}: "
        f"accuracy {result.at_threshold * 100:.2f}%"
    )


@eval_app.command("trial")
@cli_errors
def eval_trial(
    data: Annotated[Path, typer.Option(help="Folder holding lfw/ (and utkface/ for padding).")] = Path(
        "../shared/data"
    ),
    output: Annotated[Path, typer.Option(help="Folder for trial.json and trial.png.")] = Path("trial"),
    passers_by: Annotated[int, typer.Option(min=2, help="People walking past the camera.")] = 150,
    mated_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of passers-by who are on the watchlist.")
    ] = 0.2,
    watchlist_size: Annotated[
        list[int] | None, typer.Option(help="Watchlist sizes (repeatable; default 100, 1000, 10000).")
    ] = None,
    keep_video: Annotated[bool, typer.Option(help="Keep the generated clip in the output folder.")] = False,
    seed: Annotated[int, typer.Option(help="Who walks, in which order, and how.")] = 0,
    fps: Annotated[
        int,
        typer.Option(min=1, max=60, help="Frames per second of the clip (walks last as long at any rate)."),
    ] = 10,
) -> None:
    """An NPL-style walk-past trial of the live engine, tracked against frame by frame."""
    import tempfile
    from collections.abc import Iterator

    import numpy as np

    from openlfr.demo.synthetic import write_video
    from openlfr.evaluation import trial, walkpast
    from openlfr.evaluation.datasets import Embedder, read_labels
    from openlfr.evaluation.embeddings import OnnxFaceModel
    from openlfr.evaluation.report import write_trial_report

    settings = for_pack(get_settings())
    sizes = sorted(watchlist_size or [100, 1000, 10_000])
    lfw = read_labels(data / "lfw" / "labels.csv", "lfw")
    utk_labels = data / "utkface" / "labels.csv"
    utk = read_labels(utk_labels, "utkface").paths if utk_labels.is_file() else []
    plan = trial.plan_trial(lfw, utk, passers_by, mated_share, seed)
    scene = walkpast.SceneSettings(fps=fps)
    walks = walkpast.schedule([p.image for p in plan.passers_by], scene, seed)
    embedder = Embedder.for_pack(settings, settings.model_pack)
    assert isinstance(embedder.model, OnnxFaceModel)  # the trial runs an ONNX pack's live engine
    analyzer = embedder.model.analyzer
    flip = settings.recognition.flip_fusion
    output.mkdir(parents=True, exist_ok=True)
    with progress_bar() as bar, tempfile.TemporaryDirectory(prefix="openlfr-trial-") as folder:

        def progress(label: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(label, total=total)
            return lambda n: bar.advance(task, n)

        subjects = sorted(plan.enrolment)
        enrolled = embedder.embed(
            "lfw", [plan.enrolment[s] for s in subjects], progress("enrolling", len(subjects))
        )
        templates = enrolled.templates(flip)
        subject_templates = {s: templates[i] for i, s in enumerate(subjects) if templates[i].any()}
        filling = progress("fillers", max(sizes) - len(subject_templates))

        def embed_pool(paths: list[Path]) -> np.ndarray:
            """Embed through the cache of each image's own set, keeping the order."""
            out = np.zeros((len(paths), analyzer.embedder.dimension), np.float32)
            for name in ("lfw", "utkface"):
                chosen = [i for i, p in enumerate(paths) if p.is_relative_to(data / name)]
                if chosen:
                    out[chosen] = embedder.embed(name, [paths[i] for i in chosen]).templates(flip)
            filling(int(out.any(axis=1).sum()))
            return out

        fillers = trial.embed_fillers(embed_pool, plan.fillers, max(sizes) - len(subject_templates))
        galleries = {size: trial.build_watchlist(size, subject_templates, fillers) for size in sizes}
        video = Path(folder) / "walk-past.mp4"
        total = max(w.first_frame + w.frames for w in walks)
        rendered = progress("rendering the walk-past clip", total)

        def counted(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            for frame in frames:
                rendered(1)
                yield frame

        frames = write_video(video, counted(walkpast.scene_frames(walks, scene)), scene.fps, scene.crf)
        scores = trial.run_trial(
            analyzer,
            video,
            walks,
            plan,
            galleries,
            scene,
            settings.live,
            progress("engine runs", 2 * len(sizes)),
        )
        if keep_video:
            import shutil

            shutil.copy(video, output / "walk-past.mp4")
    paths = write_trial_report(scores, scene, frames, output)
    table = Table(
        "watchlist", "mode", "TPIR", "false alerts / 1,000", "FPIR", "embeddings", "identity switches"
    )
    for s in scores:
        table.add_row(
            f"{s.watchlist_size:,}",
            s.mode,
            f"{s.tpir:.1%}",
            f"{s.false_alerts_per_1000:.1f}",
            f"{s.fpir:.1%}",
            f"{s.embeddings:,}",
            str(int(s.extra.get("identity_switches", 0))) if s.mode == "tracked" else "–",
        )
    out.print(table)
    out.print(f"trial: {paths['json']}, {paths['png']}")


@eval_app.command("study")
@cli_errors
def eval_study(
    data: Annotated[Path, typer.Option(help="Folder holding lfw/ and utkface/.")] = Path("../shared/data"),
    output: Annotated[Path, typer.Option(help="Folder for evaluation.html, .pdf and .json.")] = Path(
        "evaluation"
    ),
    part: Annotated[
        list[str] | None,
        typer.Option(help="verify, identify, demographics, calibrate (repeatable; default all)."),
    ] = None,
    flip: Annotated[
        bool | None, typer.Option(help="Mirror fusion (default: recognition.flip_fusion).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Operating threshold (default: live.alert_threshold).")
    ] = None,
    write_calibration: Annotated[
        Path | None,
        typer.Option(
            help="Also write the first pack's calibration table (JSON) here, and its cluster "
            "thresholds beside it (NAME.clusters.json)."
        ),
    ] = None,
    pack: Annotated[
        list[str] | None,
        typer.Option(
            help="Model packs side by side (repeatable): 'buffalo_s', 'yunet_sface', 'dlib', a pack folder, "
            "or two ONNX packs' recognizers fused on the same faces, 'buffalo_s+yunet_sface'. "
            "The first uses the operating threshold; the others are run at the same LFW false match rate."
        ),
    ] = None,
) -> None:
    """The accuracy and equity study in one command, with an HTML and PDF report."""
    from openlfr.evaluation import study
    from openlfr.evaluation.datasets import Embedder
    from openlfr.evaluation.fusion import check_pack_name
    from openlfr.evaluation.report import write_report

    parts = set(part or study.PARTS)
    unknown = parts - set(study.PARTS)
    if unknown:
        raise typer.BadParameter(f"unknown part(s): {', '.join(sorted(unknown))}")
    packs = pack or [get_settings().model_pack]
    for name in packs:
        check_pack_name(name)
    settings = for_pack(get_settings().model_copy(update={"model_pack": packs[0]}))
    use_flip = settings.recognition.flip_fusion if flip is None else flip
    operating = settings.live.alert_threshold if threshold is None else threshold
    all_results: list[study.StudyResults] = []
    with progress_bar() as bar:

        def progress(label: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(label, total=total)
            return lambda n: bar.advance(task, n)

        for index, name in enumerate(packs):
            embedder = Embedder.for_pack(settings, name)
            pack_threshold = operating
            if index > 0:
                if all_results[0].lfw_impostor is None:
                    raise typer.BadParameter("comparing packs needs the identify or calibrate part")
                pack_threshold = study.operating_threshold_for(
                    embedder, data, use_flip, all_results[0], progress
                )
            all_results.append(
                study.run_study(
                    embedder,
                    data,
                    parts,
                    use_flip,
                    pack_threshold,
                    progress,
                    fit_clusters=name != "dlib",  # each pack its own clusters; dlib never runs live
                    duplicates=all_results[0].utk_duplicates if index > 0 else None,
                    write_calibration=write_calibration if index == 0 else None,
                )
            )
    paths = write_report(all_results, output)
    for results in all_results:
        print_study_summary(results)
    out.print(f"report: {paths['html']}, {paths['pdf']}, {paths['json']}")


def print_study_summary(results) -> None:
    out.print(f"[bold]pack {results.pack}[/] at threshold {results.numbers['operating_threshold']:.3f}")
    out.print_json(json.dumps(results.numbers, default=float))
    for d in results.differentials:
        worst = max((g for g in d.fmr if g.trials), key=lambda g: g.rate)
        best = min((g for g in d.fmr if g.trials), key=lambda g: g.rate)
        out.print(
            f"{d.attribute}: FMR at {d.threshold:.2f} from {best.rate:.5f} ({best.group}) "
            f"to {worst.rate:.5f} "
            f"({worst.group}), p={d.fmr_p_value:.2g}; no significant difference from "
            f"{d.non_significant_from if d.non_significant_from is not None else 'nowhere in the sweep'}",
            highlight=False,
        )
