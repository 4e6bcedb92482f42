"""Random draws shared by the simulators: graphs, weights, noise, sizes, types and rows.

Every function takes the NumPy generator it draws from and draws in a fixed order, so a
simulator that calls them in a fixed order is reproducible from its seed. Graphs and
per-cluster parameters are over *causal positions* (position ``p`` precedes ``q`` whenever
``p < q``); the simulators map positions to columns at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "GRAPH_KINDS",
    "NOISE_KINDS",
    "choose_types",
    "cluster_graphs",
    "cluster_sizes",
    "gamma_rate",
    "random_dag",
    "sample_cluster",
    "signed_uniform",
    "unit_noise",
]

#: Noise laws of continuous nodes, all scaled to zero mean and unit variance.
NOISE_KINDS = ("gaussian", "laplace", "uniform", "exponential", "student_t", "student_t3")
#: Skeletons of the universal DAG: Erdős–Rényi or preferential attachment.
GRAPH_KINDS = ("er", "scale_free")


def random_dag(d: int, kind: str, edges_per_node: float, rng: np.random.Generator) -> np.ndarray:
    """Draw the adjacency of an ER or scale-free DAG over causal positions.

    Parameters
    ----------
    d : int
        Number of nodes.
    kind : {"er", "scale_free"}
        Erdős–Rényi (each forward pair an edge with one probability) or preferential
        attachment (each node takes ``round(edges_per_node)`` parents, favouring high degree).
    edges_per_node : float
        Expected edges per node.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        ``(d, d)`` 0/1 integer adjacency, nonzero only above the diagonal (row < column).
    """
    adj = np.zeros((d, d), dtype=int)
    if kind == "er":
        p = min(1.0, 2.0 * edges_per_node / max(d - 1, 1))
        upper = np.triu(rng.random((d, d)) < p, k=1)
        return upper.astype(int)
    m = max(1, round(edges_per_node))
    degree = np.ones(d)
    for j in range(1, d):
        candidates = np.arange(j)
        prob = degree[:j] / degree[:j].sum()
        parents = rng.choice(candidates, size=min(m, j), replace=False, p=prob)
        adj[parents, j] = 1
        degree[parents] += 1
        degree[j] += len(parents)
    return adj


def signed_uniform(rng: np.random.Generator, low: float, high: float, size: Any) -> np.ndarray:
    """Draw magnitudes uniform in ``[low, high)``, then random signs (in that order).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    low, high : float
        Range of the magnitudes.
    size : int or tuple of int
        Shape of the draw.

    Returns
    -------
    numpy.ndarray
        Values of shape ``size``.
    """
    return rng.uniform(low, high, size) * rng.choice([-1.0, 1.0], size)


def unit_noise(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """Draw zero-mean, unit-variance noise of the given kind.

    Parameters
    ----------
    kind : str
        One of :data:`NOISE_KINDS` (an unknown kind gives Student-t noise).
    rng : numpy.random.Generator
        Source of randomness.
    size : int
        Number of draws.

    Returns
    -------
    numpy.ndarray
        ``(size,)`` noise.
    """
    if kind == "gaussian":
        return rng.standard_normal(size)
    if kind == "laplace":
        return rng.laplace(0.0, 1.0 / np.sqrt(2.0), size)
    if kind == "uniform":
        return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size)
    if kind == "exponential":
        return rng.exponential(1.0, size) - 1.0
    if kind == "student_t3":
        return rng.standard_t(3, size) / np.sqrt(3.0)
    return rng.standard_t(5, size) / np.sqrt(5.0 / 3.0)


def cluster_sizes(n_per_cluster: int | Sequence[int], n_clusters: int) -> list[int]:
    """Rows per cluster, checked (draws nothing).

    Parameters
    ----------
    n_per_cluster : int or sequence of int
        One size for every cluster, or one per cluster.
    n_clusters : int
        Number of clusters.

    Returns
    -------
    list of int
        ``n_clusters`` positive sizes.

    Raises
    ------
    ValueError
        If there are not ``n_clusters`` sizes or one is below 1.
    """
    sizes = [n_per_cluster] * n_clusters if isinstance(n_per_cluster, int) else list(n_per_cluster)
    if len(sizes) != n_clusters or min(sizes) < 1:
        raise ValueError(f"n_per_cluster must give {n_clusters} positive sizes, got {sizes}")
    return sizes


def choose_types(
    d: int,
    binary_fraction: float,
    count_fraction: float,
    rng: np.random.Generator,
    categorical_fraction: float = 0.0,
) -> list[str]:
    """Assign variable types to causal positions in a random order.

    Parameters
    ----------
    d : int
        Number of variables.
    binary_fraction, count_fraction : float
        Fractions of binary and count variables.
    rng : numpy.random.Generator
        Source of randomness (one permutation).
    categorical_fraction : float
        Fraction of categorical variables (the rest are continuous).

    Returns
    -------
    list of str
        Type of every causal position.

    Raises
    ------
    ValueError
        If the fractions add up to more than all variables.
    """
    n_bin = round(binary_fraction * d)
    n_cnt = round(count_fraction * d)
    n_cat = round(categorical_fraction * d)
    if n_bin + n_cnt + n_cat > d:
        raise ValueError("binary, count and categorical fractions must not exceed 1 in all")
    rest = d - n_bin - n_cnt - n_cat
    types = ["binary"] * n_bin + ["count"] * n_cnt + ["categorical"] * n_cat + ["continuous"] * rest
    return [types[i] for i in rng.permutation(d)]


def cluster_graphs(
    base: np.ndarray,
    k_total: int,
    specific_fraction: float,
    weight_change: float,
    w_range: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster adjacency and weights over causal positions.

    Every cluster starts from the universal DAG ``base`` and its weights; with more than one
    cluster, each adds cluster-specific edges and changes a share of the universal weights
    (opposite sign, new magnitude), and cluster 0 is then reset to the universal graph (the
    reference).

    Parameters
    ----------
    base : numpy.ndarray
        ``(d, d)`` universal adjacency over causal positions.
    k_total : int
        Number of clusters.
    specific_fraction : float
        Cluster-specific edges per cluster, as a fraction of the universal edge count.
    weight_change : float
        Probability that a universal edge changes weight in a cluster.
    w_range : tuple of float
        Magnitude range of the weights.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    adjacency : numpy.ndarray
        ``(k_total, d, d)`` 0/1 edges of every cluster.
    weights : numpy.ndarray
        ``(k_total, d, d)``; may be nonzero where there is no edge (multiply by
        ``adjacency``).
    """
    d = base.shape[0]
    universal_w = base * signed_uniform(rng, *w_range, (d, d))
    adj = np.repeat(base[None], k_total, axis=0)
    weights = np.repeat(universal_w[None], k_total, axis=0)
    n_specific = round(specific_fraction * base.sum()) if k_total > 1 else 0
    free = np.argwhere(np.triu(1 - base, k=1))
    for k in range(k_total if k_total > 1 else 0):
        add = free[rng.choice(len(free), size=min(n_specific, len(free)), replace=False)]
        adj[k, add[:, 0], add[:, 1]] = 1
        weights[k, add[:, 0], add[:, 1]] = signed_uniform(rng, *w_range, len(add))
        edges = np.argwhere(base)
        changed = edges[rng.random(len(edges)) < weight_change]
        # a changed mechanism flips sign and takes a new magnitude: clearly a different law
        weights[k, changed[:, 0], changed[:, 1]] = -np.sign(
            universal_w[changed[:, 0], changed[:, 1]]
        ) * rng.uniform(*w_range, len(changed))
    if k_total > 1:
        # make cluster 0 the reference: its weights are the universal ones on the base edges
        adj[0], weights[0] = base, universal_w
    return adj, weights


