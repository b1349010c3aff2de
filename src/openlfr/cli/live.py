"""`openlfr run`: live recognition on cameras or files, against a folder or a deployment's watchlist."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from openlfr.cli.common import cli_errors, err, open_governance, out
from openlfr.cli.identity import acting
from openlfr.settings import LiveSettings

if TYPE_CHECKING:
    from openlfr.live.runner import CameraStatus, GalleryFeed
    from openlfr.vision import FaceAnalyzer
    from openlfr.watchlist import Gallery


@cli_errors
def run_command(
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Camera or recording URI (repeatable).")
    ] = None,
    watchlist: Annotated[
        Path | None, typer.Option(help="Folder with one sub-folder of reference photos per subject.")
    ] = None,
    deployment: Annotated[
        str | None, typer.Option(help="Run a live, authorised deployment from the store instead.")
    ] = None,
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
        from openlfr.store.models import Deployment

        gov = open_governance(analyzer)
        actor = acting(gov, "deployments.start")
        deployment = gov.full_id(Deployment, deployment)
        session = open_live_session(gov, deployment, actor.username)
        gallery, live, guard, uris, feed = (
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
        live, uris, feed = analyzer.settings.live, source or [], None
    if not uris:
        raise typer.BadParameter("no camera: give --source URI")
    if threshold is not None:
        live = live.model_copy(update={"alert_threshold": threshold})
    if jsonl is not None:
        from openlfr.live.alerts import JsonLinesSink

        sinks.append(JsonLinesSink(jsonl, include_images=include_images))
    try:
        statuses = run_live(
            analyzer, uris, gallery, options, live, sinks, not no_tracking, duration, guard, feed
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
    watchlist: GalleryFeed | None = None,
) -> list[CameraStatus]:
    """Run the cameras with a live status table until they end, time runs out or ``guard`` says
    stop; a deployment's ``watchlist`` keeps the gallery current meanwhile."""
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
    with Live(status_table(runner.status()), console=err, refresh_per_second=2) as screen:
        try:
            refusal = runner.run_until_done(
                duration, watchlist, guard, on_tick=lambda statuses: screen.update(status_table(statuses))
            )
        except KeyboardInterrupt:
            err.print("stopped")
            refusal = None
    if refusal:
        err.print(f"[bold yellow]matching stopped:[/] {refusal}")
    statuses = runner.status()
    if statuses and all(s.state == "failed" for s in statuses):
        raise CameraError("every camera failed: " + "; ".join(f"{s.name}: {s.last_error}" for s in statuses))
    return statuses


class ConsoleAlertSink:
    """Prints each alert as one line (no images on a terminal)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def emit(self, alert) -> None:
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
