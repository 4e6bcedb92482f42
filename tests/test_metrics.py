"""Tests for bayes_hcl.metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    adjusted_rand_score,
    average_precision_score,
    normalized_mutual_info_score,
    roc_auc_score,
)

from bayes_hcl.metrics import (
    adjusted_rand_index,
    auprc,
    auroc,
    edge_scores,
    match_clusters,
    normalized_mutual_info,
    per_cluster_edge_scores,
    shd,
    skeleton_f1,
)

FAST = settings(max_examples=50, deadline=None)

# Chain 0 -> 1 -> 2 and variants.
CHAIN = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
REVERSED = CHAIN.T.copy()
UNDIRECTED = CHAIN + CHAIN.T
EMPTY = np.zeros((3, 3))


def _expect(**kw: float) -> dict[str, float]:
    """Expected `edge_scores` output (all keys must be given)."""
    assert set(kw) == {"precision", "recall", "f1", "tp", "fp", "fn"}
    return kw


# ---------------------------------------------------------------------------
# shd / edge_scores / skeleton_f1 on hand-built graphs
# ---------------------------------------------------------------------------


def test_identical_graph_is_perfect() -> None:
    assert shd(CHAIN, CHAIN) == 0
    assert edge_scores(CHAIN, CHAIN) == _expect(
        precision=1.0, recall=1.0, f1=1.0, tp=2.0, fp=0.0, fn=0.0
    )
    assert skeleton_f1(CHAIN, CHAIN) == 1.0


def test_chain_vs_reversal() -> None:
    assert shd(CHAIN, REVERSED) == 2  # each reversed edge counts once
    assert edge_scores(CHAIN, REVERSED) == _expect(
        precision=0.0, recall=0.0, f1=0.0, tp=0.0, fp=2.0, fn=2.0
    )
    assert skeleton_f1(CHAIN, REVERSED) == 1.0


def test_chain_vs_undirected_half_credit() -> None:
    assert shd(CHAIN, UNDIRECTED) == 2
    assert edge_scores(CHAIN, UNDIRECTED) == _expect(
        precision=0.5, recall=0.5, f1=0.5, tp=1.0, fp=1.0, fn=1.0
    )
    assert skeleton_f1(CHAIN, UNDIRECTED) == 1.0


def test_chain_vs_undirected_no_half_credit() -> None:
    res = edge_scores(CHAIN, UNDIRECTED, undirected_half_credit=False)
    assert res == _expect(precision=0.0, recall=0.0, f1=0.0, tp=0.0, fp=2.0, fn=2.0)


def test_undirected_truth_vs_undirected_estimate() -> None:
    # A bidirected true pair has 2 true edges; the undirected estimate is one
    # predicted edge with full credit (0.5 per true orientation).
    for half in (True, False):
        res = edge_scores(UNDIRECTED, UNDIRECTED, undirected_half_credit=half)
        assert res["tp"] == 2.0 and res["fp"] == 0.0 and res["fn"] == 2.0
        assert res["precision"] == 1.0 and res["recall"] == 0.5
    assert shd(UNDIRECTED, UNDIRECTED) == 0


def test_missing_and_extra_edge() -> None:
    est = np.array([[0, 1, 1], [0, 0, 0], [0, 0, 0]])  # 0->1 ok, 1->2 missing, 0->2 extra
    assert shd(CHAIN, est) == 2
    assert edge_scores(CHAIN, est) == _expect(
        precision=0.5, recall=0.5, f1=0.5, tp=1.0, fp=1.0, fn=1.0
    )
    assert skeleton_f1(CHAIN, est) == pytest.approx(0.5)


def test_undirected_extra_edge_counts_once() -> None:
    est = CHAIN.copy()
    est[0, 2] = est[2, 0] = 1
    assert shd(CHAIN, est) == 1
    res = edge_scores(CHAIN, est)
    assert res["tp"] == 2.0 and res["fp"] == 1.0 and res["fn"] == 0.0
    assert res["precision"] == pytest.approx(2 / 3) and res["recall"] == 1.0
    assert res["f1"] == pytest.approx(0.8)


def test_empty_vs_empty() -> None:
    assert shd(EMPTY, EMPTY) == 0
    assert edge_scores(EMPTY, EMPTY) == _expect(
        precision=0.0, recall=0.0, f1=1.0, tp=0.0, fp=0.0, fn=0.0
    )
    assert skeleton_f1(EMPTY, EMPTY) == 1.0


def test_empty_estimate_and_empty_truth() -> None:
    assert shd(CHAIN, EMPTY) == 2
    assert edge_scores(CHAIN, EMPTY) == _expect(
        precision=0.0, recall=0.0, f1=0.0, tp=0.0, fp=0.0, fn=2.0
    )
    assert shd(EMPTY, CHAIN) == 2
    assert edge_scores(EMPTY, CHAIN)["fp"] == 2.0
    assert skeleton_f1(EMPTY, CHAIN) == 0.0


def test_diagonal_ignored_and_weights_count_as_edges() -> None:
    est = np.array([[5.0, -0.3, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, -1.0]])
    assert shd(CHAIN, est) == 0
    assert edge_scores(CHAIN, est)["f1"] == 1.0
    assert skeleton_f1(np.eye(3), EMPTY) == 1.0


@FAST
@given(
    st.integers(2, 6).flatmap(
        lambda d: st.tuples(
            st.lists(st.booleans(), min_size=d * d, max_size=d * d),
            st.lists(st.booleans(), min_size=d * d, max_size=d * d),
        )
    )
)
def test_shd_symmetric_and_bounded(flat: tuple[list[bool], list[bool]]) -> None:
    d = math.isqrt(len(flat[0]))
    a = np.array(flat[0]).reshape(d, d)
    b = np.array(flat[1]).reshape(d, d)
    dist = shd(a, b)
    assert dist == shd(b, a)
    assert 0 <= dist <= d * (d - 1) // 2
    assert (dist == 0) == np.array_equal(a & ~np.eye(d, dtype=bool), b & ~np.eye(d, dtype=bool))
    res = edge_scores(a, b)
    assert 0.0 <= res["precision"] <= 1.0 and 0.0 <= res["recall"] <= 1.0
    assert res["tp"] + res["fn"] == pytest.approx(float((a & ~np.eye(d, dtype=bool)).sum()))


# ---------------------------------------------------------------------------
# AUROC / AUPRC
# ---------------------------------------------------------------------------


def _chaindict() -> np.ndarray:
    s = np.full((3, 3), 0.1)
    s[0, 1], s[1, 2], s[0, 2] = 0.9, 0.5, 0.7
    np.fill_diagonal(s, 99.0)  # diagonal must be ignored
    return s


def test_auroc_auprc_hand_computed() -> None:
    s = _chaindict()
    # positives 0.9, 0.5; negatives 0.7, 0.1 x3 -> 7 of 8 pairs ordered correctly
    assert auroc(CHAIN, s) == pytest.approx(7 / 8)
    # ranking: +, -, +, (-,-,-) -> AP = 0.5 * 1 + 0.5 * 2/3
    assert auprc(CHAIN, s) == pytest.approx(0.5 + 1 / 3)


def test_auroc_auprc_perfect_reversed_and_tied() -> None:
    truth = np.array([[0, 1], [0, 0]])
    good = np.array([[0.0, 0.9], [0.1, 0.0]])
    assert auroc(truth, good) == 1.0 and auprc(truth, good) == 1.0
    assert auroc(truth, good.T) == 0.0 and auprc(truth, good.T) == 0.5
    tied = np.full((3, 3), 0.4)
    assert auroc(CHAIN, tied) == 0.5
    assert auprc(CHAIN, tied) == pytest.approx(2 / 6)  # prevalence


def test_auroc_auprc_nan_without_both_classes() -> None:
    s = _chaindict()
    assert math.isnan(auroc(EMPTY, s)) and math.isnan(auprc(EMPTY, s))
    full = np.ones((2, 2))
    assert math.isnan(auroc(full, np.eye(2))) and math.isnan(auprc(full, np.eye(2)))


@FAST
@given(
    st.integers(2, 6).flatmap(
        lambda d: st.tuples(
            st.lists(st.booleans(), min_size=d * d, max_size=d * d),
            st.lists(st.integers(0, 4), min_size=d * d, max_size=d * d),
        )
    )
)
def test_auroc_auprc_match_sklearn(flat: tuple[list[bool], list[int]]) -> None:
    d = math.isqrt(len(flat[0]))
    truth = np.array(flat[0]).reshape(d, d)
    scores = np.array(flat[1], dtype=float).reshape(d, d) / 4.0  # coarse grid -> ties
    mask = ~np.eye(d, dtype=bool)
    y, s = truth[mask], scores[mask]
    if y.all() or not y.any():
        assert math.isnan(auroc(truth, scores)) and math.isnan(auprc(truth, scores))
        return
    assert auroc(truth, scores) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert auprc(truth, scores) == pytest.approx(average_precision_score(y, s), abs=1e-12)


# ---------------------------------------------------------------------------
# ARI / NMI
# ---------------------------------------------------------------------------

label_pairs = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
    )
)


def test_ari_nmi_hand_computed() -> None:
    # pred refines true: ARI = (1 - 1/3) / (3/2 - 1/3) = 4/7, NMI = ln2 / (2.5 ln2 / 2) = 0.8
    true, pred = [0, 0, 1, 1], [0, 0, 1, 2]
    assert adjusted_rand_index(true, pred) == pytest.approx(4 / 7)
    assert normalized_mutual_info(true, pred) == pytest.approx(0.8)


def test_ari_nmi_perfect_up_to_relabelling_with_strings() -> None:
    true, pred = [0, 0, 1, 2, 2], ["b", "b", "a", ("t", 1), ("t", 1)]
    assert adjusted_rand_index(true, pred) == 1.0
    assert normalized_mutual_info(true, pred) == pytest.approx(1.0)


def test_ari_nmi_single_cluster_conventions() -> None:
    assert adjusted_rand_index([1, 1, 1], ["x", "x", "x"]) == 1.0
    assert normalized_mutual_info([1, 1, 1], ["x", "x", "x"]) == 1.0
    assert normalized_mutual_info([1, 1, 1, 1], [0, 0, 1, 1]) == 0.0
    assert adjusted_rand_index([1, 1, 1, 1], [0, 0, 1, 1]) == 0.0


@FAST
@given(label_pairs)
def test_ari_nmi_match_sklearn(pair: tuple[list[int], list[int]]) -> None:
    true, pred = pair
    assert adjusted_rand_index(true, pred) == pytest.approx(
        adjusted_rand_score(true, pred), abs=1e-10
    )
    assert normalized_mutual_info(true, pred) == pytest.approx(
        normalized_mutual_info_score(true, pred), abs=1e-10
    )


@FAST
@given(label_pairs, st.permutations(range(5)))
def test_ari_nmi_permutation_invariant(pair: tuple[list[int], list[int]], perm: list[int]) -> None:
    true, pred = pair
    relabelled = [f"c{perm[p]}" for p in pred]
    ari, nmi = adjusted_rand_index(true, pred), normalized_mutual_info(true, pred)
    assert adjusted_rand_index(true, relabelled) == pytest.approx(ari, abs=1e-12)
    assert normalized_mutual_info(true, relabelled) == pytest.approx(nmi, abs=1e-12)
    assert adjusted_rand_index(pred, true) == pytest.approx(ari, abs=1e-12)
    assert normalized_mutual_info(pred, true) == pytest.approx(nmi, abs=1e-12)


# ---------------------------------------------------------------------------
# match_clusters / per_cluster_edge_scores
# ---------------------------------------------------------------------------


@FAST
@given(st.lists(st.integers(0, 4), min_size=1, max_size=40), st.permutations(range(5)))
def test_match_clusters_recovers_permutation(true: list[int], perm: list[int]) -> None:
    pred = [f"k{perm[t]}" for t in true]
    mapping = match_clusters(true, pred)
    assert mapping == {f"k{perm[t]}": t for t in set(true)}


def test_match_clusters_unequal_counts() -> None:
    true = [0, 0, 0, 1, 1, 2]
    assert match_clusters(true, ["x"] * 3 + ["y"] * 3) == {"x": 0, "y": 1}
    many = match_clusters([0, 0, 0, 1, 1, 1], ["a", "a", "a", "b", "b", "c"])
    assert many == {"a": 0, "b": 1}  # 'c' is unmatched and absent
    assert all(type(k) is int for k in match_clusters(np.array([3, 3, 4]), np.array([7, 7, 8])))


def test_per_cluster_edge_scores() -> None:
    labels_true = [0, 0, 1, 1, 2]
    labels_pred = ["q", "q", "p", "p", "p"]  # q -> 0, p -> 1, true 2 unmatched
    true_adjs = {0: CHAIN, 1: CHAIN, 2: CHAIN}
    est_adjs = {"p": REVERSED, "q": CHAIN}
    df = per_cluster_edge_scores(true_adjs, est_adjs, labels_true, labels_pred)
    assert list(df.columns) == ["true_cluster", "pred_cluster", "precision", "recall", "f1", "shd"]
    assert df["true_cluster"].tolist() == [0, 1, 2]
    assert df["pred_cluster"].tolist() == ["q", "p", None]
    assert df["f1"].tolist() == [1.0, 0.0, 0.0]
    assert df["precision"].tolist() == [1.0, 0.0, 0.0]
    assert df["shd"].tolist() == [0, 2, 2]


def test_per_cluster_unmatched_empty_truth_is_perfect() -> None:
    df = per_cluster_edge_scores({0: CHAIN, 1: EMPTY}, {"a": CHAIN}, [0, 0, 1], ["a"] * 3)
    row = df.set_index("true_cluster").loc[1]
    assert pd.isna(row["pred_cluster"]) and row["f1"] == 1.0 and row["shd"] == 0


# ---------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "args", "match"),
    [
        (shd, (np.zeros((2, 3)), np.zeros((2, 3))), "square"),
        (shd, (np.zeros((3, 3)), np.zeros((2, 2))), "shape mismatch"),
        (edge_scores, (np.zeros(3), np.zeros(3)), "square"),
        (edge_scores, (np.full((2, 2), np.nan), np.zeros((2, 2))), "NaN"),
        (skeleton_f1, (np.zeros((2, 2, 2)), np.zeros((2, 2, 2))), "square"),
        (auroc, (CHAIN, np.full((3, 3), np.nan)), "NaN"),
        (auprc, (CHAIN, np.zeros((4, 4))), "shape mismatch"),
        (shd, ([["a", "b"], ["c", "d"]], EMPTY[:2, :2]), "numeric"),
        (adjusted_rand_index, ([0, 1], [0, 1, 1]), "different lengths"),
        (normalized_mutual_info, ([], []), "non-empty"),
        (match_clusters, ([0, None], [0, 1]), "missing"),
        (adjusted_rand_index, ([0, float("nan")], [0, 1]), "missing"),
        (normalized_mutual_info, (np.zeros((2, 2)), np.zeros((2, 2))), "one-dimensional"),
        (match_clusters, ("ab", "ab"), "one-dimensional"),
    ],
)
def test_bad_inputs_raise(func, args, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        func(*args)


def test_per_cluster_missing_estimate_raises() -> None:
    with pytest.raises(ValueError, match="no estimated graph"):
        per_cluster_edge_scores({0: CHAIN}, {}, [0, 0], ["a", "a"])
