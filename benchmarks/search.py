"""Register cross-matching: total time against the bare matrix-product bound, in the same run.

Synthetic, clustered unit vectors stand in for two registers (no biometric data needed); a few
hundred planted mates check that every one of them is found.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from rich.console import Console

from benchmarks.common import hardware, save
from openlfr.search.crossmatch import crossmatch

console = Console()


def clustered_register(rng: np.random.Generator, size: int, dimension: int = 512) -> np.ndarray:
    """Faces are not uniform on the sphere: draw them around a few hundred random centres."""
    centres = rng.normal(size=(256, dimension)).astype(np.float32)
    rows = centres[rng.integers(0, len(centres), size)] * 0.6 + rng.normal(size=(size, dimension)).astype(
        np.float32
    )
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def bare_product_seconds(a: np.ndarray, b: np.ndarray, block: int) -> float:
    """The same tiles multiplied into one reused buffer and nothing else: the floor crossmatch
    is measured against."""
    buffer = np.empty(block * block, np.float32)
    start = time.perf_counter()
    for i in range(0, len(a), block):
        for j in range(0, len(b), block):
            tile_a, tile_b = a[i : i + block], b[j : j + block]
            tile = buffer[: len(tile_a) * len(tile_b)].reshape(len(tile_a), len(tile_b))
            np.matmul(tile_a, tile_b.T, out=tile)
    return time.perf_counter() - start


def run(sizes: tuple[int, ...] = (20_000, 50_000), block: int = 4096) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    results: dict[str, Any] = {"hardware": hardware(), "crossmatch": []}
    for size in sizes:
        a, b = clustered_register(rng, size), clustered_register(rng, size)
        planted = rng.choice(size, 300, replace=False)
        b[planted] = a[planted] + 0.01 * rng.normal(size=(300, a.shape[1])).astype(np.float32)
        b[planted] /= np.linalg.norm(b[planted], axis=1, keepdims=True)
        bare = bare_product_seconds(a, b, block)
        start = time.perf_counter()
        pairs = crossmatch(a, b, 0.9, block)
        total = time.perf_counter() - start
        found = set(zip(pairs.a.tolist(), pairs.b.tolist(), strict=True))
        row = {
            "registers": f"{size:,} × {size:,}",
            "seconds": round(total, 2),
            "bare_product_seconds": round(bare, 2),
            "ratio_to_bare_product": round(total / bare, 3),
            "planted_found": sum((int(i), int(i)) in found for i in planted),
            "pairs": len(pairs),
        }
        results["crossmatch"].append(row)
        console.print(row)
    console.print(f"hardware: {results['hardware']}")
    console.print(f"saved {save('search', results)}")
    return results
