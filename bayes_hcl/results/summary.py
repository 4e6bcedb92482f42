"""Posterior summaries computed from aligned draws (pure NumPy/pandas/networkx kernels).

Every function takes plain arrays with a leading draw axis ``S`` and cluster axes already
aligned across draws (see :func:`bayes_hcl.inference.relabel.relabel_draws`), so each can be checked
exactly on a hand-built posterior. :class:`bayes_hcl.results.HCLResult` is the facade that feeds
them the fitted posterior.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd

from bayes_hcl.config import min_cluster_size

__all__ = [
    "LOSS_PARTITION_MAX_ROWS",
    "MIN_SHIFT",
    "MIN_WEIGHT_CHANGE",
    "absorb_small_clusters",
    "acyclic_edges",
    "adjacency_with_ambiguous",
    "coclustering",
    "coclustering_of_means",
    "expected_binder_loss",
    "expected_vi_loss",
    "in_any_cluster",
    "in_every_cluster",
    "n_clusters_posterior",
    "occupancy_from_sizes",
    "point_partition",
    "pooled_edge_probabilities",
    "sample_occupancy",
    "shift_table",
    "universality_table",
]


#: Rows up to which the point partition minimises an expected loss over an ``n × n``
#: co-clustering matrix (200 MB at 5,000 rows); above, each row's most probable cluster.
LOSS_PARTITION_MAX_ROWS = 5_000

#: Change of an edge weight between clusters (or a factor's states), in standardised units,
#: that counts as a change of mechanism (:func:`bayes_hcl.results.mechanisms.mechanism_changes`,
#: the factor readout).
MIN_WEIGHT_CHANGE = 0.25

#: Smallest difference between two clusters' intercepts, or their noise scales, in standard
#: deviations of the variable, that counts as a shift of practical size
#: (:func:`shift_table`'s ``p_shift_exceeds``; the same scale as :data:`MIN_WEIGHT_CHANGE`).
#: With thousands of rows nearly any difference is a shift with probability 1; the size asks
#: whether it matters.
MIN_SHIFT = 0.25


def sample_occupancy(
    membership: np.ndarray, rng: np.random.Generator, min_size: int | None = None
) -> np.ndarray:
    """Occupied clusters ``(S, K)`` of each draw, sampling every row's cluster once per draw.

    Parameters
    ----------
    membership : ndarray ``(S, n, K)``
        Per-draw membership probabilities (rows sum to one).
    rng : numpy.random.Generator
        Source of the assignment draws (fixed by the fit's seed, so results are repeatable).
    min_size : int, optional
        Rows needed to count as occupied (default :func:`min_cluster_size`).
    """
    s, n, k = membership.shape
    min_size = min_cluster_size(n) if min_size is None else min_size
    cum = np.cumsum(membership, axis=-1)
    u = rng.random((s, n, 1))
    z = np.minimum((u > cum).sum(-1), k - 1)
    counts = np.zeros((s, k), dtype=int)
    np.add.at(counts, (np.repeat(np.arange(s), n), z.ravel()), 1)
    return occupancy_from_sizes(counts, min_size)


def occupancy_from_sizes(cluster_size: np.ndarray, min_size: int) -> np.ndarray:
    """Occupied clusters ``(S, K)`` of each draw from its expected cluster sizes ``(S, K)``.

    For a minibatch fit (no per-draw memberships are kept). With many rows a cluster's
    sampled size is within a few standard deviations (at most ``sqrt(n) / 2``) of its
    expected size, so the expectation decides occupancy as sampling would.
    """
    occupied = cluster_size >= min_size
    occupied[np.arange(len(occupied)), cluster_size.argmax(1)] = True
    return occupied


def n_clusters_posterior(occupied: np.ndarray) -> pd.Series:
    """Posterior probability of each number of occupied clusters (index: K)."""
    counts = occupied.sum(-1)
    values, freq = np.unique(counts, return_counts=True)
    return pd.Series(freq / counts.size, index=pd.Index(values, name="n_clusters"), name="prob")


def in_every_cluster(prob: np.ndarray, occupied: np.ndarray) -> np.ndarray:
    """Per draw: probability that the event of ``prob`` ``(S, K, ...)`` (independent across
    clusters given the draw) holds in every occupied cluster."""
    occ = occupied.reshape(occupied.shape + (1,) * (prob.ndim - 2))
    return np.where(occ, prob, 1.0).prod(1)


def in_any_cluster(prob: np.ndarray, occupied: np.ndarray) -> np.ndarray:
    """Per draw: probability that it holds in at least one occupied cluster."""
    return 1.0 - in_every_cluster(1.0 - prob, occupied)


def pooled_edge_probabilities(inclusion: np.ndarray, occupied: np.ndarray) -> np.ndarray:
    """Probability ``(d, d)`` that an edge is present in at least one occupied cluster.

    Given a draw, the clusters' edge indicators are independent with probabilities
    ``inclusion[s, k]``, so ``P(any) = 1 - prod_k (1 - inclusion[s, k])`` over occupied k.
    """
    return in_any_cluster(inclusion, occupied).mean(0)


def adjacency_with_ambiguous(probabilities: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """0/1 adjacency ``(d, d)`` of a pooled edge-probability matrix, CPDAG style.

    ``i -> j`` where ``P(i -> j) >= threshold``. Within a draw the two orientations of a pair
    exclude each other (every draw is a DAG), so ``P(i -> j) + P(j -> i)`` is the probability
    that the pair is adjacent at all: a pair adjacent with probability ``>= threshold`` whose
    orientation is split so that neither reaches it is returned undirected (both entries 1),
    the way a CPDAG reports an edge the data cannot orient.
    """
    p = np.asarray(probabilities, dtype=float)
    directed = p >= threshold
    ambiguous = (p + p.T >= threshold) & ~directed & ~directed.T
    np.fill_diagonal(ambiguous, False)
    return (directed | ambiguous).astype(int)


def universality_table(
    inclusion: np.ndarray, occupied: np.ndarray, columns: Sequence[str], min_probability: float
) -> pd.DataFrame:
    """Presence only, per ordered pair: ``p_any`` (in some occupied cluster), ``p_all`` (in
    every one) and ``p_specific = p_any - p_all``.

    Kept for code written against 0.1.0; the readouts use
    :func:`bayes_hcl.results.mechanisms.mechanism_table`, which also counts a change of
    weight as a change of mechanism and names the columns as the glossary does.

    Deprecated (a ``DeprecationWarning`` on every call): its column names are not the
    glossary's.
    """
    warnings.warn(
        "universality_table is deprecated: its columns p_any, p_all, p_specific are the "
        "0.1.0 names; use bayes_hcl.results.mechanisms.mechanism_table (p_edge, "
        "p_all_clusters, p_universal, p_differs)",
        DeprecationWarning,
        stacklevel=2,
    )
    p_all = in_every_cluster(inclusion, occupied).mean(0)
    p_any = in_any_cluster(inclusion, occupied).mean(0)
    rows = [
        (columns[i], columns[j], p_any[i, j], p_all[i, j], p_any[i, j] - p_all[i, j])
        for i in range(len(columns))
        for j in range(len(columns))
        if i != j and p_any[i, j] >= min_probability
    ]
    frame = pd.DataFrame(rows, columns=["cause", "effect", "p_any", "p_all", "p_specific"])
    return frame.sort_values("p_any", ascending=False, ignore_index=True)


def coclustering_of_means(mean_membership: np.ndarray) -> np.ndarray:
    """Co-clustering ``(n, n)`` from mean memberships alone: ``sum_k m_ik m_jk``.

    Exact when every draw has the same memberships, close to it when the data determine the
    clusters' parameters tightly (many rows); used for minibatch fits, which keep no
    per-draw memberships.
    """
    cc = mean_membership @ mean_membership.T
    np.fill_diagonal(cc, 1.0)
    return cc


def coclustering(membership: np.ndarray) -> np.ndarray:
    """Posterior probability ``(n, n)`` that two rows share a cluster.

    Given a draw, distinct rows' indicators are independent, so ``P(z_i = z_j) = sum_k
    m_ik m_jk``; a row always shares its own cluster (diagonal one).
    """
    s = membership.shape[0]
    cc = np.einsum("sik,sjk->ij", membership, membership, optimize=True) / s
    np.fill_diagonal(cc, 1.0)
    return cc


def expected_binder_loss(labels: np.ndarray, cocluster: np.ndarray) -> float:
    """Posterior expected Binder loss (pairs, unit costs) of a partition."""
    same = labels[:, None] == labels[None, :]
    return float(np.abs(same - cocluster)[np.triu_indices(len(labels), 1)].sum())


def _onehot(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids, inverse = np.unique(labels, return_inverse=True)
    onehot = np.zeros((len(labels), len(ids)))
    onehot[np.arange(len(labels)), inverse] = 1.0
    return onehot, inverse


def _vi_from_within(inverse: np.ndarray, within: np.ndarray, mass: np.ndarray) -> float:
    size = np.bincount(inverse)[inverse]
    return float(np.mean(np.log2(size) + np.log2(mass) - 2.0 * np.log2(within)))


def expected_vi_loss(labels: np.ndarray, cocluster: np.ndarray) -> float:
    """Lower bound of the posterior expected Variation of Information (Wade & Ghahramani 2018).

    ``E[VI] >= (1/n) sum_i [log2 |c_i| + log2 sum_j P_ij - 2 log2 sum_{j in c_i} P_ij]``;
    the within-cluster sums are one matrix product with the partition's indicator matrix,
    so no ``n × n`` temporary is formed.
    """
    onehot, inverse = _onehot(labels)
    within = (cocluster @ onehot)[np.arange(len(labels)), inverse]
    return _vi_from_within(inverse, within, cocluster.sum(1))


def point_partition(
    membership: np.ndarray, cocluster: np.ndarray, loss: str = "vi", min_size: int | None = None
) -> np.ndarray:
    """Partition minimising the expected loss among candidate partitions.

    Candidates are the hard assignment of the posterior mean membership and of every draw's
    membership; labels are the (aligned) cluster indices, so they match per-cluster tables.
    Rows of clusters too small to count as occupied then join their most probable occupied
    cluster (:func:`absorb_small_clusters`).
    """
    if loss not in ("vi", "binder"):
        raise ValueError(f"loss must be 'vi' or 'binder', got {loss!r}")
    mean = membership.mean(0)
    candidates = [mean.argmax(-1), *np.unique(membership.argmax(-1), axis=0)]
    if loss == "vi":
        scores = _batched_vi_losses(candidates, cocluster)
    else:
        scores = [expected_binder_loss(c, cocluster) for c in candidates]
    best = absorb_small_clusters(candidates[int(np.argmin(scores))], mean, min_size)
    if loss == "vi":
        return _greedy_merge_vi(best, cocluster)
    return _greedy_merge(best, cocluster, expected_binder_loss)


def _batched_vi_losses(candidates: list[np.ndarray], cocluster: np.ndarray) -> list[float]:
    """:func:`expected_vi_loss` of many partitions with one pass over ``cocluster``."""
    blocks = [_onehot(c) for c in candidates]
    sums = cocluster @ np.hstack([b[0] for b in blocks])
    mass, rows, out, start = cocluster.sum(1), np.arange(cocluster.shape[0]), [], 0
    for onehot, inverse in blocks:
        within = sums[:, start : start + onehot.shape[1]][rows, inverse]
        out.append(_vi_from_within(inverse, within, mass))
        start += onehot.shape[1]
    return out


def _greedy_merge_vi(labels: np.ndarray, cocluster: np.ndarray) -> np.ndarray:
    """:func:`_greedy_merge` for the VI loss, on per-cluster sums of ``cocluster`` columns
    (merging two clusters adds their columns), so each trial costs ``O(n)``."""
    onehot, inverse = _onehot(labels)
    ids = list(np.unique(labels))
    sums, mass, rows = cocluster @ onehot, cocluster.sum(1), np.arange(len(labels))
    current = _vi_from_within(inverse, sums[rows, inverse], mass)
    while len(ids) > 1:
        trials = []
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                merged = np.where(inverse == b, a, inverse)
                col = sums[:, a] + sums[:, b]
                within = np.where((inverse == a) | (inverse == b), col, sums[rows, inverse])
                trials.append((_vi_from_within(merged, within, mass), a, b))
        value, a, b = min(trials)
        if value >= current:
            break
        sums[:, a] += sums[:, b]
        sums = np.delete(sums, b, axis=1)
        inverse = np.where(inverse == b, a, inverse)
        inverse = np.where(inverse > b, inverse - 1, inverse)
        ids.pop(b)
        current = value
    return np.asarray(ids)[inverse]


def _greedy_merge(labels: np.ndarray, cocluster: np.ndarray, loss_fn) -> np.ndarray:
    """Merge pairs of clusters while that lowers the expected loss (as SALSO's merge step).

    Duplicate components of a mixture split one population between them with uncertain
    memberships; their rows co-cluster often, and merging lowers the expected loss.
    """
    current = loss_fn(labels, cocluster)
    while len(np.unique(labels)) > 1:
        ids = np.unique(labels)
        trials = [
            (loss_fn(np.where(labels == b, a, labels), cocluster), a, b)
            for i, a in enumerate(ids)
            for b in ids[i + 1 :]
        ]
        value, a, b = min(trials)
        if value >= current:
            break
        labels, current = np.where(labels == b, a, labels), value
    return labels


def absorb_small_clusters(
    labels: np.ndarray, mean_membership: np.ndarray, min_size: int | None = None
) -> np.ndarray:
    """Move rows of clusters below :func:`min_cluster_size` to their best large cluster."""
    sizes = np.bincount(labels, minlength=mean_membership.shape[1])
    min_size = min_cluster_size(len(labels)) if min_size is None else min_size
    large = sizes >= min_size
    if large.all() or not large.any():
        return labels
    best_large = np.where(large[None, :], mean_membership, -1.0).argmax(1)
    return np.where(large[labels], labels, best_large)


def shift_table(
    intercept_shift: np.ndarray,
    noise_shift: np.ndarray,
    intercepts: np.ndarray,
    noise: np.ndarray,
    occupied: np.ndarray,
    columns: Sequence[str],
    min_shift: float = MIN_SHIFT,
) -> pd.DataFrame:
    """Per variable: probability that the latent cluster shifts its intercept / noise directly,
    and that it shifts them by more than ``min_shift``.

    A draw counts a shift when at least one occupied cluster's deviation from the universal
    value is in the slab, and only when the draw has two or more occupied clusters (with one
    cluster there is nothing to shift between). It counts a shift of practical size when,
    besides, the occupied clusters' intercepts (noise scales) span more than ``min_shift``
    (standardised units: standard deviations of the variable, or the link scale of a binary,
    count or categorical one). Also reports the posterior mean spread of the intercepts
    (max - min) and the max/min noise-scale ratio. The table's ``attrs["min_shift"]`` holds
    ``min_shift``.
    """
    multi = occupied.sum(1) >= 2
    occ = occupied[:, :, None]

    def spread(values):
        return np.where(occ, values, -np.inf).max(1) - np.where(occ, values, np.inf).min(1)

    def p_any(resp):  # per draw
        return in_any_cluster(resp, occupied) * multi[:, None]

    b_spread, s_spread = spread(intercepts), spread(noise)
    ratio = np.where(occ, noise, 0.0).max(1) / np.where(occ, noise, np.inf).min(1)
    p_b, p_s = p_any(intercept_shift), p_any(noise_shift)
    big_b, big_s = p_b * (b_spread > min_shift), p_s * (s_spread > min_shift)
    frame = pd.DataFrame(
        {
            "variable": list(columns),
            "p_shift": 1.0 - (1.0 - p_b.mean(0)) * (1.0 - p_s.mean(0)),
            "p_intercept_shift": p_b.mean(0),
            "p_noise_shift": p_s.mean(0),
            # either shift of practical size, per draw (the two are not independent given the
            # data: a cluster that moves the mean often widens the noise)
            "p_shift_exceeds": (1.0 - (1.0 - big_b) * (1.0 - big_s)).mean(0),
            "p_intercept_shift_exceeds": big_b.mean(0),
            "p_noise_shift_exceeds": big_s.mean(0),
            "intercept_spread": np.where(multi[:, None], b_spread, 0.0).mean(0),
            "noise_ratio": np.where(multi[:, None], ratio, 1.0).mean(0),
        }
    )
    frame = frame.sort_values(["p_shift_exceeds", "p_shift"], ascending=False, ignore_index=True)
    frame.attrs["min_shift"] = float(min_shift)
    return frame


def acyclic_edges(prob: np.ndarray, threshold: float) -> tuple[list[tuple[int, int]], list]:
    """Edges with probability >= threshold, added greedily by probability while acyclic.

    Returns the kept edges and the skipped ones (those that would have closed a cycle). A
    single draw's graph is always acyclic; thresholded marginals need not be, hence the guard.
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(range(prob.shape[0]))
    kept, skipped = [], []
    candidates = [(prob[i, j], i, j) for i, j in zip(*np.nonzero(prob >= threshold), strict=True)]
    for _, i, j in sorted(candidates, reverse=True):
        if i == j:
            continue
        if nx.has_path(graph, j, i):
            skipped.append((i, j))
        else:
            graph.add_edge(i, j)
            kept.append((i, j))
    return kept, skipped
