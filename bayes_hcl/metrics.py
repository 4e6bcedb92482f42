"""Evaluation metrics for causal graphs and cluster assignments.

Adjacency convention used throughout: ``A[i, j] != 0`` means the edge
``i -> j`` (row ``i`` is the cause, column ``j`` the effect). The diagonal is
ignored everywhere. A pair with both ``A[i, j]`` and ``A[j, i]`` nonzero in an
*estimated* graph is read as one undirected edge ``i - j`` (CPDAG convention).

This module depends only on numpy, scipy and pandas.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

__all__ = [
    "adjusted_rand_index",
    "auprc",
    "auroc",
    "edge_scores",
    "match_clusters",
    "normalized_mutual_info",
    "per_cluster_edge_scores",
    "shd",
    "skeleton_f1",
]


# ---------------------------------------------------------------------------
# Input validation helpers
# ---------------------------------------------------------------------------


def _as_square(mat: Any, name: str) -> np.ndarray:
    """Return ``mat`` as a float, square, NaN-free 2-D array or raise ValueError."""
    try:
        arr = np.asarray(mat, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric matrix") from exc
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square 2-D matrix, got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    return arr


def _edges(mat: np.ndarray) -> np.ndarray:
    """Boolean edge indicator of a validated matrix with the diagonal cleared."""
    out = mat != 0
    np.fill_diagonal(out, False)
    return out


def _check_pair(true_adj: Any, other: Any, other_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate two matrices and check that their shapes agree."""
    t = _as_square(true_adj, "true_adj")
    o = _as_square(other, other_name)
    if t.shape != o.shape:
        raise ValueError(f"shape mismatch: true_adj {t.shape} vs {other_name} {o.shape}")
    return t, o


def _encode_labels(labels: Any, name: str) -> tuple[np.ndarray, list[Hashable]]:
    """Integer-code a 1-D labelling; return codes and the unique labels."""
    is_seq = np.iterable(labels) and not isinstance(labels, (str, bytes))
    if not is_seq or getattr(labels, "ndim", 1) != 1:
        raise ValueError(f"{name} must be a one-dimensional sequence of labels")
    seq = list(labels)
    if not seq:
        raise ValueError(f"{name} must be non-empty")
    arr = np.empty(len(seq), dtype=object)
    arr[:] = seq
    try:
        codes, uniques = pd.factorize(arr, sort=False)
    except TypeError as exc:
        raise ValueError(f"{name} contains unhashable labels") from exc
    if (codes < 0).any():
        raise ValueError(f"{name} contains missing values (None/NaN)")
    return codes, list(uniques)


def _contingency(
    labels_true: Any, labels_pred: Any
) -> tuple[np.ndarray, list[Hashable], list[Hashable]]:
    """Contingency table (true clusters x predicted clusters) and both label lists."""
    ct, ut = _encode_labels(labels_true, "labels_true")
    cp, up = _encode_labels(labels_pred, "labels_pred")
    if ct.shape[0] != cp.shape[0]:
        raise ValueError(
            f"labels have different lengths: {ct.shape[0]} (true) vs {cp.shape[0]} (pred)"
        )
    table = np.zeros((len(ut), len(up)), dtype=np.int64)
    np.add.at(table, (ct, cp), 1)
    return table, ut, up


# ---------------------------------------------------------------------------
# Graph metrics
# ---------------------------------------------------------------------------


def shd(true_adj: Any, est_adj: Any) -> int:
    """Structural Hamming distance between two directed graphs.

    Counts the unordered node pairs ``{i, j}`` whose edge status differs. The
    status of a pair is one of: no edge, ``i -> j``, ``j -> i`` or both
    directions (undirected, CPDAG convention). Hence a missing, an extra or a
    reversed edge each cost 1, and an undirected estimated edge costs 1 both
    against a directed true edge and against no true edge.

    Parameters
    ----------
    true_adj, est_adj : array_like of shape (d, d)
        Adjacency matrices; ``A[i, j] != 0`` means ``i -> j``. Diagonal ignored.

    Returns
    -------
    int
        Number of pairs with differing status.

    Raises
    ------
    ValueError
        On non-square or mismatched matrices, or NaN entries.
    """
    t, e = _check_pair(true_adj, est_adj, "est_adj")
    t, e = _edges(t), _edges(e)
    differ = (t != e) | (t.T != e.T)
    return int(np.triu(differ, k=1).sum())


