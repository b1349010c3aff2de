"""Gallery search at 100k and 1M templates (and a compressed 10M index): ms per query and recall@10
against exact search in the same run, memory per template, and real LFW mates planted in the crowd.

The crowd is synthetic but clustered like faces (unit vectors around a few hundred centres).
When ../shared/data is present, 200 LFW people are planted with one photo in the gallery and
another as the probe, and rank-1 is reported for both searches.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress, track
from rich.table import Table

from benchmarks.common import hardware, save
from benchmarks.search import clustered_register
from openlfr.search.index import IndexSettings, TemplateBlocks, TemplateIndex

console = Console()
DATA = Path(os.environ.get("OPENLFR_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def lfw_templates() -> tuple[np.ndarray, list[str]] | None:
    """Every usable LFW template and its identity, via the encrypted evaluation cache."""
    labels = DATA / "lfw" / "labels.csv"
    if not labels.is_file():
        return None
    from openlfr.evaluation.datasets import Embedder
    from openlfr.settings import get_settings

    rows = list(csv.DictReader(labels.open()))
    embedded = Embedder.for_pack(get_settings(), "buffalo_s").embed(
        "lfw", [labels.parent / r["path"] for r in rows]
    )
    templates = embedded.templates(False)
    usable = np.abs(templates).sum(axis=1) > 0
    return templates[usable], [r["identity"] for r, ok in zip(rows, usable, strict=True) if ok]


class FaceLikeCrowd:
    """Synthetic templates with the mean and covariance of real ones (impostor cosines then match LFW's:
    mean 0.006, sd 0.068, against 0.006 and 0.066), or clustered vectors when no real data is at hand."""

    def __init__(self, real: np.ndarray | None) -> None:
        self.real = real
        if real is not None:
            self.mean = real.mean(axis=0)
            covariance = np.cov((real - self.mean).T) + 1e-6 * np.eye(real.shape[1])
            self.factor = np.linalg.cholesky(covariance).astype(np.float32)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if self.real is None:
            return clustered_register(rng, size)
        out = np.empty((size, self.factor.shape[0]), np.float32)
        for start in range(0, size, 100_000):
            rows = (
                self.mean
                + rng.normal(size=(min(100_000, size - start), len(self.mean))).astype(np.float32)
                @ self.factor.T
            )
            out[start : start + len(rows)] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        return out


def lfw_mates(
    real: tuple[np.ndarray, list[str]] | None, people: int = 200
) -> tuple[np.ndarray, np.ndarray] | None:
    """(enrolled, probe) templates of LFW people with two photos."""
    if real is None:
        return None
    templates, identities = real
    first: dict[str, int] = {}
    pairs = []
    for i, identity in enumerate(identities):
        if identity in first and len(pairs) < people and first[identity] >= 0:
            pairs.append((first[identity], i))
            first[identity] = -1
        first.setdefault(identity, i)
    return templates[[a for a, _ in pairs]], templates[[b for _, b in pairs]]


def per_query_ms(index: TemplateIndex, queries: np.ndarray, k: int = 10) -> tuple[float, np.ndarray]:
    """Median single-query latency, and the rows found for every query."""
    times, rows = [], []
    for query in queries:
        start = time.perf_counter()
        _, found = index.search(query[None], k)
        times.append((time.perf_counter() - start) * 1000)
        rows.append(found[0])
    return float(np.median(times)), np.stack(rows)


SETTING_NAMES = {"hnsw": "efSearch", "pq": "re-rank"}


def _set(index: TemplateIndex, value: int) -> None:
    if index.kind == "pq":  # value: candidates re-scored on float16 copies
        index.settings = replace(index.settings, rerank=value, candidates=0.0)
    elif index.kind == "hnsw":
        index.faiss.hnsw.efSearch = value
    else:
        index.faiss.nprobe = value


def one_size(
    size: int, crowd_model: FaceLikeCrowd, mates, rng: np.random.Generator, kinds: dict[str, tuple[int, ...]]
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Exact search, then each approximate index at each setting, on the same gallery and probes."""
    crowd = crowd_model.sample(rng, size)
    planted = 0
    if mates is not None:
        planted = len(mates[0])
        crowd[rng.choice(size, planted, replace=False)] = mates[0]  # real faces hidden in the crowd
    noise = crowd_model.sample(rng, 300)
    synthetic_probes = crowd[rng.choice(size, 300, replace=False)] + 0.45 * noise
    synthetic_probes /= np.linalg.norm(synthetic_probes, axis=1, keepdims=True)
    probes = np.concatenate([synthetic_probes, mates[1]]) if mates is not None else synthetic_probes
    exact = TemplateIndex(crowd, IndexSettings(kind="exact"))
    exact_ms, _ = per_query_ms(exact, probes[:100])
    _, truth = exact.search(probes, 10)
    del exact
    rows = []
    for kind, values in kinds.items():
        started = time.perf_counter()
        index = TemplateIndex(crowd, IndexSettings(kind=kind, nlist=int(4 * np.sqrt(size))))
        build_s = time.perf_counter() - started
        memory = index.memory_bytes()
        for value in values:
            _set(index, value)
            ms, _ = per_query_ms(index, probes[:100])
            _, found = index.search(probes, 10)
            overlap = [len(set(a) & set(b)) / 10 for a, b in zip(truth, found, strict=True)]
            rows.append(
                {
                    "index": kind,
                    "setting": f"{SETTING_NAMES.get(kind, 'nprobe')} {value}",
                    "build_s": round(build_s, 1),
                    "bytes_per_template": round((memory["templates"] + memory["index"]) / size, 1),
                    "ms_per_query": round(ms, 3),
                    "speedup_vs_exact": round(exact_ms / ms, 1),
                    "recall_at_10": round(float(np.mean(overlap)), 4),
                    "synthetic_probe_recall_at_10": round(float(np.mean(overlap[:300])), 4),
                    "lfw_same_rank1_as_exact": (
                        round(float(np.mean(found[300:, 0] == truth[300:, 0])), 4)
                        if mates is not None
                        else None
                    ),
                }
            )
        del index
    return {
        "templates": size,
        "planted_lfw_mates": planted,
        "exact_ms_per_query": round(exact_ms, 2),
        "exact_bytes_per_template": 2048,
        "results": rows,
    }


