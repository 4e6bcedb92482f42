"""Order search: exact local scores, Markov equivalence, and orientation from cluster shifts."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayes_hcl as bh
from bayes_hcl.config import ModelConfig
from bayes_hcl.data import prepare
from bayes_hcl.inference.search.order_search import (
    DiscreteNodes,
    OrderSearch,
    cluster_moments,
    search_order,
)
from bayes_hcl.inference.svi.warm_start import order_potentials, warm_start_params


def _gauss_ll(resid):
    var = np.mean(resid**2)
    return -0.5 * len(resid) * (np.log(2 * np.pi * var) + 1.0)


def _ols_resid(y, design):
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    return y - design @ beta, beta


@pytest.fixture(scope="module")
def shifted_pair():
    """X -> Y, cluster 1 shifts X's mean; Y | X is the same in both clusters."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 400)
    x = rng.normal(size=800) + 2.5 * labels
    y = 0.8 * x + 0.6 * rng.normal(size=800)
    return np.column_stack([x, y]), labels


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 3))
def test_cluster_moments_match_per_cluster_covariances(seed, k):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 3))
    labels = np.arange(60) % k
    m = cluster_moments(x, np.eye(k)[labels])
    for c in range(k):
        rows = x[labels == c]
        assert m.counts[c] == len(rows)
        np.testing.assert_allclose(m.means[c], rows.mean(0))
        np.testing.assert_allclose(m.scatter[c], np.cov(rows.T, bias=True) * len(rows), atol=1e-9)


def test_local_scores_equal_direct_regressions(shifted_pair):
    data, labels = shifted_pair
    search = OrderSearch(cluster_moments(data, np.eye(2)[labels]))
    x, y = data.T
    ones, onehot = np.ones_like(x), np.eye(2)[labels]
    penalty = 0.5 * np.log(len(x))
    universal = _gauss_ll(_ols_resid(y, np.column_stack([ones, x]))[0]) - 3 * penalty
    intercept = _gauss_ll(_ols_resid(y, np.column_stack([onehot, x]))[0]) - 4 * penalty
    specific = sum(
        _gauss_ll(_ols_resid(y[labels == c], np.column_stack([ones, x])[labels == c])[0])
        for c in range(2)
    )
    specific -= 6 * penalty
    score, variant = search.local_score(1, frozenset({0}))
    assert score == pytest.approx(max(universal, intercept, specific), abs=1e-6)
    assert variant == "universal"  # Y | X is the same mechanism in both clusters
    # the root X is shifted: its best variant has cluster-specific intercepts
    assert search.local_score(0, frozenset())[1] in ("intercept", "intercept_noise")


def test_mechanism_returns_the_fitted_regression(shifted_pair):
    data, labels = shifted_pair
    search = OrderSearch(cluster_moments(data, np.eye(2)[labels]))
    parents, w, b, sigma = search.mechanism(1, frozenset({0}))
    resid, beta = _ols_resid(data[:, 1], np.column_stack([np.ones(len(data)), data[:, 0]]))
    assert parents == [0]
    np.testing.assert_allclose(w, [[beta[1]], [beta[1]]], atol=1e-9)
    np.testing.assert_allclose(b, [beta[0], beta[0]], atol=1e-9)
    np.testing.assert_allclose(sigma, np.sqrt(np.mean(resid**2)), atol=1e-9)


def test_one_cluster_orders_of_a_gaussian_pair_are_equivalent(shifted_pair):
    data, _ = shifted_pair
    search = OrderSearch(cluster_moments(data, np.ones((len(data), 1))))
    assert search.order_score([0, 1]) == pytest.approx(search.order_score([1, 0]), abs=1e-6)
    assert search.parents([0, 1]) == [frozenset(), frozenset({0})]


def test_cluster_shift_orients_the_pair(shifted_pair):
    data, labels = shifted_pair
    resp = np.eye(2)[labels]
    search = OrderSearch(cluster_moments(data, resp))
    # in the wrong order the shift leaks into X | Y: one more parameter, the same fit
    margin = search.order_score([0, 1]) - search.order_score([1, 0])
    assert margin == pytest.approx(0.5 * np.log(len(data)), abs=0.5)
    best_order, _, parents = search_order(data, resp, [[1, 0]], num_random=0)[0]
    assert best_order == [0, 1]
    assert parents == [frozenset(), frozenset({0})]


def test_search_recovers_a_simulated_order_given_the_labels():
    sim = bh.simulate(500, d=8, n_clusters=2, seed=3)
    x = (sim.data - sim.data.mean()) / sim.data.std(ddof=0)
    resp = np.eye(2)[sim.labels]
    order, score, parents = search_order(x.to_numpy(), resp, num_random=3, seed=0)[0]
    search = OrderSearch(cluster_moments(x.to_numpy(), resp))
    # the search reaches at least the score of the true order
    assert score >= search.order_score(list(sim.order)) - 1e-6
    est = np.zeros((8, 8), dtype=int)
    for j, p in enumerate(parents):
        est[sorted(p), j] = 1
    assert bh.metrics.edge_scores(sim.pooled_adjacency, est)["f1"] >= 0.8
    assert sorted(order) == list(range(8))


