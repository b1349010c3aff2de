"""Cluster thresholds: raise the threshold only where a cluster draws more false matches, never lower it."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from openlfr.evaluation import mitigation
from openlfr.live.alerts import CollectingSink
from openlfr.live.engine import CameraEngine
from openlfr.live.thresholds import AlertThresholds
from openlfr.models.cluster_thresholds import ClusterThresholds, load_cluster_thresholds
from openlfr.video import parse_source
from openlfr.video.sources import open_frames
from openlfr.watchlist import Gallery


def two_populations(
    n_spread: int = 480, n_alike: int = 160, dim: int = 256, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """A loose majority, and a minority whose faces share a strong component (the model confuses them)."""
    rng = np.random.default_rng(seed)
    spread = rng.normal(size=(n_spread, dim)) + 0.35 * rng.normal(size=dim)
    alike = rng.normal(size=(n_alike, dim)) + 0.8 * rng.normal(size=dim)
    templates = np.concatenate([spread, alike]).astype(np.float32)
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    return templates, np.array(["spread"] * n_spread + ["alike"] * n_alike)


def test_only_the_confusable_group_gets_a_higher_threshold() -> None:
    templates, groups = two_populations()
    fit = np.arange(len(templates)) % 2 == 0
    clusters = mitigation.fit_cluster_thresholds(templates[fit], clusters=4, same_person_above=0.99)
    measured = np.where(fit[:, None], 0, templates)  # measure on the half not used to fit
    base = 0.25
    result = mitigation.compare_cluster_thresholds("synthetic", clusters, measured, groups, base)
    assert result.raw_fmr["alike"] > 20 * result.raw_fmr["spread"]
    assert result.raised_share["alike"] == 1.0 and result.raised_share["spread"] == 0.0
    assert result.mitigated_fmr["spread"] == result.raw_fmr["spread"]  # untouched, not made worse
    assert result.mitigated_fmr["alike"] < result.raw_fmr["alike"] / 10
    # The raised group ends near the population's rate, the target it was raised to.
    population = clusters.population_false_matches[np.searchsorted(clusters.thresholds, base)]
    assert result.mitigated_fmr["alike"] <= 3 * population / clusters.population_pairs


def test_floors_never_fall_below_the_base_and_survive_a_round_trip(tmp_path) -> None:
    templates, _ = two_populations()
    clusters = mitigation.fit_cluster_thresholds(templates, clusters=6, same_person_above=0.99)
    for base in (0.1, 0.25, 0.4, 0.95):
        assert (clusters.cluster_floors(base) >= base).all()
    clusters.save(tmp_path / "clusters.json")
    loaded = ClusterThresholds.from_json(__import__("json").loads((tmp_path / "clusters.json").read_text()))
    assert np.array_equal(loaded.cluster_floors(0.25), clusters.cluster_floors(0.25))
    assert np.array_equal(loaded.assign(templates), clusters.assign(templates))


def test_small_clusters_are_folded_into_their_neighbours() -> None:
    templates, _ = two_populations(n_spread=60, n_alike=60)
    clusters = mitigation.fit_cluster_thresholds(templates, clusters=8, same_person_above=0.99)
    sizes = np.bincount(clusters.assign(templates), minlength=len(clusters.centroids))
    assert len(clusters.centroids) < 8 and sizes.min() >= 50


def test_a_match_takes_the_higher_of_probe_and_subject_thresholds() -> None:
    templates, groups = two_populations()
    clusters = mitigation.fit_cluster_thresholds(templates, clusters=4, same_person_above=0.99)
    gallery = Gallery(256)
    gallery.add("calm", templates[groups == "spread"][:1])
    gallery.add("confusable", templates[groups == "alike"][:1])
    thresholds = AlertThresholds(0.25, gallery, clusters)
    spread_probe, alike_probe = templates[groups == "spread"][5], templates[groups == "alike"][5]
    assert thresholds.for_match(spread_probe, "calm") == 0.25
    raised = thresholds.for_match(alike_probe, "calm")
    assert raised > 0.25 and thresholds.for_match(spread_probe, "confusable") == raised
    assert AlertThresholds(0.25, gallery).for_match(alike_probe, "confusable") == 0.25  # mitigation off


def test_the_shipped_clusters_load_for_the_default_pack() -> None:
    clusters = load_cluster_thresholds("buffalo_s")
    assert clusters.centroids.shape[1] == 512 and len(clusters.centroids) >= 8
    floors = clusters.cluster_floors(0.45)
    assert (floors >= 0.45).all() and (floors > 0.45).any() and (floors == 0.45).any()


def test_engine_holds_an_alert_below_the_raised_threshold(analyzer, demo_gallery, demo_material) -> None:
    """The enrolled person's alert (score about 0.6) is held when his cluster's floor lies above it."""
    real = load_cluster_thresholds("buffalo_s")
    reference = demo_gallery.templates_of("yao_ming")
    strict = np.zeros_like(real.cluster_false_matches)
    strict[real.assign(reference)[0], :] = real.cluster_pairs[real.assign(reference)[0]]  # all pairs match
    raised = ClusterThresholds(
        real.centroids,
        real.thresholds,
        strict,
        real.cluster_pairs,
        real.population_false_matches,
        real.population_pairs,
    )

    def alerts_with(clusters: ClusterThresholds | None) -> tuple[list, CameraEngine]:
        sink = CollectingSink()
        settings = analyzer.settings.live
        thresholds = AlertThresholds(settings.alert_threshold, demo_gallery, clusters)
        engine = CameraEngine("cam", analyzer, demo_gallery, sink, settings, thresholds=thresholds)
        for frame in open_frames(parse_source(str(demo_material["video"]), lossless=True), threading.Event()):
            engine.process(frame)
        engine.finish()
        return sink.alerts, engine

    plain, _ = alerts_with(None)
    held, engine = alerts_with(raised)
    assert [a.subject for a in plain] == ["yao_ming"]
    assert held == [] and engine.metrics.held_by_mitigation >= 1
    assert pytest.approx(raised.cluster_floors(0.45).max()) == real.thresholds[-1]
