import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes_hcl.results import effects, summary


def test_pooled_probability_is_any_of_occupied_clusters():
    inclusion = np.zeros((2, 3, 2, 2))
    inclusion[0, :, 0, 1] = [0.5, 0.5, 0.9]
    inclusion[1, :, 0, 1] = [0.2, 0.0, 0.0]
    occupied = np.array([[True, True, False], [True, False, False]])
    pooled = summary.pooled_edge_probabilities(inclusion, occupied)
    assert pooled[0, 1] == pytest.approx((0.75 + 0.2) / 2)  # cluster 2 is unoccupied
    assert pooled[1, 0] == 0.0


def test_universality_table_exact():
    inclusion = np.zeros((1, 2, 2, 2))
    inclusion[0, :, 0, 1] = [0.8, 0.5]
    with pytest.warns(DeprecationWarning, match="mechanism_table"):
        table = summary.universality_table(inclusion, np.ones((1, 2), bool), ["a", "b"], 0.05)
    row = table.iloc[0]
    assert (row.cause, row.effect) == ("a", "b")
    assert row.p_all == pytest.approx(0.4)
    assert row.p_any == pytest.approx(0.9)
    assert row.p_specific == pytest.approx(0.5)


def test_coclustering_and_point_partition():
    m = np.zeros((2, 4, 3))
    m[:, :2, 0] = 1.0
    m[:, 2:, 1] = 1.0
    m[1, 3] = [0.0, 0.5, 0.5]
    cc = summary.coclustering(m)
    np.testing.assert_allclose(cc[0, 1], 1.0)
    np.testing.assert_allclose(cc[2, 3], 0.75)
    np.testing.assert_allclose(cc[0, 2], 0.0)
    labels = summary.point_partition(m, cc, "binder")
    assert labels[0] == labels[1] != labels[2] == labels[3]
    assert summary.expected_binder_loss(labels, cc) == pytest.approx(0.25)


def test_greedy_merge_joins_duplicate_clusters():
    # two components share one population half/half in every draw: one cluster really
    m = np.zeros((3, 6, 2))
    m[:, :, 0] = 0.5
    m[:, :, 1] = 0.5
    cc = summary.coclustering(m)
    labels = summary.point_partition(m, cc, "vi")
    assert len(np.unique(labels)) == 1


def test_absorb_small_clusters_moves_tiny_cluster_rows():
    labels = np.array([0] * 200 + [1] * 198 + [2] * 2)
    mean = np.full((400, 3), 0.1)
    mean[np.arange(400), labels] = 0.8
    mean[398:, 1] = 0.15
    out = summary.absorb_small_clusters(labels, mean)
    assert set(out) == {0, 1} and (out[398:] == 1).all()


def test_n_clusters_posterior_counts_occupied():
    occupied = np.array([[True, False], [True, True], [True, True], [True, False]])
    post = summary.n_clusters_posterior(occupied)
    assert post.to_dict() == {1: 0.5, 2: 0.5}


def test_sample_occupancy_respects_minimum_size():
    m = np.zeros((1, 100, 3))
    m[0, :98, 0] = 1.0
    m[0, 98:, 1] = 1.0
    occ = summary.sample_occupancy(m, np.random.default_rng(0), min_size=3)
    assert occ.tolist() == [[True, False, False]]
    assert summary.sample_occupancy(m, np.random.default_rng(0), 2).tolist() == [
        [True, True, False]
    ]


def test_hdi_exact_on_known_samples():
    samples = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 100.0])[:, None]
    low, high = effects.hdi(samples, 0.9)
    assert (low[0], high[0]) == (0.0, 8.0)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.integers(0, 10_000), st.floats(0.0, 0.9))
def test_acyclic_edges_never_returns_a_cycle(d, seed, threshold):
    prob = np.random.default_rng(seed).random((d, d))
    kept, skipped = summary.acyclic_edges(prob, threshold)
    assert nx.is_directed_acyclic_graph(nx.DiGraph(kept))
    expected = int((prob >= threshold).sum() - (np.diag(prob) >= threshold).sum())
    assert len(kept) + len(skipped) == expected


