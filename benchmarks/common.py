"""Timing helpers and a description of the machine, printed with every benchmark."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import onnxruntime as ort

RESULTS = Path(__file__).parent / "results"


def hardware() -> dict[str, Any]:
    """CPU model, core count, memory and library versions."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "providers": ort.get_available_providers(),
    }


def median_ms(function: Callable[[], object], repeats: int = 30, warmup: int = 3) -> float:
    """Median wall time of one call, in milliseconds."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def paired_median_ms(
    ours: Callable[[], object], baseline: Callable[[], object], repeats: int = 30, warmup: int = 3
) -> tuple[float, float]:
    """Median times of two calls measured alternately, so both see the same machine noise."""
    for _ in range(warmup):
        ours()
        baseline()
    ours_ms, base_ms = [], []
    for _ in range(repeats):
        for function, samples in ((ours, ours_ms), (baseline, base_ms)):
            start = time.perf_counter()
            function()
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(ours_ms), statistics.median(base_ms)


def save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path


def benchmark_deployment(gov, name: str) -> str:  # type: ignore[no-untyped-def]
    """A draft deployment open for the next hour, for a benchmark to enrol into and alert on."""
    from datetime import timedelta

    from openlfr.governance import deployments as dep

    now = gov.now()
    plan = dep.DeploymentPlan(
        name=name,
        purpose="benchmark",
        location_name="nowhere",
        planned_start=now,
        planned_end=now + timedelta(hours=1),
        authorising_officer="nobody",
        legal_basis="benchmark",
        dpia_reference="none",
    )
    return dep.create(gov, plan, "benchmark").id


@contextmanager
def shipped_prelu(enabled: bool = True) -> Iterator[None]:
    """Sessions made inside load the models as shipped, PReLU and all (the baseline of
    ``openlfr.models.activations``)."""
    from openlfr.vision import runtime

    unrolled = runtime.unrolled_prelu
    if enabled:
        runtime.unrolled_prelu = lambda model: model  # type: ignore[assignment]
    try:
        yield
    finally:
        runtime.unrolled_prelu = unrolled
