"""Metric code on small synthetic score sets whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.evaluation import calibrate, demographics
from openlfr.evaluation.identify import identify, split_gallery
from openlfr.evaluation.metrics import (
    clopper_pearson,
    differential_test,
    open_set_scores,
    rate_at,
    tar_at_far,
    threshold_at_rate,
)


def test_rates_and_thresholds_count_exactly() -> None:
    impostor = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    assert rate_at(impostor, 0.8) == 0.3
    t = threshold_at_rate(impostor, 0.2)  # at most 2 of 10 may pass
    assert rate_at(impostor, t) == 0.2 and rate_at(impostor, 0.89) == 0.2
    genuine = np.array([0.85, 0.92, 0.97, 0.99])
    tar, threshold = tar_at_far(genuine, impostor, 0.1)
    assert threshold > 0.9 and tar == 0.75


def test_clopper_pearson_known_values_and_coverage() -> None:
    low, high = clopper_pearson(0, 100)
    assert low == 0 and high == pytest.approx(0.03622, abs=1e-4)  # the "rule of three" neighbourhood
    low, high = clopper_pearson(50, 100)
    assert low == pytest.approx(0.3983, abs=1e-3) and high == pytest.approx(0.6017, abs=1e-3)
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(400):
        hits = rng.binomial(200, 0.07)
        low, high = clopper_pearson(int(hits), 200)
        covered += low <= 0.07 <= high
    assert covered / 400 >= 0.95  # exact intervals cover at least their nominal level


def test_open_set_scores_count_tpir_fpir_and_ranks() -> None:
    gallery = np.eye(3, dtype=np.float32)  # subjects a, b, c
    subjects = np.array(["a", "b", "c"])
    probes = np.array(
        [[0.9, 0.1, 0, 0], [0.2, 0.6, 0.7, 0], [0, 0, 0.3, 0], [0.5, 0, 0, 0], [0.1, 0.1, 0.1, 0]]
    )[:, :3]
    names = np.array(["a", "b", "c", "x", "y"])
    scores = open_set_scores(probes.astype(np.float32), names, gallery, subjects)
    assert list(scores.mated_rank) == [1, 2, 1]
    assert scores.tpir(0.5) == pytest.approx(1 / 3)  # only probe a: b is out-ranked, c is below 0.5
    assert scores.tpir(0.25) == pytest.approx(2 / 3)
    assert scores.fpir(0.5) == 0.5 and scores.fpir(0.05) == 1.0
    assert scores.rank_rate(1) == pytest.approx(2 / 3) and scores.rank_rate(2) == 1.0


def test_gallery_split_follows_the_protocol() -> None:
    subjects = np.array(["a", "a", "b", "c", "c", "c"])
    gallery, probes = split_gallery(subjects, np.ones(6, bool))
    assert list(gallery) == [0, 3] and list(probes) == [1, 2, 4, 5]
    templates = np.eye(6, dtype=np.float32)
    templates[1] = templates[0]
    result = identify(templates, subjects, threshold=0.5)
    assert result.gallery_size == 2 and result.mated_probes == 3 and result.nonmated_probes == 1


def test_differential_test_sees_real_differences_only() -> None:
    assert differential_test([(10, 1000), (11, 1000)]) > 0.5
    assert differential_test([(10, 1000), (60, 1000)]) < 1e-6
    assert differential_test([(5, 500), (6, 500), (40, 500)]) < 1e-6
    assert differential_test([(0, 100), (0, 100)]) == 1.0


def test_within_group_pairs_and_duplicate_rule() -> None:
    templates = np.array([[1, 0], [1, 0], [0, 1], [0.6, 0.8]], np.float32)
    members = np.arange(4)
    identities = np.array(["p", "p", "q", "r"])
    impostor = demographics.within_group_pairs(templates, members, identities, same_identity=False)
    genuine = demographics.within_group_pairs(templates, members, identities, same_identity=True)
    assert sorted(np.round(genuine, 3)) == [1.0]
    assert len(impostor) == 5  # 6 pairs minus the one genuine pair
    duplicates = demographics.likely_duplicates(
        templates, np.array(["m", "m", "m", "f"]), np.array(["W"] * 4), np.array(["30", "33", "30", "30"])
    )
    assert duplicates == {(0, 1)}  # (0, 3) scores 0.6 and differs in sex
    as_babies = demographics.likely_duplicates(
        np.array([[1, 0], [0.75, 0.661]], np.float32),
        np.array(["m", "m"]),
        np.array(["A", "A"]),
        np.array(["1", "1"]),
    )
    assert as_babies == set()  # 0.75 is a duplicate between adults, not between babies
    without = demographics.within_group_pairs(templates, members, None, False, duplicates)
    assert len(without) == 5


def test_sweep_finds_the_lowest_non_significant_threshold() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 0.1, 20000)  # group A: low impostor scores
    b = rng.normal(0.1, 0.1, 20000)  # group B: shifted by 0.1
    result = demographics.analyse("synthetic", {"A": a, "B": b}, {}, threshold=0.3)
    assert result.fmr_p_value < 1e-10
    assert result.non_significant_from is not None and result.non_significant_from > 0.35
    for t, p in result.sweep:
        if t >= result.non_significant_from:
            assert p >= 0.05
    assert result.ratios()["B"] > 10


def test_calibration_turns_fmr_into_passers_by_per_false_alert() -> None:
    impostor = np.concatenate([np.zeros(999_000), np.full(1000, 0.9)])  # FMR 1e-3 above 0.5
    [row] = calibrate.calibration_table(impostor, np.array([0.5]), sizes=(1, 100))
    assert row.fmr == pytest.approx(1e-3)
    assert row.passers_by_per_false_alert[1] == pytest.approx(1000)
    assert row.passers_by_per_false_alert[100] == pytest.approx(1 / (1 - 0.999**100))
    [unresolved] = calibrate.calibration_table(impostor, np.array([0.95]), sizes=(1,))
    assert not unresolved.resolved and unresolved.fmr == pytest.approx(1e-6)  # an upper bound
    t = calibrate.threshold_for_rate(np.linspace(0, 1, 100_001), watchlist_size=10, false_alert_rate=0.01)
    fmr = np.mean(np.linspace(0, 1, 100_001) >= t)
    assert 1 - (1 - fmr) ** 10 <= 0.01


def test_a_target_false_alert_rate_becomes_a_threshold() -> None:
    from openlfr.errors import ModelPackError
    from openlfr.models.calibration import Calibration, operating_point

    table = Calibration(
        [0.3, 0.4, 0.5, 0.6], [1000, 100, 10, 0], impostor_pairs=1_000_000, source="synthetic"
    )
    assert table.fmr(0.4) == 1e-4 and table.fmr(0.6) == 1e-6  # no match at 0.6: one pair as an upper bound
    assert table.false_alert_rate(0.5, 100) == pytest.approx(1 - (1 - 1e-5) ** 100)
    threshold, expected = operating_point(0.45, 1 / 500, table, watchlist_size=100)
    assert threshold == 0.5 and expected <= 1 / 500  # 0.4 gives 1 in 100, too many
    threshold, expected = operating_point(0.45, None, table, watchlist_size=100)
    assert threshold == 0.45 and expected == pytest.approx(1 - (1 - 1e-5) ** 100)
    with pytest.raises(ModelPackError, match="cannot promise"):
        operating_point(0.45, 1e-9, table, watchlist_size=10_000)
    with pytest.raises(ModelPackError, match="calibrated"):
        operating_point(0.45, 1e-3, None, watchlist_size=10)


def test_snorm_discounts_a_group_whose_faces_all_look_alike() -> None:
    from openlfr.evaluation import mitigation

    rng = np.random.default_rng(1)
    spread = rng.normal(size=(150, 64))
    alike = rng.normal(size=(150, 64)) + 2.5 * rng.normal(size=64)  # a shared component: high impostor scores
    templates = np.concatenate([spread, alike]).astype(np.float32)
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    groups = np.array(["spread"] * 150 + ["alike"] * 150)
    cohort = templates[rng.choice(300, 100, replace=False)]
    raw_threshold = float(np.quantile(templates[150:] @ templates[150:].T, 0.9))
    result = mitigation.compare_groups("synthetic", templates, groups, cohort, raw_threshold)
    assert result.raw_fmr["alike"] > 10 * max(result.raw_fmr["spread"], 1e-4)
    # at equal pooled FMR (the groups have equal pair counts), false matches move from one group to the other
    pooled = lambda rates: (rates["alike"] + rates["spread"]) / 2  # noqa: E731
    assert pooled(result.normalised_fmr) == pytest.approx(pooled(result.raw_fmr), abs=2e-3)
    assert result.normalised_fmr["alike"] < result.raw_fmr["alike"] / 2
    assert result.normalised_fmr["spread"] > result.raw_fmr["spread"]


def test_packs_are_matched_at_equal_false_match_counts() -> None:
    from openlfr.evaluation.study import matching_threshold

    reference = np.array([0.9, 0.8, 0.5, 0.4, 0.1, 0.0])
    assert matching_threshold(reference, 0.45, reference) == pytest.approx(0.45)  # a copy: same threshold
    shifted = reference * 2 + 1  # another pack on another scale: the same pairs in the same order
    t = matching_threshold(reference, 0.45, shifted)
    assert t == pytest.approx(1.9) and np.sum(shifted >= t) == np.sum(reference >= 0.45) == 3
    assert matching_threshold(reference, 0.95, shifted) == pytest.approx(2.85)  # above every score
