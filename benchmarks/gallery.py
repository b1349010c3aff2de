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
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import hardware, save
from benchmarks.search import clustered_register
from openlfr.search.index import IndexSettings, TemplateIndex

console = Console()
DATA = Path(os.environ.get("OPENLFR_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def lfw_mates(people: int = 200) -> tuple[np.ndarray, np.ndarray] | None:
    """(gallery templates, probe templates) of LFW people with two photos, via the encrypted eval cache."""
    labels = DATA / "lfw" / "labels.csv"
    if not labels.is_file():
        return None
    from openlfr.cli import study_embedder
    from openlfr.settings import get_settings

    images: dict[str, list[Path]] = {}
    for row in csv.DictReader(labels.open()):
        images.setdefault(row["identity"], []).append(labels.parent / row["path"])
    chosen = [paths[:2] for paths in images.values() if len(paths) >= 2][:people]
    embedded = study_embedder(get_settings(), "buffalo_s").embed("lfw", [p for pair in chosen for p in pair])
    templates = embedded.templates(False)
    usable = [
        i for i in range(len(chosen)) if np.abs(templates[2 * i]).sum() and np.abs(templates[2 * i + 1]).sum()
    ]
    return templates[[2 * i for i in usable]], templates[[2 * i + 1 for i in usable]]


def per_query_ms(index: TemplateIndex, queries: np.ndarray, k: int = 10) -> tuple[float, np.ndarray]:
    """Median single-query latency, and the rows found for every query."""
    times, rows = [], []
    for query in queries:
        start = time.perf_counter()
        _, found = index.search(query[None], k)
        times.append((time.perf_counter() - start) * 1000)
        rows.append(found[0])
    return float(np.median(times)), np.stack(rows)


def one_size(size: int, mates, rng: np.random.Generator, nprobes: tuple[int, ...]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    crowd = clustered_register(rng, size)
    planted = 0
    if mates is not None:
        planted = len(mates[0])
        crowd[rng.choice(size, planted, replace=False)] = mates[0]  # real faces hidden in the crowd
    noise = clustered_register(rng, 300)
    synthetic_probes = crowd[rng.choice(size, 300, replace=False)] + 0.45 * noise
    synthetic_probes /= np.linalg.norm(synthetic_probes, axis=1, keepdims=True)
    probes = np.concatenate([synthetic_probes, mates[1]]) if mates is not None else synthetic_probes
    exact = TemplateIndex(crowd, IndexSettings(kind="exact"))
    exact_ms, _ = per_query_ms(exact, probes[:100])
    _, truth_all = exact.search(probes, 10)
    started = time.perf_counter()
    ivf = TemplateIndex(crowd, IndexSettings(kind="ivf", nlist=int(4 * np.sqrt(size))))
    build_s = time.perf_counter() - started
    memory = ivf.memory_bytes()
    rows = []
    for nprobe in nprobes:
        ivf.faiss.nprobe = nprobe
        ms, _ = per_query_ms(ivf, probes[:100])
        _, found = ivf.search(probes, 10)
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth_all, found, strict=True)]))
        rank1 = None
        if mates is not None:
            rank1 = float(np.mean(found[300:, 0] == truth_all[300:, 0]))
        rows.append(
            {
                "nprobe": nprobe,
                "ms_per_query": round(ms, 3),
                "recall_at_10": round(recall, 4),
                "lfw_same_rank1_as_exact": rank1,
                "speedup_vs_exact": round(exact_ms / ms, 1),
            }
        )
    return {
        "templates": size,
        "planted_lfw_mates": planted,
        "exact_ms_per_query": round(exact_ms, 2),
        "ivf_lists": ivf.faiss.nlist,
        "build_s": round(build_s, 1),
        "bytes_per_template": round((memory["templates"] + memory["index"]) / size, 1),
        "index_bytes_per_template": round(memory["index"] / size, 1),
        "settings": rows,
    }


