"""k-fold verification accuracy on small score sets whose answers are known by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openlfr.errors import DatasetError
from openlfr.evaluation.lfw import read_pairs
from openlfr.evaluation.verification import best_threshold, kfold_accuracy


def test_separable_scores_get_a_threshold_between_the_classes() -> None:
    scores = np.array([0.1, 0.2, 0.8, 0.9])
    same = np.array([False, False, True, True])
    assert best_threshold(scores, same) == pytest.approx(0.5)


def test_overlapping_scores_get_the_best_achievable_accuracy() -> None:
    scores = np.array([0.1, 0.3, 0.4, 0.9])
    same = np.array([False, True, False, True])
    threshold = best_threshold(scores, same)
    assert np.sum((scores >= threshold) == same) == 3


def test_all_genuine_or_all_impostor() -> None:
    scores = np.array([0.2, 0.5])
    assert best_threshold(scores, np.array([True, True])) < 0.2
    assert best_threshold(scores, np.array([False, False])) > 0.5


def test_kfold_judges_each_fold_with_the_other_folds_threshold() -> None:
    # Fold 0 separates at 0.5; fold 1's genuine pair scores 0.45, so fold 1 fails it at fold 0's threshold.
    scores = np.array([0.1, 0.9, 0.2, 0.45, 0.3, 0.95])
    same = np.array([False, True, False, True, False, True])
    folds = np.array([0, 0, 1, 1, 2, 2])
    result = kfold_accuracy(scores, same, folds)
    # Fold 1 is tested at the threshold learnt on folds 0 and 2 (between 0.3 and 0.9 → 0.6): 0.45 is rejected.
    assert result.thresholds[1] == pytest.approx(0.6)
    np.testing.assert_allclose(result.accuracies, [1.0, 0.5, 1.0])
    assert result.mean == pytest.approx(2.5 / 3)


def test_pairs_file_parsing(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("2\t1\nAnn\t1\t2\nAnn\t1\tBob\t3\nCid\t2\t4\nBob\t3\tCid\t2\n")
    parsed = read_pairs(pairs)
    assert list(parsed.same) == [True, False, True, False]
    assert list(parsed.folds) == [0, 0, 1, 1]
    assert parsed.paths[parsed.first[1]] == parsed.paths[parsed.first[0]]  # Ann_0001 listed once
    assert parsed.paths[parsed.second[1]].name == "Bob_0003.jpg"
    assert len(parsed.paths) == 5


def test_malformed_pairs_files(tmp_path: Path) -> None:
    bad = tmp_path / "pairs.txt"
    bad.write_text("ten folds\n")
    with pytest.raises(DatasetError, match="first line"):
        read_pairs(bad)
    bad.write_text("1\t2\nAnn\t1\t2\n")
    with pytest.raises(DatasetError, match="expected 4"):
        read_pairs(bad)
    bad.write_text("1\t1\nAnn\t1\t2\nAnn\tx\tBob\n")
    with pytest.raises(DatasetError, match="line 3"):
        read_pairs(bad)
    with pytest.raises(DatasetError, match="not found"):
        read_pairs(tmp_path / "none.txt")
