"""The ``openlfr`` command: every subcommand is a thin wrapper over a library call.

Errors a user can cause are printed as one line on stderr and end with the exit code of
their type (see openlfr.errors); nothing a user does ends in a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import cv2
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from openlfr import __version__
from openlfr.errors import ImageError, OpenLFRError
from openlfr.redaction import RedactingFilter, redact_text, spreadsheet_safe
from openlfr.settings import LiveSettings, Settings, get_settings

if TYPE_CHECKING:
    from openlfr.vision import FaceAnalyzer
    from openlfr.watchlist import Gallery

app = typer.Typer(
    name="openlfr",
    help="Open, accountable live facial recognition.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
eval_app = typer.Typer(help="Measure accuracy on public benchmarks.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

out = Console()
err = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def cli_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn our typed errors into one clear line and their exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except OpenLFRError as exc:
            err.print(Text.assemble(("error:", "bold red"), " ", redact_text(str(exc))), highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logs.")] = False,
) -> None:
    """Set up logging on stderr (stdout stays clean for --json)."""
    try:
        level = "DEBUG" if verbose else get_settings().log_level
    except OpenLFRError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
    handler = RichHandler(console=err, show_path=False, show_time=False)
    handler.addFilter(RedactingFilter())  # no password or token in a URL reaches a log line
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    )


@app.command()
@cli_errors
def version() -> None:
    """Print the openlfr version."""
    out.print(__version__)


@app.command()
@cli_errors
def models() -> None:
    """Show the model pack in use, its files, checksums and licence."""
    from openlfr.models import load_pack

    pack = load_pack(get_settings().model_pack)
    out.print(f"[bold]model pack:[/] {pack.name} ({pack.manifest.version}), checksums verified")
    for role, entry in (("detector", pack.manifest.detector), ("recognizer", pack.manifest.recognizer)):
        out.print(f"  {role}: {pack.folder / entry.file}", soft_wrap=True, highlight=False)
        out.print(f"    sha256 {entry.sha256}", highlight=False)
    out.print(f"[bold]source:[/] {pack.manifest.source}", soft_wrap=True)
    out.print(f"[bold yellow]licence:[/] {pack.manifest.licence}")


@app.command()
@cli_errors
def detect(
    images: Annotated[list[Path], typer.Argument(help="Image files to analyse.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    annotate_to: Annotated[
        Path | None,
        typer.Option("--annotate", help="Write an annotated PNG (a folder when several images are given)."),
    ] = None,
) -> None:
    """Detect faces: boxes, five keypoints and quality measures for every face."""
    from openlfr.vision import FaceAnalyzer
    from openlfr.vision.annotate import annotate

    analyzer = FaceAnalyzer()
    results: list[dict[str, object]] = []
    first_error: OpenLFRError | None = None
    for path in images:
        try:
            image = analyzer.load(path)
            faces = analyzer.analyze(image, embed=False, every_face=True)
        except ImageError as exc:
            first_error = first_error or exc
            results.append({"image": str(path), "error": str(exc), "exit_code": exc.exit_code})
            if not as_json:
                err.print(f"[bold red]error:[/] {exc}", highlight=False)
            continue
        passed = [analyzer.passes_gate(face) for face in faces]
        results.append(
            {
                "image": str(path),
                "width": image.shape[1],
                "height": image.shape[0],
                "faces": [
                    face.to_dict() | {"passes_gate": ok} for face, ok in zip(faces, passed, strict=True)
                ],
            }
        )
        if annotate_to is not None:
            target = annotate_to / f"{path.stem}.annotated.png" if len(images) > 1 else annotate_to
            target.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(target), annotate(image, faces, passed)):
                raise ImageError(f"{target}: could not write the annotated image")
        if not as_json:
            _print_faces(path, faces, passed)
    if as_json:
        out.print_json(json.dumps(results))
    if first_error is not None:
        raise typer.Exit(first_error.exit_code)


def _print_faces(path: Path, faces: list, passed: list[bool]) -> None:
    table = Table(title=f"{path}: {len(faces)} face(s)", title_justify="left")
    for column in ("#", "box x1,y1,x2,y2", "found by", "det", "eyes px", "yaw/pitch/roll", "sharp", "light"):
        table.add_column(column, justify="right")
    table.add_column("quality", justify="right")
    for i, (face, ok) in enumerate(zip(faces, passed, strict=True)):
        q = face.quality
        table.add_row(
            str(i),
            ",".join(f"{v:.0f}" for v in face.box),
            face.found_by + (" (cut off)" if face.cut_off else ""),
            f"{face.score:.2f}",
            f"{q.inter_eye:.0f}",
            f"{q.yaw:+.0f}/{q.pitch:+.0f}/{q.roll:+.0f}",
            f"{q.sharpness:.0f}",
            f"{q.brightness:.0f}",
            f"[{'green' if ok else 'red'}]{q.score:.2f}[/]",
        )
    out.print(table)


@app.command()
@cli_errors
def compare(
    first: Annotated[
        Path, typer.Argument(help="Image of one person (much smaller faces beside them are left aside).")
    ],
    second: Annotated[Path, typer.Argument(help="Image of one person.")],
    largest: Annotated[
        bool, typer.Option(help="Use the largest face even when no face clearly dominates.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Compare the faces in two images: cosine similarity, and same/different at the threshold."""
    from openlfr.vision import FaceAnalyzer

    analyzer = FaceAnalyzer()
    chosen = [
        (path, analyzer.subject_face(analyzer.load(path), label=str(path), largest=largest))
        for path in (first, second)
    ]
    similarity = analyzer.compare(chosen[0][1].face, chosen[1][1].face)
    threshold = analyzer.settings.recognition.verify_threshold
    same = similarity >= threshold
    if as_json:
        faces = {
            key: {
                "image": str(path),
                "used": pick.face.to_dict(),
                "others": [other.to_dict() for other in pick.others],
            }
            for key, (path, pick) in zip("ab", chosen, strict=True)
        }
        out.print_json(
            json.dumps(
                {"similarity": round(similarity, 4), "threshold": threshold, "same_person": same} | faces
            )
        )
        return
    for path, pick in chosen:
        if pick.others or pick.face.found_by != "direct":
            out.print(f"{path}: {describe_choice(pick)}", highlight=False, soft_wrap=True)
    verdict = "[green]same person[/]" if same else "[red]different people[/]"
    out.print(f"similarity {similarity:.4f}  threshold {threshold:.4f}  →  {verdict}")


