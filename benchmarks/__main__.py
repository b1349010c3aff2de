"""Run every benchmark: `python -m benchmarks [NAME ...]`."""

from __future__ import annotations

import sys

from benchmarks import (
    api_load,
    cameras,
    cluster,
    enrolment,
    evaluation,
    gallery,
    hostile,
    live,
    packs,
    robustness,
    search,
    vision,
)

SUITES = {
    "vision": vision.run,
    "live": live.run,
    "cameras": cameras.run,
    "evaluation": evaluation.run,
    "search": search.run,
    "api": api_load.run,
    "cluster": cluster.run,
    "gallery": gallery.run,
    "enrolment": enrolment.run,
    "packs": packs.run,
    "robustness": robustness.run,
    "hostile": hostile.run,
}


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in SUITES]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {sorted(SUITES)}")
    for name in names or list(SUITES):
        SUITES[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
