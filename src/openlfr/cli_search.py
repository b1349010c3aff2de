"""`openlfr gallery …` and `openlfr search`: retrospective search of stills and recordings."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from openlfr.cli import cli_errors, err, open_governance, out, progress_bar
from openlfr.errors import DatasetError
from openlfr.redaction import spreadsheet_safe

gallery_app = typer.Typer(
    help="Named galleries of encrypted templates for retrospective search.", no_args_is_help=True
)
By = Annotated[str, typer.Option("--by", help="Who is acting (recorded in the audit trail).")]


@gallery_app.command("build")
@cli_errors
def gallery_build(
    name: str,
    source: Annotated[
        Path, typer.Argument(help="Folder (one sub-folder per person) or CSV with path[,label].")
    ],
    by: By,
) -> None:
    """Build (or replace) a gallery; images without a usable face are listed with the reason."""
    import numpy as np

    from openlfr.evaluation.embeddings import embed_images, register_model
    from openlfr.search.gallery import GalleryStore, gallery_source

    gov = open_governance()
    store = GalleryStore(gov, name)
    paths, labels = gallery_source(source)
    with progress_bar() as bar:
        task = bar.add_task(f"gallery {name}", total=len(paths))
        register = register_model(gov.analyzer)
        embedded = embed_images(
            register, paths, lambda n: bar.advance(task, n), image_limits=gov.settings.images
        )
    missing = set(embedded.missing)
    keep = [i for i, path in enumerate(paths) if path not in missing]
    for path in embedded.missing:
        err.print(f"rejected {path}: {embedded.reasons.get(path, 'no face found')}", highlight=False)
    if not keep:
        raise DatasetError(f"{source}: no picture gave a usable face, so gallery {name} is left as it was")
    templates = embedded.templates(gov.settings.recognition.flip_fusion)[keep]
    store.write(
        [labels[i] for i in keep], [str(paths[i]) for i in keep], np.asarray(templates), by, "gallery.build"
    )
    out.print(f"gallery {name}: {len(keep):,} templates of {len({labels[i] for i in keep}):,} people, sealed")


@gallery_app.command("list")
@cli_errors
def gallery_list() -> None:
    """Galleries and their sizes."""
    from openlfr.search.gallery import list_galleries

    gov = open_governance()
    table = Table("name", "templates", "people", "model pack")
    for manifest in list_galleries(gov):
        table.add_row(
            manifest["name"], f"{manifest['count']:,}", f"{manifest['subjects']:,}", manifest["model_pack"]
        )
    out.print(table)


@gallery_app.command("delete")
@cli_errors
def gallery_delete(
    name: str, label: str, by: By, reason: Annotated[str, typer.Option(help="Why (audit trail).")]
) -> None:
    """Remove a person from a gallery for good (files rewritten, index rebuilt)."""
    from openlfr.search.gallery import GalleryStore

    removed = GalleryStore(open_governance(), name).delete_label(label, by, reason)
    out.print(f"removed {removed} template(s) of {label} from {name}")


@cli_errors
def search_command(
    probe: Annotated[Path, typer.Argument(help="A still image, or a video searched per tracked person.")],
    gallery: Annotated[str, typer.Option(help="Gallery name.")],
    by: By,
    reason: Annotated[str, typer.Option(help="Why this search is necessary (audit trail).")],
    top: Annotated[int, typer.Option(min=1, max=1000, help="Candidates per probe.")] = 200,
    output: Annotated[Path | None, typer.Option(help="Write every candidate to this CSV.")] = None,
    show: Annotated[int, typer.Option(help="Candidates printed per probe.")] = 10,
    faces: Annotated[
        str,
        typer.Option(
            help="In a still: 'dominant' (its only or clearly largest face), 'largest', or 'all' faces."
        ),
    ] = "dominant",
) -> None:
    """Ranked candidates for a person to review, never an identification. The search is audited."""
    from openlfr.search.gallery import GallerySearcher, GalleryStore
    from openlfr.search.probes import probes_for

    gov = open_governance()
    searcher = GallerySearcher(GalleryStore(gov, gallery))
    from openlfr.search.probes import FACE_CHOICES

    if faces not in FACE_CHOICES:
        raise typer.BadParameter(f"choose one of {', '.join(FACE_CHOICES)}", param_hint="--faces")
    probes = probes_for(gov.analyzer, probe, faces)
    import numpy as np

    templates = np.stack([p.template for p in probes]) if probes else np.zeros((0, 512), np.float32)
    results = searcher.search(templates, top, by, reason, probe.name)
    out.print(
        f"{len(probes)} probe(s) from {probe.name} against {gallery} "
        f"({len(searcher.index):,} templates, {searcher.index.summary})"
    )
    for found, candidates in zip(probes, results, strict=True):
        table = Table(
            "rank", "label", "score", "source", title=f"{found.name} ({found.seen})", title_justify="left"
        )
        for candidate in candidates[:show]:
            table.add_row(str(candidate.rank), candidate.label, f"{candidate.score:.3f}", candidate.source)
        out.print(table)
    if output is not None:
        with output.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL)  # a bare CR stays inside its cell
            writer.writerow(["probe", "seen", "rank", "label", "score", "source"])
            for found, candidates in zip(probes, results, strict=True):
                for c in candidates:
                    row = [found.name, found.seen, c.rank, c.label, f"{c.score:.4f}", c.source]
                    writer.writerow([spreadsheet_safe(cell) for cell in row])
        out.print(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(gallery_app, name="gallery")
    app.command("search")(search_command)
