"""Gibbs starts: the partition prior, the merge gains, a planted split merged and a true one
kept, the choice of restarts, and the plain-JAX linear algebra the sampler runs on."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special
from sklearn.metrics import adjusted_rand_score

from bayes_hcl.config import load_config
from bayes_hcl.data.prepared import prepare
from bayes_hcl.inference.gibbs import linalg
from bayes_hcl.inference.gibbs.driver import _data_settings, _responses
from bayes_hcl.inference.gibbs.start import (
    assign_starts,
    log_partition_prior,
    log_posterior,
    merge_scores,
    partition_score,
    relabel_by_size,
    start_candidates,
)
from bayes_hcl.simulate import simulate

#: the sampler takes Gaussian noise only
GAUSSIAN = {"noise_family": "gaussian"}


@pytest.mark.parametrize("alpha", [0.3, 1.0, 4.0])
def test_the_partition_prior_sums_to_one_over_every_assignment(alpha):
    n, k = 5, 3
    total = 0.0
    for labels in itertools.product(range(k), repeat=n):
        count = jnp.asarray(np.bincount(labels, minlength=k), jnp.float32)
        total += float(jnp.exp(log_partition_prior(count, alpha)))
    assert total == pytest.approx(1.0, abs=1e-4)


def test_the_partition_prior_is_the_stick_breaking_integral_by_monte_carlo():
    count, alpha = np.array([3.0, 1.0, 2.0]), 0.8
    v = np.random.default_rng(0).beta(1.0, alpha, size=(400_000, 2))
    weights = np.column_stack([v[:, 0], (1 - v[:, 0]) * v[:, 1], (1 - v[:, 0]) * (1 - v[:, 1])])
    want = np.log(np.mean(np.prod(weights**count, axis=1)))
    got = float(log_partition_prior(jnp.asarray(count), alpha))
    assert got == pytest.approx(want, abs=0.02)


def _problem(split: bool, seed=0):
    """Two simulated populations (d = 3); with ``split`` the second is cut at random into
    two clusters (labels 1 and 2), otherwise cluster 2 is empty."""
    sim = simulate(200, d=3, n_clusters=2, seed=seed)
    data = prepare(sim.data)
    truth = np.asarray(sim.labels)
    labels = truth.copy()
    if split:
        rng = np.random.default_rng(seed)
        labels[(truth == 1) & (rng.random(len(truth)) < 0.5)] = 2
    rank = np.argsort(np.asarray(sim.order))  # sim.order lists the nodes first to last
    inclusion = np.zeros((3, 3, 3))
    inclusion[:2] = np.asarray(sim.adjacency) != 0
    inclusion[2] = inclusion[1]
    return data, truth, labels, rank, inclusion


def _candidates(data, labels, rank, inclusion, chains=2):
    y, x, offset = _responses(data)
    settings = _data_settings(data, load_config("hcl", model_overrides=GAUSSIAN))
    return start_candidates(
        jax.random.PRNGKey(0), jnp.asarray(labels[None], jnp.int32),
        jnp.asarray(rank[None], jnp.int32), jnp.asarray(inclusion[None], jnp.float32),
        y, x, offset, settings, chains,
    )  # fmt: skip


def test_a_planted_split_is_merged_and_the_true_partition_kept():
    data, truth, labels, rank, inclusion = _problem(split=True)
    _, merged, scores = _candidates(data, labels, rank, inclusion)
    merged = np.asarray(merged)
    assert merged.shape == (1, 2, 400) and np.isfinite(np.asarray(scores)).all()
    for chain in merged[0]:
        assert len(np.unique(chain)) == 2
        assert adjusted_rand_score(truth, chain) == 1.0
    # the two populations differ: merging them must not pay
    data, truth, labels, rank, inclusion = _problem(split=False)
    _, merged, _ = _candidates(data, labels, rank, inclusion)
    assert adjusted_rand_score(truth, np.asarray(merged)[0, 0]) == 1.0


def test_chains_sharing_a_start_draw_their_own_parameters_with_one_score():
    data, _, labels, rank, inclusion = _problem(split=False)
    states, _, scores = _candidates(data, labels, rank, inclusion, chains=3)
    assert np.ptp(np.asarray(scores)) < 1e-3  # the score integrates the parameters out
    w = np.asarray(states.W)[0]
    assert w.shape == (3, 3, 3, 3) and not np.allclose(w[0], w[1])


def _score(data, labels, rank, inclusion):
    y, x, offset = _responses(data)
    settings = _data_settings(data, load_config("hcl", model_overrides=GAUSSIAN))
    args = (jnp.asarray(labels), jnp.asarray(rank), jnp.asarray(inclusion, jnp.float32))
    score, state, stats = partition_score(jax.random.PRNGKey(0), *args, y, x, offset, settings)
    return float(score), float(score - log_posterior(state, stats, settings)), state


def test_the_membership_correction_is_what_a_hard_split_costs():
    data, truth, labels, rank, inclusion = _problem(split=True)
    # the planted split cuts one population at random: each of its 200 rows could be in
    # either half, so the correction is close to 200 log 2 (the prior's cost of the split)
    _, split_correction, _ = _score(data, labels, rank, inclusion)
    assert split_correction == pytest.approx(200 * np.log(2), rel=0.15)
    # the true populations are told apart row by row but for a few rows: the correction is
    # the one at the true parameters (measured 22.7 against 23.1)
    _, true_correction, _ = _score(data, truth, rank, inclusion)
    sim = simulate(200, d=3, n_clusters=2, seed=0)
    log_r = special.log_softmax(sim.class_loglik(), axis=1)
    assert true_correction == pytest.approx(-log_r[np.arange(400), truth].sum(), abs=5.0)


def test_merge_scores_are_the_scores_of_the_merged_partitions():
    data, _, labels, rank, inclusion = _problem(split=True)
    y, x, offset = _responses(data)
    settings = _data_settings(data, load_config("hcl", model_overrides=GAUSSIAN))
    args = (jnp.asarray(rank), jnp.asarray(inclusion, jnp.float32), y, x, offset, settings)
    key = jax.random.PRNGKey(0)
    scores = np.asarray(merge_scores(key, jnp.asarray(labels), *args))
    for into, source in itertools.permutations(range(3), 2):
        moved = np.where(labels == source, into, labels)
        assert scores[into, source] == pytest.approx(_score(data, moved, rank, inclusion)[0])
    assert np.all(np.isneginf(np.diag(scores)))
    emptied = np.where(labels == 2, 1, labels)  # an empty cluster merges nowhere
    scores = np.asarray(merge_scores(key, jnp.asarray(emptied), *args))
    assert np.all(np.isneginf(scores[:, 2])) and np.all(np.isneginf(scores[2]))


def test_starts_go_to_restarts_near_the_best_in_turn():
    scores = np.array([[-100.0, -101.0, -99.0], [-95.0, -96.0, -97.0], [-200.0, -200.0, -np.inf]])
    np.testing.assert_array_equal(assign_starts(scores), [1, 0, 1])
    np.testing.assert_array_equal(assign_starts(scores, window=2.0), [1, 1, 1])
    with pytest.raises(FloatingPointError, match="no Gibbs start"):
        assign_starts(np.full((2, 3), -np.inf))


def test_relabelling_puts_the_largest_cluster_first():
    new, old = relabel_by_size(np.array([2, 2, 0, 2, 1, 1]), 4)
    np.testing.assert_array_equal(new, [0, 0, 2, 0, 1, 1])
    np.testing.assert_array_equal(old, [2, 1, 0, 3])


@settings(max_examples=25, deadline=None)
@given(p=st.integers(1, 7), batch=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_the_plain_jax_factorisation_and_solves_match_lapack(p, batch, seed):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(batch, p, p))
    a = m @ np.swapaxes(m, 1, 2) + p * np.eye(p)
    b = rng.normal(size=(batch, p))
    lower = linalg.cholesky(jnp.asarray(a))
    np.testing.assert_allclose(lower, np.linalg.cholesky(a), atol=1e-4)
    np.testing.assert_allclose(linalg.cho_solve(lower, jnp.asarray(b)),
                               np.linalg.solve(a, b[..., None])[..., 0], atol=1e-4)  # fmt: skip
    np.testing.assert_allclose(linalg.spd_inverse(lower), np.linalg.inv(a), atol=1e-4)
    upper = np.linalg.solve(np.swapaxes(np.linalg.cholesky(a), 1, 2), b[..., None])[..., 0]
    np.testing.assert_allclose(linalg.solve_upper(lower, jnp.asarray(b)), upper, atol=1e-4)


def test_a_matrix_that_is_not_positive_definite_factorises_to_nan():
    assert np.isnan(np.asarray(linalg.cholesky(jnp.asarray([[1.0, 2.0], [2.0, 1.0]])))).any()
