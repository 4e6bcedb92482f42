"""Exact checks of the orientation machinery: CPDAGs, reasons, evidence, residual tests."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes_hcl.inference.search.order_search import OrderSearch, cluster_moments
from bayes_hcl.results.identifiability.orientation import (
    OrderEvidence,
    cluster_residuals,
    cpdag,
    jarque_bera,
    negentropy,
    orientation_reasons,
)
from bayes_hcl.results.identifiability.rules import separability
from bayes_hcl.results.mechanisms import mechanism_changes


def _dag(d, edges):
    g = np.zeros((d, d), dtype=int)
    for i, j in edges:
        g[i, j] = 1
    return g


def test_chain_is_undirected_collider_is_compelled_and_propagates():
    assert not cpdag(_dag(3, [(0, 1), (1, 2)])).any()
    # 0 -> 2 <- 1 and 2 -> 3: the collider is compelled, Meek's first rule orients 2 -> 3
    out = cpdag(_dag(4, [(0, 2), (1, 2), (2, 3)]))
    assert out.astype(int).tolist() == _dag(4, [(0, 2), (1, 2), (2, 3)]).tolist()
    # a shielded collider (triangle) orients nothing
    assert not cpdag(_dag(3, [(0, 1), (0, 2), (1, 2)])).any()


def test_meek_rule_two_orients_along_a_directed_path():
    # 0 -> 1 <- 3 (collider), 1 -> 2 by R1, and 0 - 2 with 0 -> 1 -> 2 gives 0 -> 2 by R2
    g = _dag(4, [(0, 1), (3, 1), (1, 2), (0, 2)])
    out = cpdag(g)
    assert out[0, 1] and out[3, 1] and out[1, 2] and out[0, 2]


def test_reasons_from_a_cluster_node():
    pair = _dag(2, [(0, 1)])
    # only the effect changes: C -> 1 <- 0 is a collider
    assert orientation_reasons(pair, np.array([False, True]))[0][1] == ["mechanism change"]
    # only the cause changes: C -> 0 - 1 with 1 unchanged, Meek's first rule
    assert orientation_reasons(pair, np.array([True, False]))[0][1] == ["mechanism change"]
    # both or neither change: the cluster orients nothing between them
    assert orientation_reasons(pair, np.array([True, True]))[0][1] == []
    assert orientation_reasons(pair, np.array([False, False]))[0][1] == []
    # non-Gaussian residual at either end (only passed for a non-Gaussian likelihood)
    reasons = orientation_reasons(pair, np.array([False, False]), np.array([True, False]))
    assert reasons[0][1] == ["non-Gaussian noise"]
    collider = orientation_reasons(_dag(3, [(0, 2), (1, 2)]), np.zeros(3, bool))
    assert collider[0][2] == ["v-structure"] and collider[1][2] == ["v-structure"]


def _random_dag(rng, d, p):
    order = rng.permutation(d)
    g = np.zeros((d, d), dtype=int)
    for a in range(d):
        for b in range(a + 1, d):
            if rng.random() < p:
                g[order[a], order[b]] = 1
    return g


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 7), st.floats(0.1, 0.9), st.integers(0, 10_000))
def test_cpdag_is_invariant_under_covered_edge_reversals(d, p, seed):
    """Chickering (1995): reversing a covered edge gives a Markov-equivalent DAG, so the
    CPDAG must not change, and a compelled edge is never covered."""
    g = _random_dag(np.random.default_rng(seed), d, p)
    ref = cpdag(g)
    assert not (ref & (g == 0)).any()  # compelled edges keep the DAG's direction
    for i, j in zip(*np.nonzero(g), strict=True):
        covered = set(np.flatnonzero(g[:, j])) - {i} == set(np.flatnonzero(g[:, i]))
        if covered:
            assert not ref[i, j]
            h = g.copy()
            h[i, j], h[j, i] = 0, 1
            assert (cpdag(h) == ref).all()


def test_residual_tests_and_negentropy():
    rng = np.random.default_rng(0)
    gauss, laplace = rng.normal(size=4000), rng.laplace(size=4000)
    assert jarque_bera(gauss)[3] > 0.01 and abs(jarque_bera(gauss)[1]) < 0.3
    _, kurt, stat, p = jarque_bera(laplace)
    assert p < 1e-10 and 2.0 < kurt < 4.0 and stat > 100
    assert negentropy(laplace) > 10 * negentropy(gauss) >= 0.0
    assert negentropy(np.ones(10)) == 0.0


def test_cluster_residuals_are_per_cluster_and_standardised():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    labels = np.repeat([0, 1], 100)
    x[labels == 1, 1] = 3.0 + 2.0 * x[labels == 1, 0] + 4.0 * rng.normal(size=100)
    r = cluster_residuals(x, labels, 1, {0}, standardise=True)
    for k in (0, 1):
        assert abs(r[labels == k].mean()) < 1e-9 and abs(r[labels == k].std() - 1) < 1e-9


def _evidence(x, labels, order, non_gaussian=None):
    resp = np.eye(labels.max() + 1)[labels]
    search = OrderSearch(cluster_moments(x, resp, min_count=0.0))
    return OrderEvidence(search, order, x, labels, non_gaussian)


def test_order_evidence_zero_for_markov_equivalent_and_positive_for_collider():
    rng = np.random.default_rng(2)
    n = 2000
    a = rng.normal(size=n)
    pair = np.column_stack([a, 0.8 * a + 0.6 * rng.normal(size=n)])
    ones = np.zeros(n, dtype=int)
    assert _evidence(pair, ones, [0, 1]).delta(0, 1) == pytest.approx(0.0, abs=1e-6)
    b = rng.normal(size=n)
    coll = np.column_stack([a, b, 0.7 * a + 0.7 * b + 0.5 * rng.normal(size=n)])
    ev = _evidence(coll, ones, [0, 1, 2])
    assert ev.delta(0, 2) > 2.0 and ev.delta(1, 2) > 2.0
    assert ev.delta(2, 0) == pytest.approx(-ev.delta(0, 2))


def test_order_evidence_uses_negentropy_only_where_asked():
    rng = np.random.default_rng(3)
    n = 2000
    a = rng.laplace(size=n)
    pair = np.column_stack([a, 0.8 * a + 0.6 * rng.laplace(size=n)])
    ones = np.zeros(n, dtype=int)
    assert _evidence(pair, ones, [0, 1]).delta(0, 1) == pytest.approx(0.0, abs=1e-6)
    assert _evidence(pair, ones, [0, 1], np.array([True, True])).delta(0, 1) > 10.0


def test_separability_of_identical_and_distant_clusters():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 3))
    half = np.repeat([[1.0, 0.0], [0.0, 1.0]], 200, axis=0)
    same = separability(x, half, 0, 1)
    assert same["bhattacharyya"] > 0.95 and same["misclassification"] == 0.0
    far = x + np.repeat([[0.0], [8.0]], 200, axis=0)
    apart = separability(far, half, 0, 1)
    assert apart["bhattacharyya"] < 1e-3 and apart["hellinger"] > 0.99
    soft = np.repeat([[0.7, 0.3], [0.3, 0.7]], 200, axis=0)
    assert separability(x, soft, 0, 1)["misclassification"] == pytest.approx(0.3)


def test_mechanism_changes_exact_on_a_hand_built_posterior():
    # two draws, three clusters (third empty), two nodes; edge 0 -> 1
    inclusion = np.zeros((2, 3, 2, 2))
    inclusion[:, :2, 0, 1] = [[1.0, 0.0], [1.0, 1.0]]
    weights = np.zeros((2, 3, 2, 2))
    weights[1, :2, 0, 1] = [0.5, 1.0]  # span 0.5 > 0.25 in draw 1
    b_shift = np.zeros((2, 3, 2))
    b_shift[0, 1, 0] = 0.5  # draw 0: node 0's intercept shifted with probability 0.5
    occupied = np.array([[True, True, False], [True, True, False]])
    edge, node = mechanism_changes(inclusion, weights, b_shift, np.zeros_like(b_shift), occupied)
    assert edge[0, 1] == pytest.approx(1.0)  # draw 0: present in one cluster; draw 1: weights
    assert node[1] == pytest.approx(1.0) and node[0] == pytest.approx(0.25)
    single = np.array([[True, False, False]] * 2)
    edge1, node1 = mechanism_changes(inclusion, weights, b_shift, np.zeros_like(b_shift), single)
    assert not edge1.any() and not node1.any()


def test_order_evidence_climbs_to_markov_equivalent_orders():
    # a chain reversed end to end is equivalent; one move cannot reach it, the climb does
    rng = np.random.default_rng(5)
    n = 2000
    a = rng.normal(size=n)
    b = 0.8 * a + 0.6 * rng.normal(size=n)
    chain = np.column_stack([a, b, 0.8 * b + 0.6 * rng.normal(size=n)])
    ev = _evidence(chain, np.zeros(n, dtype=int), [0, 1, 2])
    assert ev.delta(1, 2) == pytest.approx(0.0, abs=1e-6)
    assert ev.delta(0, 1) == pytest.approx(0.0, abs=1e-6)


def test_non_gaussian_evidence_counts_every_modelled_node_in_every_order():
    # X uniform -> Y; scored from the wrong order (Y, X) the evidence must point back to X -> Y
    rng = np.random.default_rng(6)
    n = 2000
    x = rng.uniform(-1.7, 1.7, size=n)
    data = np.column_stack([x, x + 0.6 * rng.normal(size=n)])
    ev = _evidence(data, np.zeros(n, dtype=int), [1, 0], np.array([True, True]))
    assert ev.delta(1, 0) < -10.0


def test_run_agreement_weights_runs_and_handles_no_edges():
    from bayes_hcl.results.convergence import run_agreement

    parts = np.array([[0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 0]])
    runs = {
        "orders": np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]),
        "partitions": parts,
        "weights": np.array([0.5, 0.5, 0.0]),
        "scores": np.array([-10.0, -10.0, -50.0]),
        "forced_one_cluster": np.array([False, False, True]),
    }
    warnings: list[str] = []
    out = run_agreement(runs, [], "svi", warnings)  # no edges: no crash
    assert out["n_runs"] == 2 and out["n_forced_one_cluster"] == 1
    assert out["partition_ari_mean"] == pytest.approx(-0.5)
    assert out["partition_ari_weighted"] == pytest.approx(0.5 * 1 + 0.5 * -0.5)
    assert out["verdict"] == "restarts disagree" and len(warnings) == 1
    runs["weights"] = np.array([0.999, 0.001, 0.0])  # a restart the ELBO discounts
    out = run_agreement(runs, [{"status": "identified", "agreement": 0.0}], "svi", [])
    assert out["partition_ari_weighted"] > 0.99
    assert out["verdict"] == "restarts disagree"  # edge agreement 0.0 still counts


def test_pair_agreement_on_an_unoriented_edge_compares_adjacency():
    from bayes_hcl.results.identifiability.rules import _pair_agreement

    pooled = np.array([[0.0, 0.3], [0.3, 0.0]])
    calls = np.zeros((2, 2, 2), dtype=bool)
    calls[0, 0, 1] = calls[1, 1, 0] = True  # both runs find the edge, opposite directions
    runs = {
        "calls": calls,
        "weights": np.array([0.5, 0.5]),
        "forced_one_cluster": np.zeros(2, bool),
    }
    assert _pair_agreement(runs, pooled, 0, 1, oriented=False) == pytest.approx(1.0)
    assert _pair_agreement(runs, pooled, 0, 1, oriented=True) == pytest.approx(0.0)
