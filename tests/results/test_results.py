"""Behaviour of HCLResult on one small fit (shared fixture), plus the recovery it must reach."""

import json

import networkx as nx
import numpy as np
import pytest

import bayes_hcl as bh
from bayes_hcl import metrics
from bayes_hcl.results import summary
from bayes_hcl.results.effects import EFFECT_COLUMNS
from tests.conftest import EDGE_KEYS, REPORT_SECTIONS


def test_small_fit_recovers_clusters_and_skeleton(small_fit, small_sim):
    # two clusters with strong mean shifts over 4 variables: an easy, fast case
    assert metrics.adjusted_rand_index(small_sim.labels, small_fit.clusters()) >= 0.95
    pooled = small_fit.edge_probabilities().to_numpy()
    assert metrics.skeleton_f1(small_sim.pooled_adjacency, pooled >= 0.5) >= 0.6
    assert (
        metrics.auprc(
            small_sim.pooled_adjacency + small_sim.pooled_adjacency.T, np.maximum(pooled, pooled.T)
        )
        >= 0.7
    )
    assert small_fit.n_clusters().idxmax() >= 2


def test_edge_probability_frames(small_fit):
    pooled = small_fit.edge_probabilities()
    assert list(pooled.index) == list(pooled.columns) == small_fit.columns
    values = pooled.to_numpy()
    assert np.all((values >= 0) & (values <= 1)) and np.all(np.diag(values) == 0)
    # orientations are exclusive in every draw, so the two directions sum to at most one
    assert np.all(values + values.T <= 1 + 1e-6)
    for k in small_fit.occupied_clusters():
        assert np.all(small_fit.edge_probabilities(k).to_numpy() <= values + 1e-6)
    with pytest.raises(ValueError, match="cluster 99"):
        small_fit.edge_probabilities(99)


def test_memberships_and_partition(small_fit):
    members = small_fit.memberships()
    np.testing.assert_allclose(members.sum(axis=1), 1.0, rtol=1e-5)
    assert list(members.columns) == small_fit.occupied_clusters()
    cc = small_fit.coclustering()
    assert cc.shape == (len(members),) * 2
    np.testing.assert_allclose(np.diag(cc), 1.0, atol=1e-4)
    post = small_fit.n_clusters()
    assert post.sum() == pytest.approx(1.0)


def test_every_draw_graph_is_acyclic(small_fit):
    inclusion = small_fit._draws("inclusion")
    for s in range(inclusion.shape[0]):
        for k in range(inclusion.shape[1]):
            assert nx.is_directed_acyclic_graph(nx.DiGraph(inclusion[s, k] > 0.0))
    for cluster in [None, *small_fit.occupied_clusters()]:
        for threshold in (0.05, 0.5):
            g = small_fit.graph(cluster, threshold)
            assert nx.is_directed_acyclic_graph(g)
            assert all(d["probability"] >= threshold for *_, d in g.edges(data=True))


def test_effects_universal_specific_and_shifts(small_fit):
    effects = small_fit.effects()
    assert tuple(effects.columns) == EFFECT_COLUMNS
    # a model-averaged effect is mostly exactly zero when the order forbids the edge, so its
    # mean may lie outside the 94% HDI; the interval itself must be ordered
    assert (effects.hdi_low <= effects.hdi_high).all()
    assert (effects.sd >= 0).all()
    universal = small_fit.universal_edges(0.5)
    assert (universal.p_universal >= 0.5).all()
    assert (universal.p_edge >= universal.p_all_clusters - 1e-12).all()
    specific = small_fit.specific_edges(0.0)
    assert (specific.p_differs >= 0).all()
    np.testing.assert_allclose(specific.p_universal + specific.p_differs, specific.p_edge)
    shifts = small_fit.shift_targets()
    assert set(shifts.variable) == set(small_fit.columns)
    assert shifts.p_shift.between(0, 1).all()
    assert shifts.attrs["min_shift"] == small_fit.min_shift == 0.25
    assert (shifts.p_intercept_shift_exceeds <= shifts.p_intercept_shift + 1e-12).all()
    # the targets are the shifts of practical size; a stricter size keeps fewer
    targets = small_fit.shift_targets(0.5)
    assert set(targets.variable) == set(shifts.variable[shifts.p_shift_exceeds >= 0.5])
    assert targets.attrs["min_shift"] == 0.25
    strict = small_fit.shift_targets(0.5, min_shift=50.0)
    assert len(strict) == 0 and strict.attrs["min_shift"] == 50.0
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="min_shift must be a finite number"):
            small_fit.shift_targets(min_shift=bad)


