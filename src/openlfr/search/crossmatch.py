"""Cross-matching two registers (missing against found): every pair at or above a threshold.

The full score matrix of two 100,000-image registers would need 40 GB, so it is computed in
blocks that fit memory; only pairs above the threshold leave a block. The result is a
candidate list for people to review, best first, never a decision.

On a GPU (``device``) the tiles are scored in PyTorch, in float16 on CUDA, with the threshold
lowered by ``FP16_MARGIN``; every pair found is then scored again in float32 on the CPU and
kept only at or above the threshold, so the pairs are those the CPU finds (a pair within a
float32 rounding of the threshold itself may fall either way). Two registers of 10 million
need 5·10^16 multiply-adds: about five days on 2 vCPUs at our measured rate, minutes on a GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class CandidatePairs:
    """Indices into the two registers and their scores, best first."""

    a: np.ndarray
    b: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def crossmatch(
    a: np.ndarray,
    b: np.ndarray,
    threshold: float,
    block: int = 4096,
    progress: Callable[[int], None] | None = None,
    device: str = "cpu",
) -> CandidatePairs:
    """All (i, j) with a[i] · b[j] ≥ ``threshold`` for unit-length templates; rows of zeros (no
    face) score 0 and so never match a positive threshold. Memory: two blocks of templates and
    one ``block × block`` score tile.

    Each tile is written into one buffer allocated once (a fresh 64 MB tile per product cost
    a fifth more, in page faults), and only the rows whose best score reaches the threshold
    are searched for pairs: ``np.nonzero`` over a whole 4096 × 4096 tile took 35 ms where its
    product took 85, a row maximum 6 ms.
    """
    a = np.ascontiguousarray(a, np.float32)
    b = np.ascontiguousarray(b, np.float32)
    if device != "cpu":
        return crossmatch_on(device, a, b, threshold, progress)
    buffer = np.empty(min(block, len(a)) * min(block, len(b)), np.float32)
    found_a, found_b, found_s = [], [], []
    for start_a in range(0, len(a), block):
        tile_a = a[start_a : start_a + block]
        for start_b in range(0, len(b), block):
            tile_b = b[start_b : start_b + block]
            scores = buffer[: len(tile_a) * len(tile_b)].reshape(len(tile_a), len(tile_b))
            np.matmul(tile_a, tile_b.T, out=scores)
            # fmax: a NaN score (a broken template) must not hide the rest of its row
            candidates = np.flatnonzero(np.fmax.reduce(scores, axis=1) >= threshold)
            rows, cols = np.nonzero(scores[candidates] >= threshold)
            found_a.append(candidates[rows] + start_a)
            found_b.append(cols + start_b)
            found_s.append(scores[candidates[rows], cols])
        if progress:
            progress(len(tile_a))
    return best_first(found_a, found_b, found_s)


def best_first(found_a: list, found_b: list, found_s: list) -> CandidatePairs:
    if not found_s:
        return CandidatePairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    scores = np.concatenate(found_s)
    order = np.argsort(-scores, kind="stable")
    return CandidatePairs(np.concatenate(found_a)[order], np.concatenate(found_b)[order], scores[order])


# float16 products of unit templates came within 4e-4 of float32 here (PyTorch on the CPU,
# float32 sums); CUDA may also sum in float16 (PyTorch's reduced-precision reductions)
FP16_MARGIN = 4e-3
SCORES_PER_TILE = 1 << 28  # a quarter of a GiB of float16 scores at once


def crossmatch_on(
    device: str,
    a: np.ndarray,
    b: np.ndarray,
    threshold: float,
    progress: Callable[[int], None] | None = None,
    rows_of_a: int = 8192,
    fp16: bool | None = None,
) -> CandidatePairs:
    """``crossmatch`` with the products on a PyTorch device: register B is held there whole,
    A crosses a block at a time, and only each tile's candidate pairs come back. ``fp16``:
    float16 products (the default on CUDA) with the threshold lowered by ``FP16_MARGIN``."""
    from openlfr.errors import ProviderUnavailableError

    try:
        import torch
    except ImportError:
        raise ProviderUnavailableError("crossmatch on a device needs PyTorch (pip install torch)") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ProviderUnavailableError(
            f"crossmatch --device {device!r}: PyTorch sees no CUDA device; "
            "openlfr does not fall back to the CPU silently"
        )
    half = torch.device(device).type == "cuda" if fp16 is None else fp16
    dtype, cut = (torch.float16, threshold - FP16_MARGIN) if half else (torch.float32, threshold)
    found_a, found_b, found_s = [], [], []
    with torch.inference_mode():
        held = torch.from_numpy(b).to(device).to(dtype)
        columns = max(1, SCORES_PER_TILE // rows_of_a)
        for start_a in range(0, len(a), rows_of_a):
            tile_a = torch.from_numpy(a[start_a : start_a + rows_of_a]).to(device).to(dtype)
            for start_b in range(0, len(held), columns):
                scores = tile_a @ held[start_b : start_b + columns].T
                on_device = torch.nonzero(scores >= cut, as_tuple=True)
                rows, cols = on_device[0].cpu().numpy() + start_a, on_device[1].cpu().numpy() + start_b
                exact = np.einsum("nd,nd->n", a[rows], b[cols])  # float32, as on the CPU
                keep = exact >= threshold
                found_a.append(rows[keep])
                found_b.append(cols[keep])
                found_s.append(exact[keep])
            if progress:
                progress(len(tile_a))
    return best_first(found_a, found_b, found_s)


def read_register(location: Path) -> list[Path]:
    """A register is a folder of images (searched recursively) or a CSV file with a ``path`` column."""
    from openlfr.errors import DatasetError
    from openlfr.watchlist.folder import IMAGE_SUFFIXES

    if location.is_dir():
        return sorted(p for p in location.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if location.suffix.lower() == ".csv" and location.is_file():
        from openlfr.evaluation.datasets import read_labels

        return read_labels(location).paths
    raise DatasetError(f"{location}: a register is a folder of images or a CSV file with a 'path' column")
