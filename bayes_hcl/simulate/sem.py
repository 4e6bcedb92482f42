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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayes_hcl.simulate.draws import (
    GRAPH_KINDS,
    NOISE_KINDS,
    choose_types,
    cluster_graphs,
    cluster_sizes,
    random_dag,
    sample_cluster,
    signed_uniform,
)
from bayes_hcl.simulate.layout import ColumnOrder, data_frame
from bayes_hcl.simulate.truth import SimulatedData

__all__ = ["NOISE_KINDS", "SimulatedData", "simulate"]


@dataclass(frozen=True)
class _PositionSEM:
    """A drawn SEM over causal positions, before its columns are shuffled.

    ``weights`` may be nonzero off the edges; ``adjacency * weights`` are the edge weights.
    """

    types: list[str]
    adjacency: np.ndarray
    weights: np.ndarray
    intercepts: np.ndarray
    scales: np.ndarray
    targets: np.ndarray
    level_scores: dict[int, np.ndarray]


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
    settings: dict[str, Any] = dict(locals())
    settings["weight_range"] = list(weight_range)
    sizes = _check_arguments(n_per_cluster, d, n_clusters, graph, noise, n_levels)
    rng = np.random.default_rng(seed)
    types = choose_types(d, binary_fraction, count_fraction, rng, categorical_fraction)
    adjacency, weights = cluster_graphs(
        random_dag(d, graph, edges_per_node, rng),
        n_clusters,
        specific_fraction,
        weight_change,
        weight_range,
        rng,
    )
    intercepts, scales, targets = _draw_shifts(
        d, n_clusters, shift_fraction, mean_shift, noise_shift, rng
    )
    level_scores = _draw_level_scores(types, n_levels, rng)
    sem = _PositionSEM(types, adjacency, weights, intercepts, scales, targets, level_scores)
    values = _sample_rows(sem, sizes, noise, count_overdispersion, rng)
    return _observe(sem, values, sizes, settings, rng)


def _check_arguments(
    n_per_cluster: int | list[int],
    d: int,
    n_clusters: int,
    graph: str,
    noise: str,
    n_levels: int,
) -> list[int]:
    """Validate the arguments of :func:`simulate`; return the cluster sizes."""
    if d < 2 or n_clusters < 1:
        raise ValueError("need d >= 2 and n_clusters >= 1")
    if graph not in GRAPH_KINDS or noise not in NOISE_KINDS:
        raise ValueError(f"graph must be in {GRAPH_KINDS} and noise in {NOISE_KINDS}")
    sizes = cluster_sizes(n_per_cluster, n_clusters)
    if n_levels < 2:
        raise ValueError("n_levels must be at least 2")
    return sizes


def _draw_shifts(
    d: int,
    n_clusters: int,
    shift_fraction: float,
    mean_shift: float,
    noise_shift: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intercepts and noise scales per cluster, and the shift targets, over positions.

    The noise scales of the reference cluster are uniform in ``[0.5, 1)``; every other
    cluster shifts the intercepts of the targets by ``±[0.75, 1.25) * mean_shift`` and
    multiplies their scales by ``2 ** ±noise_shift``.
    """
    scales = np.tile(rng.uniform(0.5, 1.0, d), (n_clusters, 1))
    intercepts = np.zeros((n_clusters, d))
    n_targets = round(shift_fraction * d) if n_clusters > 1 else 0
    targets = np.sort(rng.choice(d, size=n_targets, replace=False))
    for k in range(1, n_clusters):
        intercepts[k, targets] = signed_uniform(rng, 0.75, 1.25, n_targets) * mean_shift
        scales[k, targets] *= 2.0 ** (noise_shift * rng.choice([-1.0, 1.0], n_targets))
    return intercepts, scales, targets


def _draw_level_scores(
    types: Sequence[str], n_levels: int, rng: np.random.Generator
) -> dict[int, np.ndarray]:
    """Per categorical position, a random permutation of evenly spaced level scores."""
    return {
        p: rng.permutation(np.linspace(-1.2, 1.2, n_levels))
        for p, kind in enumerate(types)
        if kind == "categorical"
    }


def _sample_rows(
    sem: _PositionSEM, sizes: list[int], noise: str, phi: float, rng: np.random.Generator
) -> np.ndarray:
    """Rows of every cluster in turn, ``(sum(sizes), d)`` over causal positions."""
    blocks = [
        sample_cluster(
            sem.adjacency[k] * sem.weights[k],
            sem.intercepts[k],
            sem.scales[k],
            sem.types,
            noise,
            s,
            rng,
            phi,
            sem.level_scores,
        )
        for k, s in enumerate(sizes)
    ]
    return np.concatenate(blocks)


def _observe(
    sem: _PositionSEM,
    values: np.ndarray,
    sizes: list[int],
    settings: dict[str, Any],
    rng: np.random.Generator,
) -> SimulatedData:
    """Shuffle the columns, then the rows, and assemble the data and the truth."""
    # causal position p is stored in column perm[p], so column order carries no information
    order = ColumnOrder.draw(len(sem.types), "X", rng)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    shuffle = rng.permutation(len(labels))
    types = order.types(sem.types)
    return SimulatedData(
        data=data_frame(order.vectors(values)[shuffle], order.columns, types),
        labels=labels[shuffle],
        adjacency=order.graphs(sem.adjacency),
        weights=order.graphs(sem.adjacency * sem.weights),
        intercepts=order.vectors(sem.intercepts),
        noise_scales=order.vectors(sem.scales),
        types=types,
        order=order.perm,
        shift_targets=order.names(sem.targets),
        settings=settings,
        level_scores={
            order.name(p): [float(v) for v in scores] for p, scores in sem.level_scores.items()
        },
    )