def compressed_10m(rng: np.random.Generator, size: int = 10_000_000, queries: int = 100) -> dict[str, Any]:
    """IVF-PQ over 10M templates built in chunks (never all in memory at once), with its memory."""
    import faiss

    nlist, chunk = 4096, 500_000
    seeds = rng.integers(0, 2**31, size // chunk)
    index = faiss.index_factory(512, f"IVF{nlist},PQ64", faiss.METRIC_INNER_PRODUCT)
    started = time.perf_counter()
    index.train(clustered_register(np.random.default_rng(int(seeds[0])), 200_000))
    probe_rows = clustered_register(np.random.default_rng(int(seeds[0])), chunk)[:queries]
    for seed in seeds:
        index.add(clustered_register(np.random.default_rng(int(seed)), chunk))
    build_s = time.perf_counter() - started
    probes = probe_rows + 0.45 * clustered_register(rng, queries)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    truth_scores = np.full((queries, 10), -np.inf, np.float32)
    truth_rows = np.zeros((queries, 10), np.int64)
    for i, seed in enumerate(seeds):  # exact ground truth, regenerated chunk by chunk
        block = clustered_register(np.random.default_rng(int(seed)), chunk) @ probes.T
        top = np.argpartition(-block, 9, axis=0)[:10].T
        scores = np.concatenate([truth_scores, np.take_along_axis(block.T, top, axis=1)], axis=1)
        rows = np.concatenate([truth_rows, top + i * chunk], axis=1)
        keep = np.argsort(-scores, axis=1)[:, :10]
        truth_scores, truth_rows = (
            np.take_along_axis(scores, keep, axis=1),
            np.take_along_axis(rows, keep, axis=1),
        )
    results = []
    for nprobe in (16, 64):
        index.nprobe = nprobe
        times = []
        for query in probes:
            start = time.perf_counter()
            _, found = index.search(query[None], 10)
            times.append((time.perf_counter() - start) * 1000)
        _, found = index.search(probes, 10)
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth_rows, found, strict=True)]))
        results.append(
            {
                "nprobe": nprobe,
                "ms_per_query": round(float(np.median(times)), 2),
                "recall_at_10": round(recall, 3),
            }
        )
    index_bytes = int(faiss.serialize_index(index).nbytes)
    return {
        "templates": size,
        "index": f"IVF{nlist},PQ64",
        "build_s": round(build_s, 1),
        "index_gib": round(index_bytes / 2**30, 2),
        "bytes_per_template": round(index_bytes / size, 1),
        "float32_bytes_per_template": 2048,
        "settings": results,
    }


def run(sizes: tuple[int, ...] = (100_000, 1_000_000), with_10m: bool = True) -> dict[str, Any]:
    console.rule("[bold]Gallery search: exact against FAISS IVF with exact re-rank")
    rng = np.random.default_rng(11)
    mates = lfw_mates()
    record: dict[str, Any] = {"hardware": hardware(), "sizes": []}
    for size in sizes:
        result = one_size(size, mates, rng, (8, 16, 32, 64))
        record["sizes"].append(result)
        table = Table(
            "nprobe",
            "ms/query",
            "× faster than exact",
            "recall@10",
            "LFW rank-1 as exact",
            title=f"{size:,} templates ({result['planted_lfw_mates']} LFW mates planted): exact "
            f"{result['exact_ms_per_query']} ms/query; {result['bytes_per_template']} B/template; "
            f"IVF{result['ivf_lists']} built in {result['build_s']} s",
            title_justify="left",
        )
        for row in result["settings"]:
            rank1 = row["lfw_same_rank1_as_exact"]
            table.add_row(
                str(row["nprobe"]),
                f"{row['ms_per_query']:.2f}",
                f"{row['speedup_vs_exact']}×",
                f"{row['recall_at_10']:.4f}",
                "–" if rank1 is None else f"{rank1:.1%}",
            )
        console.print(table)
        save("gallery", record)
    if with_10m:
        record["compressed_10m"] = compressed = compressed_10m(rng)
        console.print(
            f"10M templates, {compressed['index']}: {compressed['index_gib']} GiB "
            f"({compressed['bytes_per_template']} B/template against 2,048 for float32), built in "
            f"{compressed['build_s']} s; "
            + "; ".join(
                f"nprobe {r['nprobe']}: {r['ms_per_query']} ms, recall@10 {r['recall_at_10']}"
                for r in compressed["settings"]
            )
        )
        save("gallery", record)
    return record