def test_acyclic_edges_drops_the_weakest_edge_of_a_cycle():
    prob = np.zeros((3, 3))
    prob[0, 1], prob[1, 2], prob[2, 0] = 0.9, 0.8, 0.6
    kept, skipped = summary.acyclic_edges(prob, 0.5)
    assert kept == [(0, 1), (1, 2)] and skipped == [(2, 0)]


def test_effect_table_values_and_units():
    weights = np.zeros((4, 1, 2, 2))
    weights[:, 0, 0, 1] = [1.0, 2.0, 3.0, 4.0]
    inclusion = np.zeros((4, 1, 2, 2))
    inclusion[:, 0, 0, 1] = 1.0
    factor = np.array([[1.0, 2.0], [0.5, 1.0]])
    table = effects.effect_table(weights, inclusion, [0], ["a", "b"], factor, 0.05, 0.5)
    row = table.iloc[0]
    assert (row.parent, row.child, row.p_in_cluster) == ("a", "b", 1.0)
    assert row["mean"] == pytest.approx(2.5) and row.mean_original == pytest.approx(5.0)
    assert row.mean_if_present == pytest.approx(2.5)
    assert row.mean_if_present_original == pytest.approx(5.0)
    assert row.sd == pytest.approx(np.std([1, 2, 3, 4]))
    assert len(table) == 1


def test_shift_table_needs_two_clusters():
    resp = np.zeros((2, 2, 1))
    resp[:, 1, 0] = 1.0
    b = np.zeros((2, 2, 1))
    b[:, 1, 0] = 2.0
    sigma = np.ones((2, 2, 1))
    occupied = np.array([[True, True], [True, False]])
    table = summary.shift_table(resp, np.zeros_like(resp), b, sigma, occupied, ["x"])
    row = table.iloc[0]
    assert row.p_intercept_shift == pytest.approx(0.5)
    assert row.intercept_spread == pytest.approx(1.0)
    assert row.noise_ratio == pytest.approx(1.0)


def test_shift_of_practical_size_counts_only_draws_whose_clusters_span_min_shift():
    # 4 draws, 3 clusters, 2 variables; cluster 2 is unoccupied in every draw
    occupied = np.array([[True, True, False]] * 3 + [[True, False, False]])
    b = np.zeros((4, 3, 2))
    b[:, 1, 0] = [0.1, 0.3, 1.0, 5.0]  # the last draw has one cluster: no shift
    b[:, 2, 0] = 9.0  # unoccupied: never counts
    sigma = np.ones((4, 3, 2))
    sigma[:, 1, 1] = [1.5, 1.1, 1.0, 1.0]
    resp = np.zeros((4, 3, 2))
    resp[:, 1, 0] = [1.0, 0.5, 1.0, 1.0]
    noise_resp = np.zeros((4, 3, 2))
    noise_resp[:, 1, 1] = 1.0
    table = summary.shift_table(resp, noise_resp, b, sigma, occupied, ["x", "y"], min_shift=0.25)
    assert table.attrs["min_shift"] == 0.25
    x, y = table.set_index("variable").loc["x"], table.set_index("variable").loc["y"]
    assert x.p_intercept_shift == pytest.approx((1.0 + 0.5 + 1.0) / 4)
    assert x.p_intercept_shift_exceeds == pytest.approx((0.5 + 1.0) / 4)  # spreads 0.3, 1.0
    assert x.p_noise_shift_exceeds == 0.0 and x.p_shift_exceeds == x.p_intercept_shift_exceeds
    assert y.p_noise_shift == pytest.approx(3 / 4)
    assert y.p_noise_shift_exceeds == pytest.approx(1 / 4)  # only the 0.5 sd widening
    assert list(table.variable) == ["x", "y"]  # sorted by p_shift_exceeds
    # with no size asked, a shift of practical size is a shift whose clusters differ at all
    loose = summary.shift_table(resp, noise_resp, b, sigma, occupied, ["x", "y"], min_shift=0.0)
    assert loose.set_index("variable").loc["y"].p_noise_shift_exceeds == pytest.approx(2 / 4)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.floats(0.0, 2.0),
    st.floats(0.0, 2.0),
)
def test_shift_of_practical_size_is_rarer_with_a_larger_size(seed, small, extra):
    rng = np.random.default_rng(seed)
    s_, k, d = 6, 3, 2
    occupied = rng.uniform(size=(s_, k)) < 0.7
    resp, noise_resp = rng.uniform(size=(2, s_, k, d))
    b, sigma = rng.normal(size=(s_, k, d)), rng.uniform(0.2, 2.0, size=(s_, k, d))
    low, high = (
        summary.shift_table(resp, noise_resp, b, sigma, occupied, ["a", "b"], size)
        .set_index("variable")
        .sort_index()
        for size in (small, small + extra)
    )
    for column in ("p_shift_exceeds", "p_intercept_shift_exceeds", "p_noise_shift_exceeds"):
        assert (high[column] <= low[column] + 1e-12).all()
    assert (low.p_intercept_shift_exceeds <= low.p_intercept_shift + 1e-12).all()
    assert (low.p_noise_shift_exceeds <= low.p_noise_shift + 1e-12).all()
    assert low.p_shift_exceeds.between(0, 1).all()


