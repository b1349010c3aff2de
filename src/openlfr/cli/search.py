"""`openlfr gallery …`, `openlfr search` and `openlfr crossmatch`: retrospective search of stills,
recordings and registers."""

from __future__ import annotations

import csv
from functools import partial
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from openlfr.cli.common import cli_errors, err, open_governance, out, plain, progress_bar
from openlfr.cli.identity import acting
from openlfr.errors import DatasetError
from openlfr.models.operating import for_pack
from openlfr.redaction import spreadsheet_safe
from openlfr.settings import get_settings

gallery_app = typer.Typer(
    help="Named galleries of encrypted templates for retrospective search.", no_args_is_help=True
)


@gallery_app.command("build")
@cli_errors
def gallery_build(
    name: str,
    source: Annotated[
        Path, typer.Argument(help="Folder (one sub-folder per person) or CSV with path[,label].")
    ],
) -> None:
    """Build (or replace) a gallery; images without a usable face are listed with the reason."""
    from openlfr.evaluation.embeddings import embed_images, register_model
    from openlfr.search.gallery import GalleryStore, gallery_source

    gov = open_governance()
    by = acting(gov, "galleries.manage").username
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
    acting(gov, "galleries.manage")
    table = Table("name", "templates", "people", "model pack")
    for manifest in list_galleries(gov):
        table.add_row(
            *plain(
                manifest["name"],
                f"{manifest['count']:,}",
                f"{manifest['subjects']:,}",
                manifest["model_pack"],
            )
        )
    out.print(table)


@gallery_app.command("delete")
@cli_errors
def gallery_delete(
    name: str, label: str, reason: Annotated[str, typer.Option(help="Why (audit trail).")]
) -> None:
    """Remove a person from a gallery for good (files rewritten, index rebuilt)."""
    from openlfr.search.gallery import GalleryStore

    gov = open_governance()
    by = acting(gov, "galleries.manage").username
    removed = GalleryStore(gov, name).delete_label(label, by, reason)
    out.print(f"removed {removed} template(s) of {label} from {name}")


@cli_errors
def search_command(
    probe: Annotated[Path, typer.Argument(help="A still image, or a video searched per tracked person.")],
    gallery: Annotated[str, typer.Option(help="Gallery name.")],
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
    from openlfr.search.probes import FACE_CHOICES, probes_for

    if faces not in FACE_CHOICES:
        raise typer.BadParameter(f"choose one of {', '.join(FACE_CHOICES)}", param_hint="--faces")
    gov = open_governance()
    by = acting(gov, "search.run").username
    searcher = GallerySearcher(GalleryStore(gov, gallery))
    probes = probes_for(gov.analyzer, probe, faces)

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
            table.add_row(*plain(candidate.rank, candidate.label, f"{candidate.score:.3f}", candidate.source))
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


@cli_errors
def crossmatch_command(
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
    from openlfr.evaluation.embeddings import embed_images, register_model
    from openlfr.models.calibration import load_calibration
    from openlfr.search.crossmatch import crossmatch as match_registers
    from openlfr.search.crossmatch import read_register
    from openlfr.vision import FaceAnalyzer

    settings = for_pack(get_settings())
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
                register, files, partial(bar.advance, task), image_limits=settings.images
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
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(["rank", "a", "b", "score"])
        for rank, (i, j, score) in enumerate(zip(pairs.a, pairs.b, pairs.scores, strict=True), start=1):
            row = [rank, str(paths["A"][i]), str(paths["B"][j]), f"{score:.4f}"]
            writer.writerow([spreadsheet_safe(cell) for cell in row])
    usable = [len(r.paths) - len(r.missing) for r in embedded.values()]
    calibration = load_calibration(analyzer.pack.name, analyzer.pack.calibration_folder)
    expected = (
        f"; about {usable[0] * usable[1] * calibration.fmr(cut):.1f} of them expected by chance"
        if calibration
        else ""
    )
    out.print(
        f"{len(pairs)} candidate pair(s) at ≥ {cut:.2f} among {usable[0]:,} × {usable[1]:,} faces{expected}. "
        f"Review them: {output}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(gallery_app, name="gallery")
    app.command("search")(search_command)
    app.command("crossmatch")(crossmatch_command)