def test_order_potentials_follow_the_order():
    phi = order_potentials([2, 0, 3, 1])
    assert list(np.argsort(phi)) == [2, 0, 3, 1]
    assert phi.min() == -2.5 and phi.max() == 2.5


def test_warm_start_params_encode_order_edges_and_clusters(shifted_pair):
    data, labels = shifted_pair
    prepared = prepare(pd.DataFrame(data, columns=["x", "y"]))
    config = ModelConfig(max_clusters=4)
    membership = np.zeros((len(data), 4))
    membership[np.arange(len(data)), labels] = 1.0
    params, order = warm_start_params(prepared, membership, np.ones(4), [1, 0], config)
    assert order == [0, 1]
    assert params["phi_loc"][0] < params["phi_loc"][1]
    assert params["rho_loc"][0, 1] > params["rho_loc"][1, 0]
    assert params["W_loc"].shape == (4, 2, 2)
    np.testing.assert_allclose(params["W_loc"][0, 0, 1], params["W_loc"][1, 0, 1], atol=1e-6)
    # cluster weights: two clusters of equal size, the empty ones nearly nothing
    v = 1 / (1 + np.exp(-params["v_loc"]))
    pi = np.append(v, 1.0) * np.concatenate([[1.0], np.cumprod(1 - v)])
    assert pi[0] == pytest.approx(pi[1], rel=0.01)
    assert pi[2] < 0.01
    # the shifted root's intercepts differ between the two clusters
    shift = params["b_shift_loc"][:2, 0]
    assert abs(shift[1] - shift[0]) > 1.5


def test_count_child_is_scored_by_its_poisson_regression_and_oriented():
    """X -> C with C | X Poisson and a cluster shift on X: the search puts X first.

    Scored as a Gaussian on z-scored log1p counts, the reverse order C -> X looks as good or
    better (the reverse conditional of a Poisson child is what the Gaussian fits badly);
    scored with the Poisson likelihood the model itself uses, the true order wins.
    """
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 500)
    xval = rng.normal(size=1000) + 2.0 * labels
    counts = rng.poisson(np.exp(0.5 + 0.6 * xval)).astype(float)
    prepared = prepare(pd.DataFrame({"x": xval, "c": counts}), types={"c": "count"})
    resp = np.eye(2)[labels]
    types = tuple(int(t) for t in prepared.type_codes())
    discrete = DiscreteNodes(prepared.y, prepared.x, resp, types)
    search = OrderSearch(cluster_moments(prepared.x, resp), discrete=discrete)
    assert search.is_discrete(1) and not search.is_discrete(0)
    assert search.order_score([0, 1]) > search.order_score([1, 0]) + 10.0
    # the fitted mechanism is the Poisson regression on the link scale
    parents, w, b, _ = search.mechanism(1, frozenset({0}))
    assert parents == [0]
    slope = 0.6 * prepared.scale[0]  # per standard deviation of x
    np.testing.assert_allclose(w[:, 0], slope, rtol=0.1)
    np.testing.assert_allclose(b, 0.5 + 0.6 * prepared.center[0], atol=0.15)


def test_discrete_nodes_must_share_the_clusters_of_the_moments():
    x = np.random.default_rng(0).normal(size=(50, 2))
    resp = np.ones((50, 1))
    discrete = DiscreteNodes(x, x, np.ones((50, 2)) / 2, (0, 1))
    with pytest.raises(ValueError, match="clusters of the moments"):
        OrderSearch(cluster_moments(x, resp), discrete=discrete)


def test_large_problems_screen_candidate_parents_and_keep_the_true_ones():
    from bayes_hcl.inference.search.order_search import MAX_CANDIDATES

    rng = np.random.default_rng(3)
    d, n = MAX_CANDIDATES + 6, 600
    x = rng.normal(size=(n, d))
    x[:, 0] = 0.9 * x[:, 1] - 0.7 * x[:, 2] + 0.5 * rng.normal(size=n)
    x = (x - x.mean(0)) / x.std(0)
    search = OrderSearch(cluster_moments(x, np.ones((n, 1))))
    screen = search.screened(0)
    assert len(screen) == MAX_CANDIDATES and 0 not in screen and {1, 2} <= screen
    _, parents = search.best_parents(0, frozenset(range(1, d)))
    assert {1, 2} <= parents <= screen
    # at or below the limit every other node stays a candidate
    small = OrderSearch(cluster_moments(x[:, : MAX_CANDIDATES + 1], np.ones((n, 1))))
    assert small.screened(0) == frozenset(range(1, MAX_CANDIDATES + 1))