def test_identifiability_report_has_fixed_top_level(small_fit):
    report = small_fit.identifiability()
    assert set(report) == REPORT_SECTIONS
    for entry in report["edges"]:
        assert set(entry) >= EDGE_KEYS
        assert entry["status"] in {"identified", "orientation ambiguous", "not supported"}
        assert entry["reason"] in {None, "mechanism change", "v-structure", "non-Gaussian noise"}
        assert entry["p_forward"] >= entry["p_reverse"]
    json.dumps(report.to_dict())  # serialisable as identifiability.json
    table = small_fit.summary()
    assert {"cause", "effect", "p_edge", "mechanism", "status", "reason", "delta_evidence"} <= set(
        table.columns
    )


def test_arviz_dims_and_attrs(small_fit):
    idata = small_fit.to_arviz()
    assert idata.posterior["W"].dims == ("chain", "draw", "cluster", "parent", "node")
    assert idata.posterior["membership"].dims == ("chain", "draw", "obs", "cluster")
    assert idata.log_likelihood["obs_loglik"].dims == ("chain", "draw", "obs")
    attrs = idata.posterior.attrs
    assert {"method", "seed", "config", "versions", "data"} <= set(attrs)
    assert json.loads(attrs["config"])["name"] == "hcl"


def test_save_load_round_trip(small_fit, tmp_path):
    path = tmp_path / "fit.nc"
    small_fit.save(path)
    loaded = bh.load_result(path)
    assert loaded.seed == small_fit.seed and loaded.config == small_fit.config
    np.testing.assert_array_equal(loaded.edge_probabilities(), small_fit.edge_probabilities())
    np.testing.assert_array_equal(loaded.clusters(), small_fit.clusters())
    np.testing.assert_array_equal(
        loaded.idata["restarts"]["elbo_history"], small_fit.idata["restarts"]["elbo_history"]
    )
    with pytest.raises(FileNotFoundError, match="no result file"):
        bh.load_result(tmp_path / "missing.nc")


def test_same_seed_same_result_and_no_recompilation(small_fit, small_sim):
    from tests.conftest import SMALL_FIT

    again = bh.fit(small_sim.data, seed=0, progress=False, **SMALL_FIT)
    # bit for bit, not merely close (and whether this fit compiled again or not: the session's
    # programs may have been released between test modules, see conftest)
    np.testing.assert_array_equal(again.edge_probabilities(), small_fit.edge_probabilities())
    np.testing.assert_array_equal(again.memberships(), small_fit.memberships())
    third = bh.fit(small_sim.data, seed=0, progress=False, **SMALL_FIT)
    assert third.meta["timings"]["compile_s"] == 0.0
    np.testing.assert_array_equal(third.memberships(), small_fit.memberships())
    other = bh.fit(small_sim.data, seed=1, progress=False, **SMALL_FIT)
    assert other.meta["timings"]["compile_s"] == 0.0


def test_partition_of_many_rows_is_each_rows_most_probable_cluster(small_fit, monkeypatch):
    from bayes_hcl.metrics import adjusted_rand_index
    from bayes_hcl.results.facade import HCLResult

    # above the limit the expected-loss partition would need an n x n matrix
    monkeypatch.setattr(summary, "LOSS_PARTITION_MAX_ROWS", 10)
    many = HCLResult(small_fit.idata)
    mean = many._mean_membership()
    expected = summary.absorb_small_clusters(mean.argmax(1), mean, many._min_size)
    np.testing.assert_array_equal(many.clusters(), expected)
    assert adjusted_rand_index(many.clusters(), small_fit.clusters()) > 0.9
