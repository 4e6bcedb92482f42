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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayes_hcl.simulate.draws import (
    NOISE_KINDS,
    choose_types,
    random_dag,
    sample_cluster,
    signed_uniform,
)
from bayes_hcl.simulate.layout import ColumnOrder, data_frame
from bayes_hcl.simulate.truth import SimulatedData

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


@dataclass(frozen=True)
class _FactorEffects:
    """Per factor, its additive effects in each of its states, over causal positions.

    ``shifts[f]`` is ``(K_f, d)`` intercept shifts in noise-scale units, ``log2_noise[f]``
    ``(K_f, d)`` log2 noise-scale changes and ``dweights[f]`` ``(K_f, d, d)`` weight changes;
    all are zero in a factor's first state.
    """

    targets: list[np.ndarray]
    shifts: list[np.ndarray]
    log2_noise: list[np.ndarray]
    dweights: list[np.ndarray]


@dataclass(frozen=True)
class _JointMechanisms:
    """Weights ``(C, d, d)``, intercepts and noise scales ``(C, d)`` of every joint state."""

    weights: np.ndarray
    intercepts: np.ndarray
    scales: np.ndarray


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
    settings: dict[str, Any] = {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(locals()).items()
    }
    settings["kind"] = "factors"
    _check_arguments(n, d, states, noise)
    rng = np.random.default_rng(seed)
    sizes = [n_targets] * len(states) if isinstance(n_targets, int) else list(n_targets)
    types = choose_types(d, binary_fraction, count_fraction, rng, 0.0)
    adjacency = random_dag(d, "er", edges_per_node, rng)
    base_w = adjacency * signed_uniform(rng, *weight_range, (d, d))
    base_scale = rng.uniform(0.5, 1.0, d)
    target_pos = _draw_targets(d, sizes, targets, rng)
    effects = _draw_effects(
        adjacency,
        base_w,
        states,
        target_pos,
        mean_shift,
        noise_shift,
        weight_change,
        weight_range,
        rng,
    )
    factor_labels = np.stack([rng.integers(0, k_f, n) for k_f in states], axis=1)
    joint = np.ravel_multi_index(tuple(factor_labels.T), states)
    mechanisms = _joint_mechanisms(states, base_w, base_scale, effects)
    values = _sample_rows(mechanisms, joint, types, noise, rng)
    return _observe(
        adjacency, mechanisms, effects, types, values, (joint, factor_labels), settings, rng
    )


def _check_arguments(n: int, d: int, states: Sequence[int], noise: str) -> None:
    """Validate the arguments of :func:`simulate_factors`."""
    if len(states) < 1 or min(states) < 1 or d < 2 or n < 1:
        raise ValueError("need at least one factor, every K_f >= 1, d >= 2 and n >= 1")
    if noise not in NOISE_KINDS:
        raise ValueError(f"noise must be one of {NOISE_KINDS}")


def _draw_targets(
    d: int,
    sizes: list[int],
    given: Sequence[Sequence[int]] | None,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Disjoint random target positions per factor (or the given ones)."""
    if given is not None:
        return [np.asarray(sorted(t), dtype=int) for t in given]
    if sum(sizes) > d:
        raise ValueError(f"{sum(sizes)} targets in all do not fit in {d} variables")
    chosen = rng.permutation(d)
    cuts = np.cumsum([0, *sizes])
    return [np.sort(chosen[a:b]) for a, b in itertools.pairwise(cuts)]


def _draw_effects(
    adjacency: np.ndarray,
    base_w: np.ndarray,
    states: Sequence[int],
    target_pos: list[np.ndarray],
    mean_shift: float,
    noise_shift: float,
    weight_change: float,
    weight_range: tuple[float, float],
    rng: np.random.Generator,
) -> _FactorEffects:
    """Every factor's effects on its targets in each of its non-first states."""
    d = len(base_w)
    effects = _FactorEffects(
        target_pos,
        [np.zeros((k, d)) for k in states],
        [np.zeros((k, d)) for k in states],
        [np.zeros((k, d, d)) for k in states],
    )
    for f, k_f in enumerate(states):
        t = target_pos[f]
        for s in range(1, k_f):
            effects.shifts[f][s, t] = signed_uniform(rng, 0.75, 1.25, len(t)) * mean_shift
            effects.log2_noise[f][s, t] = noise_shift * rng.choice([-1.0, 1.0], len(t))
            incoming = adjacency[:, t] * (rng.random((d, len(t))) < weight_change)
            new = signed_uniform(rng, *weight_range, (d, len(t)))
            effects.dweights[f][s][:, t] = incoming * (new - base_w[:, t])
    return effects


def _joint_mechanisms(
    states: Sequence[int], base_w: np.ndarray, base_scale: np.ndarray, effects: _FactorEffects
) -> _JointMechanisms:
    """Add up the factors' effects in every joint state (in ``np.ravel_multi_index`` order)."""
    table = np.indices(states).reshape(len(states), -1).T
    d = len(base_w)
    weights = np.zeros((len(table), d, d))
    intercepts = np.zeros((len(table), d))
    scales = np.zeros((len(table), d))
    for c, config in enumerate(table):
        weights[c] = base_w + sum(effects.dweights[f][s] for f, s in enumerate(config))
        intercepts[c] = sum(effects.shifts[f][s] for f, s in enumerate(config)) * base_scale
        scales[c] = base_scale * 2.0 ** sum(effects.log2_noise[f][s] for f, s in enumerate(config))
    return _JointMechanisms(weights, intercepts, scales)


def _sample_rows(
    mechanisms: _JointMechanisms,
    joint: np.ndarray,
    types: list[str],
    noise: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """Rows of every joint state in turn, written in place, ``(n, d)`` over positions."""
    values = np.zeros((len(joint), mechanisms.weights.shape[1]))
    for c in range(len(mechanisms.weights)):
        rows = np.flatnonzero(joint == c)
        if rows.size:
            values[rows] = sample_cluster(
                mechanisms.weights[c],
                mechanisms.intercepts[c],
                mechanisms.scales[c],
                types,
                noise,
                rows.size,
                rng,
            )
    return values


def _observe(
    adjacency: np.ndarray,
    mechanisms: _JointMechanisms,
    effects: _FactorEffects,
    types: list[str],
    values: np.ndarray,
    labels: tuple[np.ndarray, np.ndarray],
    settings: dict[str, Any],
    rng: np.random.Generator,
) -> FactorData:
    """Shuffle the columns and assemble the data and the truth (rows stay in draw order).

    ``labels`` are the joint state ``(n,)`` and the factors' states ``(n, m)`` of every row.
    """
    joint, factor_labels = labels
    order = ColumnOrder.draw(len(types), "X", rng)
    n_joint, d = mechanisms.intercepts.shape
    adjacency = order.graphs(np.broadcast_to(adjacency, (n_joint, d, d))).astype(int)
    weights = order.graphs(mechanisms.weights)
    column_types = order.types(types)
    factor_targets = tuple(tuple(sorted(order.names(t))) for t in effects.targets)
    return FactorData(
        data=data_frame(order.vectors(values), order.columns, column_types),
        labels=joint,
        adjacency=adjacency * (weights != 0),
        weights=weights,
        intercepts=order.vectors(mechanisms.intercepts),
        noise_scales=order.vectors(mechanisms.scales),
        types=column_types,
        order=order.perm,
        shift_targets=tuple(sorted({c for t in factor_targets for c in t})),
        settings=settings,
        factor_labels=factor_labels,
        factor_targets=factor_targets,
    )