def describe_choice(pick) -> str:  # type: ignore[no-untyped-def]
    """Which face of a still was used, how it was found, and which others were left aside."""
    text = f"used the face at {pick.face.where()}"
    if pick.face.found_by != "direct":
        text += f" (found by the {pick.face.found_by} pass)"
    if pick.others:
        text += f"; {len(pick.others)} other face(s) left aside: " + ", ".join(f.where() for f in pick.others)
    return text


@app.command()
@cli_errors
def demo(
    output: Annotated[Path, typer.Option(help="Folder for the demo's pictures.")] = Path("openlfr-demo"),
) -> None:
    """Find one person in a team photo, then on a live camera, using only package-shipped photos."""
    from openlfr.models import sample_image_paths
    from openlfr.vision import FaceAnalyzer
    from openlfr.vision.annotate import annotate

    analyzer = FaceAnalyzer()
    samples = sample_image_paths()
    probe = analyzer.subject_face(analyzer.load(samples["yaoming"]), label="yaoming.jpg").face
    team = analyzer.load(samples["players"])
    faces = analyzer.analyze(team)
    gated = [analyzer.passes_gate(face) for face in faces]
    scores = [analyzer.compare(probe, face) for face in faces]
    threshold = analyzer.settings.recognition.verify_threshold
    output.mkdir(parents=True, exist_ok=True)
    picture = annotate(team, faces, gated)
    best = max(range(len(faces)), key=lambda i: scores[i])
    x1, y1, x2, y2 = (int(v) for v in faces[best].box)
    cv2.rectangle(picture, (x1 - 4, y1 - 4), (x2 + 4, y2 + 4), (0, 215, 255), 3)
    cv2.imwrite(str(output / "players.annotated.png"), picture)
    table = Table(title="yaoming.jpg against every face in players.jpg", title_justify="left")
    for column in ("face", "quality", "similarity", f"≥ {threshold:.2f}?"):
        table.add_column(column, justify="right")
    for i in sorted(range(len(faces)), key=lambda i: -scores[i])[:5]:
        table.add_row(
            str(i),
            f"{faces[i].quality.score:.2f}",
            f"{scores[i]:.3f}",
            "match" if scores[i] >= threshold else "",
        )
    out.print(f"{len(faces)} faces in players.jpg, {sum(gated)} pass the quality gate")
    out.print(table)
    out.print(f"annotated picture (best match ringed in yellow): {output / 'players.annotated.png'}")

    from openlfr.demo.synthetic import demo_frames, write_video, write_watchlist

    out.print("\n[bold]Live:[/] a camera made from the same photos, against a watchlist of four people")
    video = output / "demo-camera.mp4"
    write_video(video, demo_frames())
    from openlfr.live.alerts import JsonLinesSink
    from openlfr.watchlist import load_watchlist_folder

    gallery, _ = load_watchlist_folder(write_watchlist(output / "watchlist"), analyzer)
    sink = JsonLinesSink(output / "alerts.jsonl")
    statuses = run_live(analyzer, [str(video)], gallery, {"realtime": True}, analyzer.settings.live, [sink])
    sink.close()
    metrics = statuses[0].metrics
    out.print(
        f"{metrics['frames']} frames, {metrics['faces']} faces, {metrics['tracks']} tracks, "
        f"{metrics['embeddings']} embeddings, {metrics['alerts']} alert(s); "
        f"{metrics['tracks_ended_unmatched']} unmatched tracks were forgotten. "
        f"Alerts: {output / 'alerts.jsonl'}"
    )