def test_adjacency_with_ambiguous_orientation_is_undirected():
    p = np.array(
        [
            [0.0, 0.9, 0.3, 0.1],
            [0.05, 0.0, 0.0, 0.0],
            [0.35, 0.0, 0.0, 0.2],
            [0.1, 0.0, 0.2, 0.0],
        ]
    )
    adj = summary.adjacency_with_ambiguous(p)
    # 0 -> 1 directed; 0 - 2 adjacent with probability 0.65 but neither way >= 0.5
    expected = np.zeros((4, 4), dtype=int)
    expected[0, 1] = 1
    expected[0, 2] = expected[2, 0] = 1
    np.testing.assert_array_equal(adj, expected)
    # pairs with adjacency probability below the threshold stay absent (0-3: 0.2, 2-3: 0.4)
    assert adj[0, 3] == adj[3, 0] == adj[2, 3] == adj[3, 2] == 0


def test_cpdag_adjacency_undirects_edges_the_report_cannot_orient():
    from bayes_hcl.results.identifiability.rules import cpdag_adjacency

    cols = ["a", "b", "c"]
    pooled = np.array([[0.0, 0.92, 0.8], [0.01, 0.0, 0.0], [0.1, 0.0, 0.0]])
    entry = {"reason": None, "delta_evidence": 0.0, "agreement": 1.0, "p_none": 0.07}
    report = {
        "edges": [
            {"cause": "a", "effect": "b", "status": "orientation ambiguous", **entry}
            | {"p_forward": 0.92, "p_reverse": 0.01},
            {"cause": "a", "effect": "c", "status": "identified", **entry}
            | {"p_forward": 0.8, "p_reverse": 0.1},
        ]
    }
    adj = cpdag_adjacency(pooled, report, cols)
    np.testing.assert_array_equal(adj, [[0, 1, 1], [1, 0, 0], [0, 0, 0]])


def _vi_by_definition(labels, cc):
    same = labels[:, None] == labels[None, :]
    within = (cc * same).sum(1)
    return float(np.mean(np.log2(same.sum(1)) + np.log2(cc.sum(1)) - 2.0 * np.log2(within)))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 5))
def test_fast_vi_loss_and_merge_equal_the_definition(seed, k):
    rng = np.random.default_rng(seed)
    m = rng.dirichlet(np.full(k, 0.3), size=(20, 40))
    cc = summary.coclustering(m)
    labels = rng.integers(0, k, 40)
    assert summary.expected_vi_loss(labels, cc) == pytest.approx(_vi_by_definition(labels, cc))
    merged = summary._greedy_merge_vi(labels.copy(), cc)
    assert (merged == summary._greedy_merge(labels.copy(), cc, _vi_by_definition)).all()