def gamma_rate(mean: np.ndarray, phi: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson rates whose Poisson mixture is NB2 with ``mean`` and overdispersion ``phi``.

    Parameters
    ----------
    mean : numpy.ndarray
        Means of the counts.
    phi : float
        NB2 overdispersion (variance ``mu + phi mu^2``); ``phi <= 0`` draws nothing and
        returns ``mean`` (Poisson counts).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        Gamma-distributed rates of the shape of ``mean``.
    """
    if phi <= 0:
        return mean
    return rng.gamma(1.0 / phi, mean * phi)


def sample_cluster(
    weights: np.ndarray,
    intercepts: np.ndarray,
    scales: np.ndarray,
    types: Sequence[str],
    noise: str,
    n: int,
    rng: np.random.Generator,
    phi: float = 0.0,
    level_scores: Mapping[int, np.ndarray] | None = None,
) -> np.ndarray:
    """Ancestral sampling of one cluster's rows over causal positions.

    Parents enter a node's linear predictor ``eta`` in their natural units: continuous and
    binary values as they are, counts as ``log1p(count)``, categorical levels as their scores.

    Parameters
    ----------
    weights : numpy.ndarray
        ``(d, d)`` edge weights (zero where there is no edge).
    intercepts, scales : numpy.ndarray
        ``(d,)`` intercepts and noise scales.
    types : sequence of str
        Type of every position.
    noise : str
        Noise law of continuous nodes (one of :data:`NOISE_KINDS`).
    n : int
        Rows to draw.
    rng : numpy.random.Generator
        Source of randomness.
    phi : float, optional
        NB2 overdispersion of counts (0: Poisson).
    level_scores : mapping of int to numpy.ndarray, optional
        Level scores of every categorical position.

    Returns
    -------
    numpy.ndarray
        ``(n, d)`` values, columns in causal order (categorical levels as codes).
    """
    d = len(types)
    values = np.zeros((n, d))
    as_parent = np.zeros((n, d))
    for j in range(d):
        eta = intercepts[j] + as_parent @ weights[:, j]
        scores = None if level_scores is None else level_scores.get(j)
        values[:, j] = _sample_node(types[j], eta, scales[j], noise, phi, scores, rng)
        as_parent[:, j] = _parent_value(types[j], values[:, j], scores)
    return values


def _sample_node(
    kind: str,
    eta: np.ndarray,
    scale: float,
    noise: str,
    phi: float,
    scores: np.ndarray | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw one node's values (categorical levels as codes) given its linear predictor."""
    n = len(eta)
    if kind == "continuous":
        return eta + scale * unit_noise(noise, rng, n)
    if kind == "binary":
        return rng.random(n) < 1.0 / (1.0 + np.exp(-(eta + 0.0)))
    if kind == "categorical":
        logits = eta[:, None] * scores[None, :]
        p = np.exp(logits - logits.max(1, keepdims=True))
        cdf = np.cumsum(p / p.sum(1, keepdims=True), axis=1)
        return np.minimum((rng.random((n, 1)) > cdf).sum(1), cdf.shape[1] - 1)
    # log-rate centred near 5 counts; clipped so a long chain cannot overflow
    rate = np.exp(np.clip(np.log(5.0) + 0.5 * eta, -5.0, 6.0))
    return rng.poisson(gamma_rate(rate, phi, rng))


def _parent_value(kind: str, values: np.ndarray, scores: np.ndarray | None) -> np.ndarray:
    """A node's values as its children see them: counts as ``log1p``, levels as scores."""
    if kind in ("continuous", "binary"):
        return values
    if kind == "categorical":
        return scores[values.astype(int)]
    return np.log1p(values)