def _directed_counts(t: np.ndarray, e: np.ndarray, half_credit: bool) -> tuple[float, float]:
    """Return ``(tp, n_predicted)`` for boolean edge matrices (see `edge_scores`)."""
    both = e & e.T
    directed = e & ~e.T
    tp = float((directed & t).sum())
    n_pred = float(directed.sum())
    iu = np.triu_indices_from(both, k=1)
    und = both[iu]
    n_true_orient = (t[iu].astype(int) + t.T[iu].astype(int))[und]
    if half_credit:
        tp += 0.5 * float(n_true_orient.sum())
    else:
        tp += float((n_true_orient == 2).sum())
    n_pred += float(und.sum())
    return tp, n_pred


def edge_scores(
    true_adj: Any, est_adj: Any, undirected_half_credit: bool = True
) -> dict[str, float]:
    """Directed edge precision, recall and F1.

    Scoring rule (diagonal ignored):

    * Every true directed edge ``i -> j`` (``true_adj[i, j] != 0``) is one true
      edge; ``n_true`` is their count.
    * A directed estimated edge ``i -> j`` (``est_adj[j, i] == 0``) is one
      predicted edge, scoring 1 TP if ``true_adj[i, j] != 0`` and 1 FP otherwise.
      A reversed edge is therefore 1 FP and its true edge 1 FN.
    * An estimated pair with both directions is one undirected predicted edge.
      With ``undirected_half_credit=True`` it scores ``0.5`` TP per true
      orientation present on the pair (0.5 against a directed true edge, 1.0
      against a bidirected true pair, 0 against no edge). With
      ``undirected_half_credit=False`` it scores 1 TP only if the truth also
      has both directions, else 0.
    * ``fp = n_predicted - tp`` and ``fn = n_true - tp``.
    * ``precision = tp / n_predicted``, ``recall = tp / n_true`` and ``f1`` is
      their harmonic mean; any 0/0 is defined as 0.0, except that ``f1 = 1.0``
      when both graphs are empty (precision and recall stay 0.0 then).

    Parameters
    ----------
    true_adj, est_adj : array_like of shape (d, d)
        Adjacency matrices; ``A[i, j] != 0`` means ``i -> j``.
    undirected_half_credit : bool, default True
        Whether an undirected estimated edge earns half credit per true orientation.

    Returns
    -------
    dict
        Keys ``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn`` (floats).

    Raises
    ------
    ValueError
        On non-square or mismatched matrices, or NaN entries.
    """
    t, e = _check_pair(true_adj, est_adj, "est_adj")
    t, e = _edges(t), _edges(e)
    tp, n_pred = _directed_counts(t, e, undirected_half_credit)
    n_true = float(t.sum())
    return _prf(tp, n_pred, n_true)


def _prf(tp: float, n_pred: float, n_true: float) -> dict[str, float]:
    """Precision/recall/F1 with the 0/0 conventions of `edge_scores`."""
    precision = tp / n_pred if n_pred > 0 else 0.0
    recall = tp / n_true if n_true > 0 else 0.0
    if n_pred == 0 and n_true == 0:
        f1 = 1.0
    elif precision + recall > 0:
        f1 = 2.0 * precision * recall / (precision + recall)
    else:
        f1 = 0.0
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "tp": float(tp),
        "fp": float(n_pred - tp),
        "fn": float(n_true - tp),
    }


def skeleton_f1(true_adj: Any, est_adj: Any) -> float:
    """F1 score of the undirected skeletons (orientation ignored).

    A pair ``{i, j}`` is a skeleton edge if either direction is present. Returns
    ``2 * |common| / (|true| + |est|)``, with 1.0 when both skeletons are empty.

    Parameters
    ----------
    true_adj, est_adj : array_like of shape (d, d)
        Adjacency matrices; ``A[i, j] != 0`` means ``i -> j``.

    Returns
    -------
    float
        Skeleton F1 in ``[0, 1]``.

    Raises
    ------
    ValueError
        On non-square or mismatched matrices, or NaN entries.
    """
    t, e = _check_pair(true_adj, est_adj, "est_adj")
    t, e = _edges(t), _edges(e)
    st = np.triu(t | t.T, k=1)
    se = np.triu(e | e.T, k=1)
    denom = int(st.sum() + se.sum())
    if denom == 0:
        return 1.0
    return float(2.0 * (st & se).sum() / denom)


