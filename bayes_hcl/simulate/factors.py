"""Data with several independent hidden sources of heterogeneity, and their truth.

Every row has ``m`` independent latent factors; factor ``f`` has ``K_f`` states and changes
the mechanisms of its own set of variables (its *targets*): in each state other than its
first, each target's intercept and noise scale shift and a share of its incoming edge
weights change. The effects of several factors on one variable add up (intercepts, log noise
scales, weights). All rows share one causal DAG and order. The joint state of the factors is
the row's cluster (``labels``), so the truth also reads as a one-factor mixture of
``prod K_f`` clusters.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_hcl.simulate.sem import (
    NOISE_KINDS,
    SimulatedData,
    _choose_types,
    _random_dag,
    _sample_cluster,
    _signed_uniform,
)

__all__ = ["FactorData", "simulate_factors"]


@dataclass(frozen=True)
class FactorData(SimulatedData):
    """Simulated data with several latent factors (see
    :class:`~bayes_hcl.simulate.SimulatedData` for the
    fields it shares; its clusters are the factors' joint states).

    Attributes
    ----------
    factor_labels : numpy.ndarray
        ``(n, m)`` state of every factor in every row.
    factor_targets : tuple of tuple of str
        Per factor, the variables whose mechanisms it changes.
    """

    factor_labels: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), int))
    factor_targets: tuple[tuple[str, ...], ...] = ()

    def truth(self) -> dict[str, Any]:
        """The ground truth (see :meth:`SimulatedData.truth`) with every row's factor
        states (``factor_labels``, one list per factor) and each factor's targets."""
        return {
            **super().truth(),
            "factor_labels": self.factor_labels.T.tolist(),
            "factor_targets": [list(t) for t in self.factor_targets],
        }


def _targets(d: int, sizes: list[int], given, rng) -> list[np.ndarray]:
    """Disjoint random target positions per factor (or the given ones)."""
    if given is not None:
        return [np.asarray(sorted(t), dtype=int) for t in given]
    if sum(sizes) > d:
        raise ValueError(f"{sum(sizes)} targets in all do not fit in {d} variables")
    chosen = rng.permutation(d)
    cuts = np.cumsum([0, *sizes])
    return [np.sort(chosen[a:b]) for a, b in itertools.pairwise(cuts)]


def simulate_factors(
    n: int = 2000,
    d: int = 10,
    states: tuple[int, ...] = (2, 2),
    n_targets: int | tuple[int, ...] = 3,
    *,
    targets: tuple[tuple[int, ...], ...] | None = None,
    edges_per_node: float = 1.0,
    mean_shift: float = 2.0,
    noise_shift: float = 1.0,
    weight_change: float = 0.3,
    weight_range: tuple[float, float] = (0.5, 1.2),
    noise: str = "gaussian",
    binary_fraction: float = 0.0,
    count_fraction: float = 0.0,
    seed: int = 0,
) -> FactorData:
    """Draw a linear SEM whose mechanisms ``m`` independent hidden factors change.

    Parameters
    ----------
    n : int
        Rows.
    d : int
        Variables.
    states : tuple of int
        Number of states ``K_f`` of each factor (``m = len(states)``); each row's states are
        drawn independently and uniformly.
    n_targets : int or tuple of int
        Variables each factor changes (disjoint sets drawn at random).
    targets : tuple of tuple of int, optional
        The targets of each factor as causal positions (``0`` = first in the causal order);
        overrides ``n_targets`` (the sets may then overlap).
    edges_per_node : float
        Expected edges per node of the DAG.
    mean_shift : float
        Size of a target's intercept shift in a non-first state, in noise-scale units.
    noise_shift : float
        Log2 ratio of a target's noise scale in a non-first state.
    weight_change : float
        Probability that an incoming edge of a target has another weight in a non-first
        state.
    weight_range : tuple of float
        Magnitude range of edge weights; signs are random.
    noise : str
        One of ``NOISE_KINDS``.
    binary_fraction, count_fraction : float
        Fractions of binary and count variables (the rest continuous).
    seed : int
        Seed of the NumPy generator.

    Returns
    -------
    FactorData
        Data, joint-state labels, per-factor states and targets, and the full truth.
    """
    m = len(states)
    if m < 1 or min(states) < 1 or d < 2 or n < 1:
        raise ValueError("need at least one factor, every K_f >= 1, d >= 2 and n >= 1")
    if noise not in NOISE_KINDS:
        raise ValueError(f"noise must be one of {NOISE_KINDS}")
    settings: dict[str, Any] = {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in locals().items() if k not in {"m"}
    }
    settings["kind"] = "factors"
    rng = np.random.default_rng(seed)
    sizes = [n_targets] * m if isinstance(n_targets, int) else list(n_targets)
    types_pos = _choose_types(d, binary_fraction, count_fraction, rng, 0.0)
    adj = _random_dag(d, "er", edges_per_node, rng)
    base_w = adj * _signed_uniform(rng, *weight_range, (d, d))
    base_scale = rng.uniform(0.5, 1.0, d)
    target_pos = _targets(d, sizes, targets, rng)
    # per factor and state: additive intercept, log2 noise and weight changes
    shifts = [np.zeros((k, d)) for k in states]
    log2_noise = [np.zeros((k, d)) for k in states]
    dweights = [np.zeros((k, d, d)) for k in states]
    for f, k_f in enumerate(states):
        t = target_pos[f]
        for s in range(1, k_f):
            shifts[f][s, t] = _signed_uniform(rng, 0.75, 1.25, len(t)) * mean_shift
            log2_noise[f][s, t] = noise_shift * rng.choice([-1.0, 1.0], len(t))
            incoming = adj[:, t] * (rng.random((d, len(t))) < weight_change)
            new = _signed_uniform(rng, *weight_range, (d, len(t)))
            dweights[f][s][:, t] = incoming * (new - base_w[:, t])
    factor_labels = np.stack([rng.integers(0, k_f, n) for k_f in states], axis=1)
    joint = np.ravel_multi_index(tuple(factor_labels.T), states)
    table = np.indices(states).reshape(m, -1).T
    n_joint = len(table)
    weights = np.zeros((n_joint, d, d))
    intercepts = np.zeros((n_joint, d))
    scales = np.zeros((n_joint, d))
    values = np.zeros((n, d))
    for c, config in enumerate(table):
        weights[c] = base_w + sum(dweights[f][s] for f, s in enumerate(config))
        intercepts[c] = sum(shifts[f][s] for f, s in enumerate(config)) * base_scale
        scales[c] = base_scale * 2.0 ** sum(log2_noise[f][s] for f, s in enumerate(config))
        rows = np.flatnonzero(joint == c)
        if rows.size:
            values[rows] = _sample_cluster(
                weights[c], intercepts[c], scales[c], types_pos, noise, rows.size, rng
            )
    perm = rng.permutation(d)
    inverse = np.argsort(perm)
    columns = [f"X{j}" for j in range(d)]
    frame = pd.DataFrame(values[:, inverse], columns=columns)
    types = tuple(types_pos[p] for p in inverse)
    for col, kind in zip(columns, types, strict=True):
        if kind != "continuous":
            frame[col] = frame[col].astype(np.int64)
    relabel = np.ix_(range(n_joint), inverse, inverse)
    adjacency = np.broadcast_to(adj, (n_joint, d, d))[relabel].astype(int)
    factor_targets = tuple(tuple(sorted(columns[perm[p]] for p in t)) for t in target_pos)
    return FactorData(
        data=frame,
        labels=joint,
        adjacency=adjacency * (weights[relabel] != 0),
        weights=weights[relabel],
        intercepts=intercepts[:, inverse],
        noise_scales=scales[:, inverse],
        types=types,
        order=perm,
        shift_targets=tuple(sorted({c for t in factor_targets for c in t})),
        settings=settings,
        factor_labels=factor_labels,
        factor_targets=factor_targets,
    )
