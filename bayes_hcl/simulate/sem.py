"""Heterogeneous linear structural equation models with ground truth.

Samples come from ``n_clusters`` latent populations. All populations share one causal order.
Each has its own DAG (the universal edges plus cluster-specific additions and deletions), its
own weights (a fraction of universal edges change weight), and its own intercepts and noise
scales on a set of *shift targets*. Nodes are continuous, binary (logistic), counts (Poisson
or negative binomial with log link) or categorical (multinomial logit: level ``l`` has log odds
``s_l * eta`` for the node's linear predictor ``eta`` and fixed level scores ``s``; levels are
written as letters ``"a", "b", ...``). Parents enter equations in their natural units:
continuous values as they are, binary as 0/1, counts as ``log1p(count)`` and categorical
levels as their scores. Nothing is standardised: raw linear SEMs have variances that grow
along the causal order, so fit on standardised data (``bayes_hcl.fit`` always standardises)
to make sure recovery never rests on scale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

__all__ = ["NOISE_KINDS", "SimulatedData", "simulate"]

NOISE_KINDS = ("gaussian", "laplace", "uniform", "exponential", "student_t")
GRAPH_KINDS = ("er", "scale_free")


@dataclass(frozen=True)
class SimulatedData:
    """A simulated data set and the truth that generated it.

    Attributes
    ----------
    data : pandas.DataFrame
        ``n × d`` observations; columns ``X0 .. X{d-1}`` (column order is not causal order).
    labels : numpy.ndarray
        ``(n,)`` true cluster of every row.
    adjacency : numpy.ndarray
        ``(K, d, d)`` 0/1 adjacency per cluster, ``adjacency[k, i, j] = 1`` for ``i -> j``.
    weights : numpy.ndarray
        ``(K, d, d)`` edge weights (zero where there is no edge).
    intercepts, noise_scales : numpy.ndarray
        ``(K, d)`` per-cluster intercepts and noise scales.
    types : tuple of str
        Variable type per column.
    order : numpy.ndarray
        ``(d,)`` column indices in causal order.
    shift_targets : tuple of str
        Variables whose intercept or noise scale differs between clusters.
    settings : dict
        The arguments of :func:`simulate` (or of
        :func:`bayes_hcl.simulate_cells.simulate_single_cell`, with ``kind="single_cell"``).
    level_scores : dict of str to list of float
        Per categorical column, the score ``s_l`` of each level (in label order).
    size_factors : numpy.ndarray, optional
        ``(n,)`` true size factors of single-cell-like data.
    library_size : numpy.ndarray, optional
        ``(n,)`` total count of each cell over its whole (simulated) transcriptome.
    """

    data: pd.DataFrame
    labels: np.ndarray
    adjacency: np.ndarray
    weights: np.ndarray
    intercepts: np.ndarray
    noise_scales: np.ndarray
    types: tuple[str, ...]
    order: np.ndarray
    shift_targets: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    level_scores: dict[str, list[float]] = field(default_factory=dict)
    size_factors: np.ndarray | None = None
    library_size: np.ndarray | None = None

    @property
    def pooled_adjacency(self) -> np.ndarray:
        """Union of the cluster graphs (an edge present in any cluster)."""
        return self.adjacency.max(axis=0)

    @property
    def universal_adjacency(self) -> np.ndarray:
        """Edges present in every cluster."""
        return self.adjacency.min(axis=0)

    def bayes_labels(self) -> np.ndarray:
        """Labels a classifier that knows every true parameter would assign (the ARI ceiling).

        Each row goes to the cluster with the largest ``log(share) + log p(row | cluster)``
        under the true weights, intercepts, noise law and scales. Where the clusters overlap,
        even this classifier errs; the ARI of its labels is the best any method can reach.
        """
        sizes = np.bincount(self.labels, minlength=self.weights.shape[0])
        log_share = np.log(np.maximum(sizes, 1) / len(self.labels))
        if self.settings.get("kind") == "single_cell":
            from bayes_hcl.simulate.cells import single_cell_loglik

            return np.argmax(log_share + single_cell_loglik(self), axis=1)
        values = self.codes()
        as_parent = values.copy()
        counts = np.array([t == "count" for t in self.types])
        as_parent[:, counts] = np.log1p(values[:, counts])
        scores_of = [np.asarray(self.level_scores.get(c, [])) for c in self.data.columns]
        for j, level_score in enumerate(scores_of):
            if level_score.size:
                as_parent[:, j] = level_score[values[:, j].astype(int)]
        scores = [
            _row_loglik(
                values,
                as_parent,
                w,
                b,
                s,
                self.types,
                self.settings.get("noise"),
                self.settings.get("count_overdispersion", 0.0),
                scores_of,
            )
            for w, b, s in zip(self.weights, self.intercepts, self.noise_scales, strict=True)
        ]
        return np.argmax(log_share + np.stack(scores, axis=1), axis=1)

    def codes(self) -> np.ndarray:
        """``(n, d)`` float values with every categorical column as its level code."""
        frame = self.data.copy()
        for col in self.level_scores:
            frame[col] = frame[col].map(lambda v: ord(v) - ord("a"))
        return frame.to_numpy(dtype=float)

    def truth(self) -> dict[str, Any]:
        """The ground truth as a JSON-serialisable dictionary."""
        cols = list(self.data.columns)
        edges = [
            {"cluster": int(k), "cause": cols[i], "effect": cols[j], "weight": float(w)}
            for k, i, j in zip(*np.nonzero(self.adjacency), strict=True)
            for w in [self.weights[k, i, j]]
        ]
        return {
            "columns": cols,
            "types": list(self.types),
            "order": [cols[i] for i in self.order],
            "labels": self.labels.tolist(),
            "n_clusters": int(self.adjacency.shape[0]),
            "edges": edges,
            "universal_edges": _edge_list(self.universal_adjacency, cols),
            "pooled_edges": _edge_list(self.pooled_adjacency, cols),
            "intercepts": self.intercepts.tolist(),
            "noise_scales": self.noise_scales.tolist(),
            "shift_targets": list(self.shift_targets),
            "level_scores": self.level_scores,
            "settings": self.settings,
        }

    def truth_json(self) -> str:
        """:meth:`truth` as an indented JSON string."""
        return json.dumps(self.truth(), indent=2)


def _edge_list(adj: np.ndarray, cols: list[str]) -> list[list[str]]:
    return [[cols[i], cols[j]] for i, j in zip(*np.nonzero(adj), strict=True)]


def _random_dag(d: int, kind: str, edges_per_node: float, rng: np.random.Generator) -> np.ndarray:
    """Adjacency over causal positions (row < column) of an ER or scale-free DAG."""
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


def _signed_uniform(rng: np.random.Generator, low: float, high: float, size: Any) -> np.ndarray:
    return rng.uniform(low, high, size) * rng.choice([-1.0, 1.0], size)


def _noise(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """Zero-mean, unit-variance noise of the given kind."""
    if kind == "gaussian":
        return rng.standard_normal(size)
    if kind == "laplace":
        return rng.laplace(0.0, 1.0 / np.sqrt(2.0), size)
    if kind == "uniform":
        return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size)
    if kind == "exponential":
        return rng.exponential(1.0, size) - 1.0
    return rng.standard_t(5, size) / np.sqrt(5.0 / 3.0)


def _cluster_sizes(n_per_cluster: int | list[int], n_clusters: int) -> list[int]:
    sizes = [n_per_cluster] * n_clusters if isinstance(n_per_cluster, int) else list(n_per_cluster)
    if len(sizes) != n_clusters or min(sizes) < 1:
        raise ValueError(f"n_per_cluster must give {n_clusters} positive sizes, got {sizes}")
    return sizes


def _choose_types(
    d: int, binary_fraction: float, count_fraction: float, rng, categorical_fraction: float = 0.0
) -> list[str]:
    n_bin = round(binary_fraction * d)
    n_cnt = round(count_fraction * d)
    n_cat = round(categorical_fraction * d)
    if n_bin + n_cnt + n_cat > d:
        raise ValueError("binary, count and categorical fractions must not exceed 1 in all")
    rest = d - n_bin - n_cnt - n_cat
    types = ["binary"] * n_bin + ["count"] * n_cnt + ["categorical"] * n_cat + ["continuous"] * rest
    return [types[i] for i in rng.permutation(d)]


def _cluster_graphs(base, k_total, specific_fraction, weight_change, w_range, rng):
    """Per-cluster adjacency and weights over causal positions."""
    d = base.shape[0]
    universal_w = base * _signed_uniform(rng, *w_range, (d, d))
    adj = np.repeat(base[None], k_total, axis=0)
    weights = np.repeat(universal_w[None], k_total, axis=0)
    n_specific = round(specific_fraction * base.sum()) if k_total > 1 else 0
    free = np.argwhere(np.triu(1 - base, k=1))
    for k in range(k_total if k_total > 1 else 0):
        add = free[rng.choice(len(free), size=min(n_specific, len(free)), replace=False)]
        adj[k, add[:, 0], add[:, 1]] = 1
        weights[k, add[:, 0], add[:, 1]] = _signed_uniform(rng, *w_range, len(add))
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


def simulate(
    n_per_cluster: int | list[int] = 500,
    d: int = 10,
    n_clusters: int = 2,
    *,
    graph: str = "er",
    edges_per_node: float = 1.0,
    specific_fraction: float = 0.2,
    weight_change: float = 0.3,
    shift_fraction: float = 0.3,
    mean_shift: float = 2.0,
    noise_shift: float = 1.0,
    noise: str = "gaussian",
    weight_range: tuple[float, float] = (0.5, 1.2),
    binary_fraction: float = 0.0,
    count_fraction: float = 0.0,
    count_overdispersion: float = 0.0,
    categorical_fraction: float = 0.0,
    n_levels: int = 3,
    seed: int = 0,
) -> SimulatedData:
    """Draw a heterogeneous linear SEM and data from it.

    Parameters
    ----------
    n_per_cluster : int or list of int
        Rows per cluster (a list gives unequal sizes).
    d : int
        Number of variables.
    n_clusters : int
        Number of latent populations ``K``.
    graph : {"er", "scale_free"}
        Erdős–Rényi or preferential-attachment skeleton of the universal DAG.
    edges_per_node : float
        Expected edges per node of the universal DAG.
    specific_fraction : float
        Cluster-specific edges added to each non-reference cluster, as a fraction of the
        universal edge count.
    weight_change : float
        Probability that a universal edge has a different weight (opposite sign, new
        magnitude) in a non-reference cluster.
    shift_fraction : float
        Fraction of variables that are shift targets (intercept and/or noise differ).
    mean_shift : float
        Size of the intercept shifts, in units of the node's noise scale (0 = none).
    noise_shift : float
        Log2 ratio of noise scales on shift targets (0 = none; 1 = doubled).
    noise : str
        One of ``NOISE_KINDS`` (all scaled to unit variance before the node's noise scale).
    weight_range : tuple of float
        Magnitude range of edge weights; signs are random.
    binary_fraction, count_fraction : float
        Fractions of variables that are binary / counts (the rest continuous).
    count_overdispersion : float
        ``phi`` of negative binomial (NB2) counts, variance ``mu + phi mu^2``; 0 gives
        Poisson counts.
    categorical_fraction : float
        Fraction of variables that are categorical, each with ``n_levels`` levels whose
        scores are a random permutation of ``n_levels`` evenly spaced values in
        ``[-1.2, 1.2]`` (see the module docstring).
    n_levels : int
        Levels of every categorical variable (at least 2).
    seed : int
        Seed of the NumPy generator.

    Returns
    -------
    SimulatedData
        Data, labels and the full ground truth.
    """
    if d < 2 or n_clusters < 1:
        raise ValueError("need d >= 2 and n_clusters >= 1")
    if graph not in GRAPH_KINDS or noise not in NOISE_KINDS:
        raise ValueError(f"graph must be in {GRAPH_KINDS} and noise in {NOISE_KINDS}")
    settings = {k: v for k, v in locals().items() if k not in {"settings"}}
    settings["weight_range"] = list(weight_range)
    rng = np.random.default_rng(seed)
    sizes = _cluster_sizes(n_per_cluster, n_clusters)
    if n_levels < 2:
        raise ValueError("n_levels must be at least 2")
    types_pos = _choose_types(d, binary_fraction, count_fraction, rng, categorical_fraction)
    base = _random_dag(d, graph, edges_per_node, rng)
    adj_pos, w_pos = _cluster_graphs(
        base, n_clusters, specific_fraction, weight_change, weight_range, rng
    )
    scales_pos = np.tile(rng.uniform(0.5, 1.0, d), (n_clusters, 1))
    intercepts_pos = np.zeros((n_clusters, d))
    n_targets = round(shift_fraction * d) if n_clusters > 1 else 0
    targets_pos = np.sort(rng.choice(d, size=n_targets, replace=False))
    for k in range(1, n_clusters):
        intercepts_pos[k, targets_pos] = _signed_uniform(rng, 0.75, 1.25, n_targets) * mean_shift
        scales_pos[k, targets_pos] *= 2.0 ** (noise_shift * rng.choice([-1.0, 1.0], n_targets))
    level_scores = {
        p: rng.permutation(np.linspace(-1.2, 1.2, n_levels))
        for p, kind in enumerate(types_pos)
        if kind == "categorical"
    }
    blocks = [
        _sample_cluster(
            adj_pos[k] * w_pos[k],
            intercepts_pos[k],
            scales_pos[k],
            types_pos,
            noise,
            s,
            rng,
            count_overdispersion,
            level_scores,
        )
        for k, s in enumerate(sizes)
    ]
    # causal position p is stored in column perm[p], so column order carries no information
    perm = rng.permutation(d)
    inverse = np.argsort(perm)
    values = np.concatenate(blocks)[:, inverse]
    labels = np.repeat(np.arange(n_clusters), sizes)
    shuffle = rng.permutation(len(labels))
    columns = [f"X{j}" for j in range(d)]
    frame = pd.DataFrame(values[shuffle], columns=columns)
    types = tuple(types_pos[p] for p in inverse)
    for col, kind in zip(columns, types, strict=True):
        if kind == "categorical":
            frame[col] = [chr(ord("a") + int(v)) for v in frame[col]]
        elif kind != "continuous":
            frame[col] = frame[col].astype(np.int64)
    relabel = np.ix_(range(n_clusters), inverse, inverse)
    return SimulatedData(
        data=frame,
        labels=labels[shuffle],
        adjacency=adj_pos[relabel],
        weights=(adj_pos * w_pos)[relabel],
        intercepts=intercepts_pos[:, inverse],
        noise_scales=scales_pos[:, inverse],
        types=types,
        order=perm,
        shift_targets=tuple(columns[perm[p]] for p in targets_pos),
        settings=settings,
        level_scores={columns[perm[p]]: [float(v) for v in sc] for p, sc in level_scores.items()},
    )


def _noise_logpdf(kind: str | None, eps: np.ndarray) -> np.ndarray:
    """Log density of the unit-variance noise of :func:`_noise`."""
    if kind == "laplace":
        return -np.log(np.sqrt(2.0)) - np.sqrt(2.0) * np.abs(eps)
    if kind == "uniform":
        return np.where(np.abs(eps) <= np.sqrt(3.0), -np.log(2.0 * np.sqrt(3.0)), -1e6)
    if kind == "exponential":
        return np.where(eps >= -1.0, -(eps + 1.0), -1e6)
    if kind == "student_t":
        c = np.sqrt(5.0 / 3.0)
        t = eps * c
        log_norm = gammaln(3.0) - gammaln(2.5) - 0.5 * np.log(5.0 * np.pi)
        return log_norm - 3.0 * np.log1p(t**2 / 5.0) + np.log(c)
    return -0.5 * eps**2 - 0.5 * np.log(2.0 * np.pi)


def _row_loglik(
    values, as_parent, weights, intercepts, scales, types, noise, phi=0.0, level_scores=()
) -> np.ndarray:
    """Log density of every row under one cluster's true SEM ``(n,)``."""
    eta = intercepts + as_parent @ weights
    total = np.zeros(len(values))
    for j, kind in enumerate(types):
        if kind == "continuous":
            eps = (values[:, j] - eta[:, j]) / scales[j]
            total += _noise_logpdf(noise, eps) - np.log(scales[j])
        elif kind == "binary":
            total += values[:, j] * eta[:, j] - np.logaddexp(0.0, eta[:, j])
        elif kind == "categorical":
            logits = eta[:, [j]] * level_scores[j][None, :]
            log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
            total += log_p[np.arange(len(values)), values[:, j].astype(int)]
        else:
            log_rate = np.clip(np.log(5.0) + 0.5 * eta[:, j], -5.0, 6.0)
            total += count_logpmf(values[:, j], log_rate, phi)
    return total


def count_logpmf(y: np.ndarray, log_mean: np.ndarray, phi: float) -> np.ndarray:
    """Log pmf of Poisson (``phi = 0``) or NB2 counts with variance ``mu + phi mu^2``."""
    if phi <= 0:
        return y * log_mean - np.exp(log_mean) - gammaln(y + 1.0)
    r = 1.0 / phi
    log_total = np.logaddexp(np.log(r), log_mean)
    return (
        gammaln(y + r)
        - gammaln(r)
        - gammaln(y + 1.0)
        + r * (np.log(r) - log_total)
        + y * (log_mean - log_total)
    )


def _gamma_rate(mean: np.ndarray, phi: float, rng) -> np.ndarray:
    """Poisson rates whose Poisson mixture is NB2 with ``mean`` and overdispersion ``phi``."""
    if phi <= 0:
        return mean
    return rng.gamma(1.0 / phi, mean * phi)


def _sample_cluster(
    weights, intercepts, scales, types, noise, n, rng, phi=0.0, level_scores=None
) -> np.ndarray:
    """Ancestral sampling of one cluster over causal positions (columns in causal order)."""
    d = len(types)
    values = np.zeros((n, d))
    as_parent = np.zeros((n, d))
    for j in range(d):
        eta = intercepts[j] + as_parent @ weights[:, j]
        if types[j] == "continuous":
            values[:, j] = eta + scales[j] * _noise(noise, rng, n)
            as_parent[:, j] = values[:, j]
        elif types[j] == "binary":
            values[:, j] = rng.random(n) < 1.0 / (1.0 + np.exp(-(eta + 0.0)))
            as_parent[:, j] = values[:, j]
        elif types[j] == "categorical":
            logits = eta[:, None] * level_scores[j][None, :]
            p = np.exp(logits - logits.max(1, keepdims=True))
            cdf = np.cumsum(p / p.sum(1, keepdims=True), axis=1)
            values[:, j] = np.minimum((rng.random((n, 1)) > cdf).sum(1), cdf.shape[1] - 1)
            as_parent[:, j] = level_scores[j][values[:, j].astype(int)]
        else:
            # log-rate centred near 5 counts; clipped so a long chain cannot overflow
            rate = np.exp(np.clip(np.log(5.0) + 0.5 * eta, -5.0, 6.0))
            values[:, j] = rng.poisson(_gamma_rate(rate, phi, rng))
            as_parent[:, j] = np.log1p(values[:, j])
    return values