# ---------------------------------------------------------------------------
# Ranking metrics over edge scores
# ---------------------------------------------------------------------------


def _offdiag_labels_scores(true_adj: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Flatten labels and scores over all ordered off-diagonal pairs."""
    t, s = _check_pair(true_adj, scores, "scores")
    mask = ~np.eye(t.shape[0], dtype=bool)
    return t[mask] != 0, s[mask]


def auroc(true_adj: Any, scores: Any) -> float:
    """Area under the ROC curve for directed edge scores.

    Evaluated over all ordered off-diagonal pairs ``(i, j)``, with label
    ``true_adj[i, j] != 0`` and score ``scores[i, j]``. Computed from the
    Mann-Whitney U statistic with average ranks for ties, which equals
    sklearn's ``roc_auc_score``.

    Parameters
    ----------
    true_adj : array_like of shape (d, d)
        True adjacency matrix.
    scores : array_like of shape (d, d)
        Edge scores (e.g. posterior probabilities of ``i -> j``).

    Returns
    -------
    float
        AUROC, or ``nan`` if there are no positive or no negative pairs.

    Raises
    ------
    ValueError
        On non-square or mismatched matrices, or NaN entries.
    """
    y, s = _offdiag_labels_scores(true_adj, scores)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s, method="average")
    u_stat = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u_stat / (n_pos * n_neg))


def auprc(true_adj: Any, scores: Any) -> float:
    """Area under the precision-recall curve as average precision.

    Evaluated over all ordered off-diagonal pairs. Uses sklearn's
    ``average_precision_score`` definition: ``AP = sum_k (R_k - R_{k-1}) P_k``
    over the distinct score thresholds in decreasing order (tied scores enter
    together), with ``R_0 = 0``; no interpolation.

    Parameters
    ----------
    true_adj : array_like of shape (d, d)
        True adjacency matrix.
    scores : array_like of shape (d, d)
        Edge scores (e.g. posterior probabilities of ``i -> j``).

    Returns
    -------
    float
        Average precision, or ``nan`` if there are no positive or no negative pairs.

    Raises
    ------
    ValueError
        On non-square or mismatched matrices, or NaN entries.
    """
    y, s = _offdiag_labels_scores(true_adj, scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last]
    precision = tps / (last + 1.0)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


# ---------------------------------------------------------------------------
# Clustering metrics
# ---------------------------------------------------------------------------


def adjusted_rand_index(labels_true: Sequence[Hashable], labels_pred: Sequence[Hashable]) -> float:
    """Adjusted Rand index between two partitions.

    Computed from the pair-confusion counts of the contingency table, as in
    sklearn's ``adjusted_rand_score``; returns 1.0 when the two partitions
    agree on every pair (including two single-cluster partitions).

    Parameters
    ----------
    labels_true, labels_pred : sequence of hashable
        Cluster labels of the same samples (any hashable values).

    Returns
    -------
    float
        ARI, at most 1.0; invariant to relabelling.

    Raises
    ------
    ValueError
        If the labellings are empty, of different lengths, or contain None/NaN.
    """
    table, _, _ = _contingency(labels_true, labels_pred)
    n = int(table.sum())
    sum_sq = int((table**2).sum())
    fp = int((table.sum(axis=0) ** 2).sum()) - sum_sq
    fn = int((table.sum(axis=1) ** 2).sum()) - sum_sq
    tp = sum_sq - n
    tn = n * n - fp - fn - sum_sq
    if fp == 0 and fn == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def _entropy(counts: np.ndarray) -> float:
    """Shannon entropy (nats) of a vector of positive counts."""
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(
    labels_true: Sequence[Hashable], labels_pred: Sequence[Hashable]
) -> float:
    """Normalized mutual information with arithmetic-mean normalisation.

    ``NMI = MI / ((H(true) + H(pred)) / 2)`` (natural logs), matching sklearn's
    ``normalized_mutual_info_score`` default: 1.0 when both partitions have a
    single cluster, 0.0 when the mutual information is 0.

    Parameters
    ----------
    labels_true, labels_pred : sequence of hashable
        Cluster labels of the same samples (any hashable values).

    Returns
    -------
    float
        NMI in ``[0, 1]``; invariant to relabelling.

    Raises
    ------
    ValueError
        If the labellings are empty, of different lengths, or contain None/NaN.
    """
    table, _, _ = _contingency(labels_true, labels_pred)
    if table.shape == (1, 1):
        return 1.0
    row, col = table.sum(axis=1), table.sum(axis=0)
    mi = _mutual_info(table, row, col)
    if mi == 0.0:
        return 0.0
    return float(mi / ((_entropy(row) + _entropy(col)) / 2.0))


def _mutual_info(table: np.ndarray, row: np.ndarray, col: np.ndarray) -> float:
    """Mutual information (nats) of a contingency table, as sklearn computes it."""
    if row.size == 1 or col.size == 1:
        return 0.0
    n = float(table.sum())
    ri, ci = np.nonzero(table)
    joint = table[ri, ci] / n
    log_ratio = np.log(table[ri, ci] * n) - np.log(row[ri] * 1.0) - np.log(col[ci] * 1.0)
    terms = joint * log_ratio
    terms = np.where(np.abs(terms) < np.finfo(float).eps, 0.0, terms)
    return float(np.clip(terms.sum(), 0.0, None))


def match_clusters(
    labels_true: Sequence[Hashable], labels_pred: Sequence[Hashable]
) -> dict[Hashable, Hashable]:
    """Match predicted to true clusters by maximum total overlap.

    Solves the assignment problem on the contingency table with the Hungarian
    algorithm (``scipy.optimize.linear_sum_assignment``, maximising). With
    unequal cluster counts, ``min(n_true, n_pred)`` pairs are matched and the
    unmatched predicted labels are absent from the result. Every assigned pair
    is returned, even one with zero overlap.

    Parameters
    ----------
    labels_true, labels_pred : sequence of hashable
        Cluster labels of the same samples (any hashable values).

    Returns
    -------
    dict
        Mapping ``pred_label -> true_label``.

    Raises
    ------
    ValueError
        If the labellings are empty, of different lengths, or contain None/NaN.
    """
    table, ut, up = _contingency(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {_py(up[c]): _py(ut[r]) for r, c in zip(rows, cols, strict=True)}


def _py(label: Any) -> Any:
    """Convert numpy scalar labels to plain Python objects."""
    return label.item() if isinstance(label, np.generic) else label


def per_cluster_edge_scores(
    true_adjs: Mapping[Hashable, Any],
    est_adjs: Mapping[Hashable, Any],
    labels_true: Sequence[Hashable],
    labels_pred: Sequence[Hashable],
) -> pd.DataFrame:
    """Edge scores of each true cluster's graph against its matched estimate.

    Clusters are matched with `match_clusters`. Each true cluster in
    ``true_adjs`` is compared (via `edge_scores` and `shd`) with the graph of
    its matched predicted cluster, or with an empty graph if unmatched.

    Parameters
    ----------
    true_adjs : Mapping
        ``true_label -> (d, d)`` true adjacency matrix.
    est_adjs : Mapping
        ``pred_label -> (d, d)`` estimated adjacency matrix.
    labels_true, labels_pred : sequence of hashable
        Cluster labels of the same samples.

    Returns
    -------
    pandas.DataFrame
        One row per key of ``true_adjs`` (in its order) with columns
        ``true_cluster``, ``pred_cluster`` (None if unmatched, object dtype),
        ``precision``, ``recall``, ``f1``, ``shd``.

    Raises
    ------
    ValueError
        On bad labels or matrices, or if a matched predicted cluster has no
        entry in ``est_adjs``.
    """
    true_to_pred = {t: p for p, t in match_clusters(labels_true, labels_pred).items()}
    rows = [_cluster_row(k, adj, true_to_pred.get(k), est_adjs) for k, adj in true_adjs.items()]
    cols = ["true_cluster", "pred_cluster", "precision", "recall", "f1", "shd"]
    df = pd.DataFrame(rows, columns=cols)
    df["pred_cluster"] = pd.Series([r[1] for r in rows], index=df.index, dtype=object)
    return df


def _cluster_row(
    true_label: Hashable, true_adj: Any, pred_label: Hashable | None, est_adjs: Mapping
) -> tuple[Any, ...]:
    """Build one row of `per_cluster_edge_scores`."""
    if pred_label is None:
        est = np.zeros_like(_as_square(true_adj, "true_adj"))
    elif pred_label in est_adjs:
        est = est_adjs[pred_label]
    else:
        raise ValueError(f"no estimated graph for matched predicted cluster {pred_label!r}")
    sc = edge_scores(true_adj, est)
    return (true_label, pred_label, sc["precision"], sc["recall"], sc["f1"], shd(true_adj, est))