def _truth(blocks: TemplateBlocks, probes: np.ndarray, k: int = 10) -> np.ndarray:
    """Exact top-k rows, one block at a time (the blocks are regenerated, never all held)."""
    scores = np.full((len(probes), 0), -np.inf, np.float32)
    rows = np.zeros((len(probes), 0), np.int64)
    offset = 0
    for block in track(blocks, total=blocks.blocks, description="exact ground truth"):
        product = block @ probes.T
        top = np.argpartition(-product, k - 1, axis=0)[:k].T
        scores = np.concatenate([scores, np.take_along_axis(product.T, top, axis=1)], axis=1)
        rows = np.concatenate([rows, top + offset], axis=1)
        keep = np.argsort(-scores, axis=1)[:, :k]
        scores, rows = np.take_along_axis(scores, keep, axis=1), np.take_along_axis(rows, keep, axis=1)
        offset += len(block)
    return rows


def compressed_10m(
    rng: np.random.Generator,
    crowd: FaceLikeCrowd,
    mates: tuple[np.ndarray, np.ndarray] | None,
    size: int = 10_000_000,
    totals: tuple[int, ...] = (20_000, 40_000),
) -> dict[str, Any]:
    """The product's pq index over 10M templates, built block by block from regenerated blocks
    (never all in memory as float32), with recall@10 against exact search over the same blocks."""
    chunk = 500_000
    seeds = rng.integers(0, 2**31, size // chunk)
    planted_block = len(seeds) // 2

    def read(i: int) -> np.ndarray:
        rows = crowd.sample(np.random.default_rng(int(seeds[i])), chunk)
        if mates is not None and i == planted_block:
            rows[: len(mates[0])] = mates[0]
        return rows

    counted = TemplateBlocks(count=size, dimension=512, blocks=len(seeds), read=read)
    started = time.perf_counter()
    with Progress() as progress:
        task = progress.add_task(f"building the {size:,}-template pq index", total=len(seeds))

        def read_and_count(i: int) -> np.ndarray:
            progress.advance(task)
            return read(i)

        index = TemplateIndex(
            TemplateBlocks(count=size, dimension=512, blocks=len(seeds), read=read_and_count),
            IndexSettings(kind="pq"),
        )
    build_s = time.perf_counter() - started
    probe_rows = read(3)[rng.choice(chunk, 300, replace=False)]
    synthetic = probe_rows + 0.45 * crowd.sample(rng, 300)
    probes = synthetic / np.linalg.norm(synthetic, axis=1, keepdims=True)
    if mates is not None:
        probes = np.concatenate([probes, mates[1]])
    truth = _truth(counted, probes)
    results = []
    for total in totals:
        index.settings = replace(index.settings, rerank=total, candidates=0.0)
        ms, _ = per_query_ms(index, probes[:100])
        _, found = index.search(probes, 10)
        overlap = [len(set(a) & set(b)) / 10 for a, b in zip(truth, found, strict=True)]
        results.append(
            {
                "re_scored": total,
                "ms_per_query": round(ms, 2),
                "recall_at_10": round(float(np.mean(overlap)), 4),
                "lfw_same_rank1_as_exact": (
                    round(float(np.mean(found[300:, 0] == truth[300:, 0])), 4) if mates is not None else None
                ),
            }
        )
    memory = index.memory_bytes()
    return {
        "templates": size,
        "index": f"pq: PCA192,PQ96x4fs + float16 copies, {len(index.parts)} shards",
        "build_s": round(build_s, 1),
        "index_gib": round(memory["index"] / 2**30, 2),
        "bytes_per_template": round(memory["index"] / size, 1),
        "float32_bytes_per_template": 2048,
        "settings": results,
    }


def run(
    sizes: tuple[int, ...] = (100_000, 1_000_000),
    kinds: dict[str, tuple[int, ...]] | None = None,
    with_10m: bool = True,
    results_name: str = "gallery",
) -> dict[str, Any]:
    console.rule("[bold]Gallery search: exact against FAISS indexes with exact re-rank")
    kinds = kinds or {"pq": (1000, 2000, 3000, 6000), "ivf": (16, 64, 256), "hnsw": (128, 512)}
    rng = np.random.default_rng(11)
    real = lfw_templates()
    crowd = FaceLikeCrowd(real[0] if real else None)
    mates = lfw_mates(real)
    record: dict[str, Any] = {
        "hardware": hardware(),
        "crowd": "face-like" if real else "clustered",
        "sizes": [],
    }
    for size in sizes:
        result = one_size(size, crowd, mates, rng, kinds)
        record["sizes"].append(result)
        table = Table(
            "index",
            "setting",
            "build s",
            "B/template",
            "ms/query",
            "× exact speed",
            "recall@10",
            "recall@10 synthetic probes",
            "LFW rank-1 as exact",
            title=f"{size:,} templates, {result['planted_lfw_mates']} LFW mates planted "
            f"({record['crowd']} crowd): exact {result['exact_ms_per_query']} ms/query, 2,048 B/template",
            title_justify="left",
        )
        for row in result["results"]:
            rank1 = row["lfw_same_rank1_as_exact"]
            table.add_row(
                row["index"],
                row["setting"],
                str(row["build_s"]),
                str(row["bytes_per_template"]),
                f"{row['ms_per_query']:.2f}",
                f"{row['speedup_vs_exact']}×",
                f"{row['recall_at_10']:.3f}",
                f"{row['synthetic_probe_recall_at_10']:.3f}",
                "–" if rank1 is None else f"{rank1:.1%}",
            )
        console.print(table)
        save(results_name, record)
    if with_10m:
        record["compressed_10m"] = compressed = compressed_10m(rng, crowd, mates)
        console.print(
            f"10M templates, {compressed['index']}: {compressed['index_gib']} GiB "
            f"({compressed['bytes_per_template']} B/template against 2,048 for float32), built in "
            f"{compressed['build_s']} s; "
            + "; ".join(
                f"re-scoring {r['re_scored']:,}: {r['ms_per_query']} ms, recall@10 {r['recall_at_10']}"
                for r in compressed["settings"]
            )
        )
        save(results_name, record)
    return record
