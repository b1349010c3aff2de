"""Faces in stills: `version`, `models`, `detect`, `compare`, and the first-run `demo`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import cv2
import typer
from rich.table import Table

from openlfr import __version__
from openlfr.cli.common import cli_errors, err, out
from openlfr.cli.live import run_live
from openlfr.errors import ImageError, OpenLFRError
from openlfr.settings import get_settings


@cli_errors
def version_command() -> None:
    """Print the openlfr version."""
    out.print(__version__)


@cli_errors
def models_command() -> None:
    """Show the model pack in use, its files, checksums and licence."""
    from openlfr.models import load_pack
    from openlfr.models.pack import BUILTIN_PACKS

    pack = load_pack(get_settings().model_pack)
    out.print(f"[bold]model pack:[/] {pack.name} ({pack.manifest.version}), checksums verified")
    for role, entry in (("detector", pack.manifest.detector), ("recognizer", pack.manifest.recognizer)):
        out.print(f"  {role}: {pack.folder / entry.file}", soft_wrap=True, highlight=False)
        out.print(f"    sha256 {entry.sha256}", highlight=False)
    out.print(f"[bold]source:[/] {pack.manifest.source}", soft_wrap=True)
    out.print(f"[bold yellow]licence:[/] {pack.manifest.licence}")
    if pack.operational:
        out.print("[bold]operational use:[/] permitted by its licence")
    else:
        out.print(
            "[bold red]operational use:[/] not permitted by its licence. Deployments go live on it only "
            "with governance.research_use_acknowledged (a trial), and the public page says so."
        )
    values = ", ".join(f"{key} {value:g}" for key, value in pack.manifest.operating.model_dump().items())
    out.print(f"[bold]thresholds[/] (where settings set none): {values}", highlight=False)
    for name, (manifest, _) in BUILTIN_PACKS.items():
        if name != pack.name:
            use = "operational use permitted" if manifest.operational_use else "research only"
            line = f"[bold]also built in:[/] {name} ({manifest.licence_name}; {use})"
            out.print(f"{line}: model_pack = {name!r}", highlight=False)


@cli_errors
def detect_command(
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


@cli_errors
def compare_command(
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


def describe_choice(pick) -> str:
    """Which face of a still was used, how it was found, and which others were left aside."""
    text = f"used the face at {pick.face.where()}"
    if pick.face.found_by != "direct":
        text += f" (found by the {pick.face.found_by} pass)"
    if pick.others:
        text += f"; {len(pick.others)} other face(s) left aside: " + ", ".join(f.where() for f in pick.others)
    return text


@cli_errors
def demo_command(
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


def register(app: typer.Typer) -> None:
    app.command("version")(version_command)
    app.command("models")(models_command)
    app.command("detect")(detect_command)
    app.command("compare")(compare_command)
    app.command("demo")(demo_command)
