"""Posterior recovery on simulated data, with stated tolerances.

The default run has the fast cases (they share the compiled programs of the small fit);
the larger ones are marked ``slow`` (``pytest -m slow``).
"""

import numpy as np
import pytest

import bayes_hcl as bh
from bayes_hcl import metrics
from tests.conftest import SMALL_FIT


def test_one_population_gives_one_cluster():
    # K = 1 data of the same shape as the small fit: no recompilation
    sim = bh.simulate(600, d=4, n_clusters=1, seed=11)
    result = bh.fit(sim.data, seed=0, progress=False, **SMALL_FIT)
    assert result.n_clusters().get(1, 0.0) >= 0.8
    assert len(result.occupied_clusters()) == 1


def test_recovery_on_standardised_input_does_not_rest_on_scale(small_sim, small_fit):
    # the same data rescaled column by column: the fit standardises, so nothing changes
    scaled = small_sim.data * np.array([100.0, 0.01, 7.0, 1.0])
    result = bh.fit(scaled, seed=0, progress=False, **SMALL_FIT)
    np.testing.assert_allclose(
        result.edge_probabilities(), small_fit.edge_probabilities(), atol=0.02
    )


def _recovery(sim, **kwargs):
    result = bh.fit(sim.data, seed=0, progress=False, **kwargs)
    pooled = result.edge_probabilities().to_numpy()
    return {
        "ari": metrics.adjusted_rand_index(sim.labels, result.clusters()),
        "f1": metrics.edge_scores(sim.pooled_adjacency, pooled >= 0.5)["f1"],
        "skeleton_f1": metrics.skeleton_f1(sim.pooled_adjacency, pooled >= 0.5),
        "auprc": metrics.auprc(sim.pooled_adjacency, pooled),
        "p_k": result.n_clusters(),
    }


def test_two_clusters_with_mean_shifts_d10():
    # measured: ARI 0.992 (Bayes ceiling 0.996), directed F1 0.70, skeleton F1 1.0
    r = _recovery(bh.simulate(500, d=10, n_clusters=2, seed=1))
    assert r["ari"] >= 0.95
    assert r["p_k"].get(2, 0.0) >= 0.8
    assert r["skeleton_f1"] >= 0.9
    assert r["f1"] >= 0.6


@pytest.mark.slow
def test_one_cluster_d10():
    r = _recovery(bh.simulate(1000, d=10, n_clusters=1, seed=1))
    assert r["p_k"].get(1, 0.0) >= 0.8
    assert r["skeleton_f1"] >= 0.6


def test_mixed_types_d10():
    # 30 % binary and 20 % count columns; measured with Gaussian noise: ARI 0.914 (Bayes
    # ceiling 0.918), F1 0.75; the default skew-t noise gives ARI 0.906, F1 0.71 and skeleton
    # F1 0.82 on this seed, and on seeds 3 and 4 F1 0.86 and 0.92 against the Gaussian's 0.90
    # and 0.86 (within noise): this test pins the mixed-type machinery, with Gaussian noise
    sim = bh.simulate(500, d=10, n_clusters=2, binary_fraction=0.3, count_fraction=0.2, seed=2)
    r = _recovery(sim, noise="gaussian")
    assert r["ari"] >= 0.85
    assert r["p_k"].get(2, 0.0) >= 0.8
    assert r["skeleton_f1"] >= 0.9
    assert r["f1"] >= 0.6


@pytest.mark.slow  # ~25 s; the robust preset's numbers are in the full benchmark suite
def test_robust_preset_models_skewed_noise():
    # exponential noise: the Gaussian-mixture noise law must fit it better than a Gaussian
    sim = bh.simulate(600, d=4, n_clusters=1, noise="exponential", seed=3)
    robust = bh.fit(sim.data, model="robust", seed=0, progress=False, **SMALL_FIT)
    gaussian = bh.fit(sim.data, model="hcl", seed=0, progress=False, **SMALL_FIT)

    def mean_loglik(result):
        return float(result.to_arviz().log_likelihood["obs_loglik"].mean())

    assert mean_loglik(robust) > mean_loglik(gaussian) + 0.1
    noise = robust.to_arviz().posterior["noise_weights"]
    assert noise.dims == ("chain", "draw", "node", "noise_component")
    np.testing.assert_allclose(noise.sum("noise_component"), 1.0, atol=1e-5)
    conditions = robust.identifiability()["conditions"]
    assert conditions["likelihood_models_non_gaussian_noise"]
    assert not gaussian.identifiability()["conditions"]["likelihood_models_non_gaussian_noise"]


@pytest.mark.slow
def test_robust_preset_on_two_skewed_populations_d10():
    sim = bh.simulate(500, d=10, n_clusters=2, noise="exponential", seed=0)
    r = _recovery(sim, model="robust")
    assert r["ari"] >= 0.9
    assert r["skeleton_f1"] >= 0.8