@app.command()
@cli_errors
def run(
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Camera or recording URI (repeatable).")
    ] = None,
    watchlist: Annotated[
        Path | None, typer.Option(help="Folder with one sub-folder of reference photos per subject.")
    ] = None,
    deployment: Annotated[
        str | None, typer.Option(help="Run a live, authorised deployment from the store instead.")
    ] = None,
    actor: Annotated[str, typer.Option("--by", help="Who runs it (for the audit trail).")] = "operator",
    jsonl: Annotated[Path | None, typer.Option(help="Append alerts to this JSON-lines file.")] = None,
    include_images: Annotated[
        bool, typer.Option(help="Put probe and reference crops (base64 JPEG) in the JSON lines. Biometric.")
    ] = False,
    loop: Annotated[bool, typer.Option(help="Loop video files and image folders.")] = False,
    realtime: Annotated[bool, typer.Option(help="Play files at their own pace, like a camera.")] = True,
    frame_by_frame: Annotated[
        bool, typer.Option(help="Process every frame of files (no dropping, no pacing).")
    ] = False,
    no_tracking: Annotated[
        bool, typer.Option(help="Baseline: judge every face of every frame alone.")
    ] = False,
    threshold: Annotated[float | None, typer.Option(help="Override live.alert_threshold.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Live recognition on one or more cameras until stopped (Ctrl-C) or the files end."""
    from openlfr.vision import FaceAnalyzer
    from openlfr.watchlist import load_watchlist_folder

    if (watchlist is None) == (deployment is None):
        raise typer.BadParameter("give either --watchlist DIR or --deployment ID")
    analyzer = FaceAnalyzer()
    options = {"loop": loop, "realtime": realtime and not frame_by_frame, "lossless": frame_by_frame}
    sinks: list = []
    guard = None
    if deployment is not None:
        from openlfr.governance import deployments as dep
        from openlfr.governance.live_session import open_live_session

        gov = open_governance()
        gov.__dict__["analyzer"] = analyzer
        session = open_live_session(gov, deployment, actor)
        gallery, live, guard, uris, watchlist = (
            session.gallery,
            session.live,
            session.still_allowed,
            source or session.cameras,
            session.watchlist,
        )
        sinks.append(session.sink)
        err.print(f"deployment {session.name}: {len(gallery)} subjects, threshold {live.alert_threshold:.2f}")
    else:
        assert watchlist is not None
        gallery, report = load_watchlist_folder(watchlist, analyzer)
        err.print(
            f"watchlist: {len(gallery)} subjects, {gallery.template_count} templates; "
            f"{len(report.rejected)} photos rejected"
        )
        for path, reason in report.rejected:
            err.print(f"  rejected {path}: {reason}", highlight=False)
        live, uris, watchlist = analyzer.settings.live, source or [], None
    if not uris:
        raise typer.BadParameter("no camera: give --source URI")
    if threshold is not None:
        live = live.model_copy(update={"alert_threshold": threshold})
    if jsonl is not None:
        from openlfr.live.alerts import JsonLinesSink

        sinks.append(JsonLinesSink(jsonl, include_images=include_images))
    try:
        statuses = run_live(
            analyzer, uris, gallery, options, live, sinks, not no_tracking, duration, guard, watchlist
        )
    finally:
        for sink in sinks:
            sink.close()
        if deployment is not None and sinks[0].pending():
            err.print(
                f"[yellow]{sinks[0].pending()} alert(s) wait in the encrypted spool for the database[/]"
            )
    if deployment is not None:
        faces = sum(int(s.metrics["faces"]) for s in statuses)
        tracks = sum(int(s.metrics["tracks"]) for s in statuses)
        dep.record_counts(gov, deployment, faces, tracks)


def run_live(
    analyzer: FaceAnalyzer,
    uris: list[str],
    gallery: Gallery,
    options: dict[str, bool],
    live: LiveSettings,
    sinks: list | None = None,
    tracking: bool = True,
    duration: float | None = None,
    guard: Callable[[], str | None] | None = None,
    watchlist=None,  # type: ignore[no-untyped-def]
) -> list:
    """Run the cameras with a live status table until they end, time runs out or ``guard`` says
    stop; a deployment's ``watchlist`` (``WatchlistSync``) keeps the gallery current meanwhile."""
    import time

    from rich.live import Live

    from openlfr.errors import CameraError
    from openlfr.live.alerts import FanOutSink
    from openlfr.live.runner import LiveRunner
    from openlfr.live.sightings import SightingLedger
    from openlfr.video import parse_source
    from openlfr.video.hwdecode import decoding_summary

    err.print(f"inference: {analyzer.backend_summary()}", highlight=False)
    err.print(f"video: {decoding_summary(live.decode_device, live.frames_on_device)}", highlight=False)
    sources = {
        f"cam{i + 1}": parse_source(uri, **options, **live.source_options()) for i, uri in enumerate(uris)
    }
    sink = SightingLedger(FanOutSink(ConsoleAlertSink(out), *(sinks or [])))
    runner = LiveRunner(sources, analyzer, gallery, sink, live, tracking=tracking)
    started, checked = time.monotonic(), time.monotonic()
    try:
        with Live(status_table(runner.status()), console=err, refresh_per_second=2) as screen:
            runner.start()
            while not runner.finished:
                if duration is not None and time.monotonic() - started > duration:
                    break
                if watchlist is not None and watchlist.check():
                    runner.set_watchlist(watchlist.gallery)
                if guard is not None and time.monotonic() - checked > 2.0:
                    checked = time.monotonic()
                    refusal = guard()
                    if refusal:
                        err.print(f"[bold yellow]matching stopped:[/] {refusal}")
                        break
                time.sleep(0.5)
                screen.update(status_table(runner.status()))
            runner.stop()
            screen.update(status_table(runner.status()))
    except KeyboardInterrupt:
        err.print("stopping…")
        runner.stop()
    statuses = runner.status()
    if statuses and all(s.state == "failed" for s in statuses):
        raise CameraError("every camera failed: " + "; ".join(f"{s.name}: {s.last_error}" for s in statuses))
    return statuses


def open_governance():  # type: ignore[no-untyped-def]
    """Governance over the store described by settings (created and migrated on first use)."""
    from openlfr.governance import Governance
    from openlfr.store import open_store

    settings = get_settings()
    return Governance(open_store(settings), settings)


class ConsoleAlertSink:
    """Prints each alert as one line (no images on a terminal)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def emit(self, alert) -> None:  # type: ignore[no-untyped-def]
        others = ", ".join(f"{c.subject} {c.score:.2f}" for c in alert.candidates[1:3])
        kind = "[bold red]ALERT[/]" if alert.sighting == 1 else f"[yellow]sighting {alert.sighting}[/]"
        self.console.print(
            f"{kind} {alert.camera} track {alert.track_id}: [bold]{alert.subject}[/] "
            f"score {alert.score:.3f} ≥ {alert.threshold:.2f} from {alert.supporting_faces} faces "
            f"(next: {others or '–'}) latency {alert.latency_ms:.0f} ms",
            highlight=False,
        )

    def close(self) -> None:
        pass


def status_table(statuses: list) -> Table:
    table = Table(title="cameras", title_justify="left")
    for column in (
        "camera",
        "state",
        "decode fps",
        "fps",
        "dropped",
        "faces",
        "tracks",
        "alerts",
        "p50/p95 ms",
        "last error",
    ):
        table.add_column(
            column, justify="right" if column not in ("camera", "state", "last error") else "left"
        )
    for s in statuses:
        m = s.metrics
        latency = f"{m['latency_ms_p50']}/{m['latency_ms_p95']}" if m["latency_ms_p50"] is not None else "–"
        colour = {"live": "green", "failed": "red", "reconnecting": "yellow"}.get(s.state, "white")
        table.add_row(
            s.name,
            f"[{colour}]{s.state}[/]",
            f"{s.decode_fps:.1f}",
            f"{m['processed_fps']:.1f}",
            str(s.dropped),
            str(m["faces"]),
            str(m["tracks"]),
            str(m["alerts"]),
            latency,
            (s.last_error or "")[:60],
        )
    return table


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
) -> None:
    """An NPL-style walk-past trial of the live engine, tracked against frame by frame."""
    import tempfile
    from collections.abc import Iterator

    import numpy as np

    from openlfr.demo.synthetic import write_video
    from openlfr.evaluation import trial, walkpast
    from openlfr.evaluation.datasets import read_labels
    from openlfr.evaluation.report import write_trial_report

    settings = get_settings()
    sizes = sorted(watchlist_size or [100, 1000, 10_000])
    lfw = read_labels(data / "lfw" / "labels.csv", "lfw")
    utk_labels = data / "utkface" / "labels.csv"
    utk = read_labels(utk_labels, "utkface").paths if utk_labels.is_file() else []
    plan = trial.plan_trial(lfw, utk, passers_by, mated_share, seed)
    scene = walkpast.SceneSettings()
    walks = walkpast.schedule([p.image for p in plan.passers_by], scene, seed)
    embedder = study_embedder(settings, settings.model_pack)
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
            help="Model packs side by side (repeatable): 'buffalo_s', 'dlib' or a pack folder. "
            "The first uses the operating threshold; the others are run at the same LFW false match rate."
        ),
    ] = None,
) -> None:
    """The accuracy and equity study in one command, with an HTML and PDF report."""
    from openlfr.evaluation import study
    from openlfr.evaluation.report import write_report

    parts = set(part or study.PARTS)
    unknown = parts - set(study.PARTS)
    if unknown:
        raise typer.BadParameter(f"unknown part(s): {', '.join(sorted(unknown))}")
    settings = get_settings()
    packs = pack or [settings.model_pack]
    use_flip = settings.recognition.flip_fusion if flip is None else flip
    operating = settings.live.alert_threshold if threshold is None else threshold
    all_results = []
    with progress_bar() as bar:

        def progress(label: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(label, total=total)
            return lambda n: bar.advance(task, n)

        for index, name in enumerate(packs):
            embedder = study_embedder(settings, name)
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
                    fit_clusters=index == 0,
                    duplicates=all_results[0].utk_duplicates if index > 0 else None,
                    write_calibration=write_calibration if index == 0 else None,
                )
            )
    paths = write_report(all_results, output)
    for results in all_results:
        print_study_summary(results)
    out.print(f"report: {paths['html']}, {paths['pdf']}, {paths['json']}")


def study_embedder(settings: Settings, pack: str):  # type: ignore[no-untyped-def]
    """The evaluation embedder for a pack name or folder, with the encrypted cache."""
    from openlfr.evaluation.datasets import Embedder
    from openlfr.store.crypto import load_master_key
    from openlfr.vision import FaceAnalyzer

    secret = settings.master_key.get_secret_value() if settings.master_key else None
    key = load_master_key(secret, settings.master_key_path())
    if pack == "dlib":
        from openlfr.vision.dlib_pack import DlibFaceModel

        return Embedder(DlibFaceModel(), settings.data_dir / "eval-cache", key)
    analyzer = FaceAnalyzer(settings.model_copy(update={"model_pack": pack}))
    return Embedder(analyzer, settings.data_dir / "eval-cache", key)


def print_study_summary(results) -> None:  # type: ignore[no-untyped-def]
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


@app.command()
@cli_errors
def crossmatch(
    register_a: Annotated[Path, typer.Argument(help="Folder of images, or CSV with a 'path' column.")],
    register_b: Annotated[Path, typer.Argument(help="The other register.")],
    threshold: Annotated[
        float | None, typer.Option(help="Report pairs at or above this (default: live.alert_threshold).")
    ] = None,
    output: Annotated[Path, typer.Option(help="Candidate pairs, best first (CSV).")] = Path("crossmatch.csv"),
    device: Annotated[
        str, typer.Option(help="'cpu' (numpy), or a PyTorch device such as 'cuda' for the products.")
    ] = "cpu",
) -> None:
    """Every pair of faces across two registers (e.g. missing against found) above a threshold,
    as a candidate list for people to review. Templates stay in memory; nothing is cached."""
    import csv as csv_module

    from openlfr.evaluation.embeddings import embed_images, register_model
    from openlfr.models.calibration import load_calibration
    from openlfr.search.crossmatch import crossmatch as match_registers
    from openlfr.search.crossmatch import read_register
    from openlfr.vision import FaceAnalyzer

    settings = get_settings()
    cut = settings.live.alert_threshold if threshold is None else threshold
    if not 0 < cut <= 1:  # at 0 or below every pair, faceless rows included, would be a candidate
        raise typer.BadParameter(f"{cut} is not a cosine threshold in (0, 1]", param_hint="--threshold")
    analyzer = FaceAnalyzer(settings)
    register = register_model(analyzer)
    paths = {name: read_register(location) for name, location in (("A", register_a), ("B", register_b))}
    with progress_bar() as bar:
        embedded = {}
        for name, files in paths.items():
            task = bar.add_task(f"register {name}", total=len(files))
            embedded[name] = embed_images(
                register, files, lambda n, task=task: bar.advance(task, n), image_limits=settings.images
            )
        task = bar.add_task("cross-matching", total=len(paths["A"]))
        pairs = match_registers(
            embedded["A"].templates(settings.recognition.flip_fusion),
            embedded["B"].templates(settings.recognition.flip_fusion),
            cut,
            progress=lambda n: bar.advance(task, n),
            device=device,
        )
    for name, result in embedded.items():
        for path in result.missing:
            out.print(f"register {name}: rejected {path}: {result.reasons.get(path, 'no face found')}")
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv_module.writer(handle, quoting=csv_module.QUOTE_ALL)
        writer.writerow(["rank", "a", "b", "score"])
        for rank, (i, j, score) in enumerate(zip(pairs.a, pairs.b, pairs.scores, strict=True), start=1):
            row = [rank, str(paths["A"][i]), str(paths["B"][j]), f"{score:.4f}"]
            writer.writerow([spreadsheet_safe(cell) for cell in row])
    usable = [len(r.paths) - len(r.missing) for r in embedded.values()]
    calibration = load_calibration(analyzer.pack.name)
    expected = (
        f"; about {usable[0] * usable[1] * calibration.fmr(cut):.1f} of them expected by chance"
        if calibration
        else ""
    )
    out.print(
        f"{len(pairs)} candidate pair(s) at ≥ {cut:.2f} among {usable[0]:,} × {usable[1]:,} faces{expected}. "
        f"Review them: {output}"
    )


def main() -> None:
    """Console-script entry point."""
    app()


from openlfr import cli_cluster, cli_governance, cli_search, cli_serve  # noqa: E402  (registers more commands)

cli_governance.register(app)
cli_serve.register(app)
cli_search.register(app)
cli_cluster.register(app)

if __name__ == "__main__":
    sys.exit(main())
