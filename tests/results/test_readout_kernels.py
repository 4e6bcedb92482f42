"""Exact checks of the kernels behind one story: shown clusters, mechanisms, effects, graphs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes_hcl.results.convergence import convergence_report
from bayes_hcl.results.effects import conditional_weights, effect_table, hdi, weighted_hdi
from bayes_hcl.results.graphs import edge_graph, pooled_weight
from bayes_hcl.results.mechanisms import mechanism_label, mechanism_table
from bayes_hcl.results.shown import cluster_note, empty_cluster_message, shown_occupancy


def _hidden_third_cluster():
    """Every draw keeps cluster 2 (40 rows of mass); the point partition merges it."""
    n = 200
    occupied = np.array([[True, True, True, False]] * 10)
    labels = np.repeat([0, 1], [120, 80])
    mean = np.zeros((n, 4))
    mean[:120, 0], mean[120:, 1] = 1.0, 1.0
    mean[100:120] = [0.2, 0.0, 0.8, 0.0]  # 16 rows of cluster-2 mass inside cluster 0
    mean[180:200] = [0.0, 0.0, 1.0, 0.0]  # 20 rows wholly in cluster 2 inside cluster 1
    return occupied, labels, mean


def test_cluster_note_names_the_hidden_cluster_and_where_its_rows_went():
    occupied, labels, mean = _hidden_third_cluster()
    note = cluster_note(occupied, labels, mean)
    assert note["shown"] == [0, 1] and note["posterior_mode"] == 3 and note["p_mode"] == 1.0
    (hidden,) = note["hidden"]
    assert hidden["cluster"] == 2 and hidden["p_occupied"] == 1.0
    assert hidden["rows"] == pytest.approx(36.0)
    assert hidden["merged_into"] == {"0": pytest.approx(16.0), "1": pytest.approx(20.0)}
    assert "shows 2 clusters (0, 1)" in note["text"]
    assert "merges into cluster 0 (~16 rows) and cluster 1 (~20 rows)" in note["text"]
    assert note["fragile"] == []


def test_cluster_note_is_silent_when_the_two_agree_and_flags_a_fragile_cluster():
    occupied = np.array([[True, True, False]] * 4)
    labels = np.repeat([0, 1], 10)
    mean = np.eye(3)[labels]
    assert cluster_note(occupied, labels, mean)["text"] is None
    occupied[:3, 1] = False  # cluster 1 occupied in a quarter of the draws only
    note = cluster_note(occupied, labels, mean)
    assert note["fragile"] == [{"cluster": 1, "p_occupied": 0.25}]
    assert "cluster 1 is occupied in only 25% of the draws" in note["text"]
    assert "pooled readouts count it in those draws only" in note["text"]


def test_shown_occupancy_and_the_empty_cluster_message():
    occupied = np.array([[True, True, True], [True, False, True]])
    np.testing.assert_array_equal(
        shown_occupancy(occupied, [0, 1]), [[True, True, False], [True, False, False]]
    )
    message = empty_cluster_message(5, [0, 1])
    assert "\n" not in message and "cluster 5" in message and "0, 1" in message


def test_mechanism_table_is_one_classification_with_exact_values():
    # draw 0: edge a->b present in both clusters with the same weight; draw 1: in one only
    inclusion = np.zeros((2, 2, 2, 2))
    inclusion[0, :, 0, 1] = [1.0, 1.0]
    inclusion[1, :, 0, 1] = [1.0, 0.0]
    weights = np.zeros_like(inclusion)
    weights[:, :, 0, 1] = 0.5
    table = mechanism_table(inclusion, weights, np.ones((2, 2), bool), ["a", "b"])
    row = table.iloc[0]
    assert (row.cause, row.effect) == ("a", "b")
    assert row.p_edge == 1.0 and row.p_all_clusters == 0.5
    assert row.p_differs == 0.5 and row.p_universal == 0.5
    assert row.mechanism == "universal"  # p_universal reaches 0.5 first
    weights[0, 1, 0, 1] = -0.5  # draw 0: weights now differ by 1.0 sd
    row = mechanism_table(inclusion, weights, np.ones((2, 2), bool), ["a", "b"]).iloc[0]
    assert row.p_differs == 1.0 and row.p_universal == 0.0 and row.mechanism == "specific"
    one = np.array([[True, False]] * 2)  # one cluster: nothing can differ
    row = mechanism_table(inclusion, weights, one, ["a", "b"]).iloc[0]
    assert row.p_differs == 0.0 and row.p_universal == row.p_edge == 1.0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_universal_and_specific_split_the_edge_probability(seed):
    rng = np.random.default_rng(seed)
    inclusion = rng.random((5, 3, 3, 3))
    weights = rng.normal(size=(5, 3, 3, 3))
    occupied = rng.random((5, 3)) < 0.7
    table = mechanism_table(inclusion, weights, occupied, ["a", "b", "c"], 0.0)
    np.testing.assert_allclose(table.p_universal + table.p_differs, table.p_edge, atol=1e-12)
    assert (table.p_all_clusters <= table.p_edge + 1e-12).all()
    labels = [mechanism_label(*r) for r in table[["p_edge", "p_universal", "p_differs"]].values]
    assert labels == table.mechanism.tolist()
    assert not ((table.mechanism == "universal") & (table.p_differs >= 0.5)).any()


def test_mechanism_label_thresholds():
    assert mechanism_label(0.4, 0.4, 0.0) == "absent"
    assert mechanism_label(0.9, 0.6, 0.3) == "universal"
    assert mechanism_label(0.9, 0.2, 0.7) == "specific"
    assert mechanism_label(0.9, 0.45, 0.45) == "undecided"


def test_weighted_hdi_with_equal_weights_is_the_hdi():
    samples = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 100.0])
    assert weighted_hdi(samples, np.ones(10), 0.9) == tuple(
        x[0] for x in hdi(samples[:, None], 0.9)
    )
    # zero-weight draws are ignored: the interval is that of the weighted ones
    weights = np.r_[np.zeros(5), np.ones(5)]
    assert weighted_hdi(samples, weights, 0.8) == (5.0, 8.0)
    assert np.isnan(weighted_hdi(samples, np.zeros(10), 0.9)[0])


def test_conditional_effects_leave_out_the_draws_without_the_edge():
    # four draws: two in the slab at 2.0, two absent (weight 0, probability 0)
    weights = np.zeros((4, 1, 2, 2))
    weights[:2, 0, 0, 1] = 2.0
    inclusion = np.zeros_like(weights)
    inclusion[:2, 0, 0, 1] = 1.0
    assert conditional_weights(weights[:, 0], inclusion[:, 0])[0, 1] == 2.0
    assert np.isnan(conditional_weights(weights[:, 0], inclusion[:, 0])[1, 0])
    row = effect_table(weights, inclusion, [0], ["a", "b"], np.ones((2, 2)), 0.05, 0.5).iloc[0]
    assert row.p_in_cluster == 0.5 and row["mean"] == 1.0
    assert (row.mean_if_present, row.hdi_low_if_present, row.hdi_high_if_present) == (2.0, 2.0, 2.0)


def test_pooled_weight_never_averages_opposite_signs_to_zero():
    sizes = np.array([500.0, 500.0])
    weight, sign = pooled_weight(np.array([0.45, -0.40]), np.array([0.9, 0.9]), sizes)
    assert np.isnan(weight) and sign == "mixed"
    weight, sign = pooled_weight(np.array([0.4, 0.8]), np.array([0.9, 0.9]), np.array([3.0, 1.0]))
    assert weight == pytest.approx(0.5) and sign == "+"
    # a cluster without the edge does not dilute the weight of the one that has it
    weight, sign = pooled_weight(np.array([-0.6, 0.01]), np.array([0.95, 0.1]), sizes)
    assert weight == pytest.approx(-0.6) and sign == "-"


def test_pooled_graph_carries_per_cluster_weights():
    prob = np.array([[0.0, 0.9], [0.0, 0.0]])
    cw = np.zeros((2, 2, 2))
    cw[:, 0, 1] = [0.45, -0.40]
    cp = np.zeros((2, 2, 2))
    cp[:, 0, 1] = 0.9
    g = edge_graph(prob, ["a", "b"], ["continuous"] * 2, 0.5, None, [0, 2], cw, cp, np.ones(2))
    attrs = g.edges["a", "b"]
    assert attrs["sign"] == "mixed" and np.isnan(attrs["weight"])
    assert attrs["weight_cluster_0"] == 0.45 and attrs["weight_cluster_2"] == -0.40
    g2 = edge_graph(prob, ["a", "b"], ["continuous"] * 2, 0.5, 2, [0, 2], cw, cp, np.ones(2))
    assert g2.edges["a", "b"]["weight"] == -0.40


def test_convergence_counts_every_cluster_for_k_and_the_shown_ones_for_pooled_edges():
    """A hidden cluster that one chain keeps and the other never has: R-hat on the number
    of clusters sees it (as n_clusters() does); the pooled edges, over the shown clusters,
    do not."""
    rng = np.random.default_rng(0)
    c, s, n, k, d = 2, 200, 30, 3, 3
    labels = np.repeat([0, 1], n // 2)
    membership = np.zeros((c, s, n, k))
    membership[..., np.arange(n), labels] = 1.0
    occupied = np.ones((c, s, k), dtype=bool)
    occupied[1, :, 2] = False  # cluster 2: always in chain 0, never in chain 1
    inclusion = rng.uniform(0.4, 0.6, size=(c, s, k, d, d))
    inclusion[0, :, 2] = 1.0  # the hidden cluster has every edge in chain 0
    stats = {"diverging": np.zeros((c, s), bool), "tree_size": np.full((c, s), 7)}
    report, table = convergence_report(
        rng.normal(size=(c, s, n)),
        membership,
        inclusion,
        occupied,
        labels,
        list("abc"),
        stats,
        8,
    )
    assert report["quantities"]["n_clusters"]["rhat"] > 1.5
    assert np.nanmax(table[..., 0]) < 1.05
