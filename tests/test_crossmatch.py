"""Register cross-matching: exact against brute force, in blocks, and on real faces."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from openlfr.cli import app
from openlfr.search.crossmatch import crossmatch


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_blocks_find_exactly_the_pairs_brute_force_finds() -> None:
    rng = np.random.default_rng(0)
    found = unit(rng.normal(size=(700, 32)))
    missing = unit(
        np.concatenate([found[:50] + 0.05 * rng.normal(size=(50, 32)), rng.normal(size=(250, 32))])
    )
    missing[7] = 0  # an image without a face never matches
    result = crossmatch(missing, found, 0.5, block=64)
    scores = missing @ found.T
    expected = set(zip(*np.nonzero(scores >= 0.5), strict=True))
    assert set(zip(result.a.tolist(), result.b.tolist(), strict=True)) == expected
    assert (np.diff(result.scores) <= 0).all()  # best first
    np.testing.assert_allclose(result.scores, scores[result.a, result.b], atol=1e-6)  # each pair's own score
    assert {(i, i) for i in range(50) if i != 7} <= expected  # the planted mates are there
    assert len(crossmatch(missing, found, 1.01)) == 0


@pytest.mark.parametrize("fp16", [False, True])
def test_on_a_device_the_pairs_are_the_cpus(monkeypatch, fp16: bool) -> None:
    pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
    from openlfr.search import crossmatch as module

    rng = np.random.default_rng(2)
    found = unit(rng.normal(size=(900, 64)))
    missing = unit(
        np.concatenate([found[:60] + 0.08 * rng.normal(size=(60, 64)), rng.normal(size=(200, 64))])
    )
    # pairs a hair either side of the threshold, where float16 rounding alone would decide
    others = unit(rng.normal(size=(40, 64)))
    others = unit(others - np.sum(others * found[100:140], axis=1, keepdims=True) * found[100:140])
    threshold = 0.6003  # not a float16 number: the products are rounded to the ones either side
    cosines = threshold + np.concatenate([np.linspace(-4e-4, -1e-5, 20), np.linspace(1e-5, 4e-4, 20)])
    near = cosines[:, None] * found[100:140] + np.sqrt(1 - cosines**2)[:, None] * others
    missing = np.concatenate([missing, near.astype(np.float32)])
    missing[3], found[500] = 0, np.nan  # no face, and a broken template
    monkeypatch.setattr(module, "SCORES_PER_TILE", 64 * 100)  # many tiles of A and of B
    on_cpu = crossmatch(missing, found, threshold)
    # fp16 as on CUDA: float16 products against a lowered threshold, then float32 scores
    on_device = module.crossmatch_on("cpu", missing, found, threshold, rows_of_a=64, fp16=fp16)
    above = {(260 + i, 100 + i) for i in range(20, 40)}
    assert len(on_cpu) > 70 and above <= set(zip(on_cpu.a.tolist(), on_cpu.b.tolist(), strict=True))
    assert np.array_equal(on_device.a, on_cpu.a) and np.array_equal(on_device.b, on_cpu.b)
    np.testing.assert_allclose(on_device.scores, on_cpu.scores, atol=1e-6)


def test_a_missing_gpu_is_an_error_not_the_cpu() -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    from openlfr.errors import ProviderUnavailableError

    with pytest.raises(ProviderUnavailableError, match="no CUDA device"):
        crossmatch(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32), 0.5, device="cuda")


@pytest.mark.shared_data
def test_crossmatch_command_pairs_people_across_registers(shared_data: Path, tmp_path: Path) -> None:
    rows = list(csv.DictReader((shared_data / "lfw" / "labels.csv").open()))
    people: dict[str, list[str]] = {}
    for row in rows:
        people.setdefault(row["identity"], []).append(row["path"])
    twice = [p for p, images in people.items() if len(images) >= 2][:6]
    once = [p for p, images in people.items() if len(images) == 1][:6]
    registers = {"missing": tmp_path / "missing", "found": tmp_path / "found"}
    for folder in registers.values():
        folder.mkdir()
    for person in twice:
        (registers["missing"] / f"{person}.jpg").symlink_to(shared_data / "lfw" / people[person][0])
        (registers["found"] / f"{person}.jpg").symlink_to(shared_data / "lfw" / people[person][1])
    for person in once:
        (registers["found"] / f"{person}.jpg").symlink_to(shared_data / "lfw" / people[person][0])
    (registers["found"] / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "pairs.csv"
    result = CliRunner().invoke(
        app, ["crossmatch", str(registers["missing"]), str(registers["found"]), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    pairs = list(csv.DictReader(out.open()))
    assert {(Path(p["a"]).stem, Path(p["b"]).stem) for p in pairs} == {(p, p) for p in twice}
    assert "broken.jpg" in result.output  # rejected with its reason, not silently dropped


def test_a_broken_template_hides_no_other_pair_and_empty_registers_give_none() -> None:
    rng = np.random.default_rng(1)
    found = unit(rng.normal(size=(9, 16)))
    missing = unit(found[[2, 5]] + 0.01 * rng.normal(size=(2, 16)))
    broken = found.copy()
    broken[3] = np.nan  # a corrupt template in the same score tile as the mates
    result = crossmatch(missing, broken, 0.9, block=4)
    assert set(zip(result.a.tolist(), result.b.tolist(), strict=True)) == {(0, 2), (1, 5)}
    assert len(crossmatch(missing[:0], found, 0.9)) == len(crossmatch(missing, found[:0], 0.9)) == 0


def test_the_command_refuses_a_threshold_that_would_pair_everyone(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    for threshold in ("0", "-0.2", "1.5"):
        arguments = [str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "pairs.csv")]
        result = CliRunner().invoke(app, ["crossmatch", *arguments, "--threshold", threshold])
        assert result.exit_code == 2 and "not a cosine threshold in (0, 1]" in result.output, result.output
    assert not (tmp_path / "pairs.csv").exists()
