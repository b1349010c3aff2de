"""Enrolling subjects one by one into a watchlist gallery: time against the number of subjects.

A live deployment's gallery is built one subject at a time (``load_gallery``, a watchlist folder,
the trial's fillers). The same run times the way ``Gallery.add`` used to work (each addition
copied every subject and searched the list of names) as the baseline, so the table shows both
how each grows with the watchlist and the ratio between them.
"""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import hardware, save
from openlfr.watchlist import Gallery

console = Console()
SIZES = (1250, 2500, 5000, 10_000)


class CopyingGallery:
    """The baseline: every addition copies the lists and looks the name up in a list."""

    def __init__(self) -> None:
        self.subjects: tuple[str, ...] = ()
        self.blocks: tuple[np.ndarray, ...] = ()

    def add(self, subject: str, templates: np.ndarray) -> None:
        subjects, blocks = list(self.subjects), list(self.blocks)
        if subject in subjects:
            index = subjects.index(subject)
            blocks[index] = np.concatenate([blocks[index], templates])
        else:
            subjects.append(subject)
            blocks.append(templates)
        self.subjects, self.blocks = tuple(subjects), tuple(blocks)


def seconds_to_enrol(gallery: Gallery | CopyingGallery, templates: np.ndarray) -> float:
    start = time.perf_counter()
    for i, template in enumerate(templates):
        gallery.add(f"subject-{i:06d}", template[None])
    return time.perf_counter() - start


def run() -> None:
    rng = np.random.default_rng(0)
    templates = rng.standard_normal((max(SIZES), 512)).astype(np.float32)
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    rows = []
    for size in SIZES:
        ours = min(seconds_to_enrol(Gallery(), templates[:size]) for _ in range(3))
        baseline = min(seconds_to_enrol(CopyingGallery(), templates[:size]) for _ in range(3))
        rows.append({"subjects": size, "gallery_s": ours, "baseline_s": baseline, "speedup": baseline / ours})
    first, last = rows[0], rows[-1]
    growth = last["subjects"] / first["subjects"]
    summary = {
        "subjects_grew": growth,
        "gallery_time_grew": last["gallery_s"] / first["gallery_s"],
        "baseline_time_grew": last["baseline_s"] / first["baseline_s"],
    }
    table = Table(title=f"enrolment one by one ({hardware()['cpu']})", title_justify="left")
    for column in ("subjects", "Gallery.add s", "copying baseline s", "baseline / ours"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            f"{row['subjects']:,}",
            f"{row['gallery_s']:.4f}",
            f"{row['baseline_s']:.4f}",
            f"{row['speedup']:.1f}×",
        )
    console.print(table)
    console.print(
        f"{growth:.0f}× the subjects took {summary['gallery_time_grew']:.1f}× the time "
        f"(baseline {summary['baseline_time_grew']:.1f}×)"
    )
    save("enrolment", {"hardware": hardware(), "rows": rows, "summary": summary})


if __name__ == "__main__":
    run()
