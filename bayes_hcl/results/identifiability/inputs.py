"""What the identifiability rules read from a fit, as one typed, read-only record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["IdentifiabilityInputs", "restart_runs"]


@dataclass(frozen=True)
class IdentifiabilityInputs:
    """Posterior summaries and data the identifiability report is computed from.

    :meth:`bayes_hcl.results.HCLResult.identifiability` builds it; every array is over the
    occupied clusters of the point estimate (``K_occ`` of them).

    Attributes
    ----------
    columns, types : list of str
        Variable names and types.
    type_codes : ndarray
        ``(d,)`` model code of every variable (:data:`bayes_hcl.vartypes.TYPE_CODES`).
    x, y : ndarray
        ``(n, d)`` standardised covariates and responses, float64.
    labels : ndarray
        ``(n,)`` point partition as indices ``0 .. K_occ - 1``.
    resp : ndarray
        ``(n, K_occ)`` memberships of the occupied clusters.
    pooled : ndarray
        ``(d, d)`` pooled edge probabilities.
    phi : ndarray
        ``(d,)`` posterior mean node potentials (the causal order).
    cluster_inclusion : ndarray
        ``(K_occ, d, d)`` per-cluster edge probabilities.
    edge_change, node_change : ndarray
        ``(d, d)`` and ``(d,)`` probabilities that an edge's or variable's mechanism differs
        between clusters.
    n_clusters : dict
        Number of occupied clusters -> posterior probability.
    universality, shifts : pandas.DataFrame
        The mechanism table (:func:`bayes_hcl.results.mechanisms.mechanism_table` with
        ``p_cluster_<k>`` columns) and the shift-target table, over the shown clusters.
    runs : dict of str to ndarray
        Per restart or chain: ``calls`` ``(R, d, d)`` bool, ``orders``, ``partitions``,
        ``weights``, ``scores``, ``forced_one_cluster``.
    evidence : dict, optional
        Restart scores and occupied counts (SVI), or None.
    likelihood : str
        Name of the continuous nodes' noise law.
    non_gaussian_likelihood : bool
        Whether that law is non-Gaussian.
    method : str
        ``"svi"`` or ``"nuts"``.
    cluster_ids : tuple of int
        The shown clusters' numbers, in the order of ``resp``'s columns (what the report
        calls them); empty means ``0 .. K_occ - 1``.
    """

    columns: list[str]
    types: list[str]
    type_codes: np.ndarray
    x: np.ndarray
    y: np.ndarray
    labels: np.ndarray
    resp: np.ndarray
    pooled: np.ndarray
    phi: np.ndarray
    cluster_inclusion: np.ndarray
    edge_change: np.ndarray
    node_change: np.ndarray
    n_clusters: dict[int, float]
    universality: pd.DataFrame
    shifts: pd.DataFrame
    runs: dict[str, np.ndarray]
    evidence: dict[str, Any] | None
    likelihood: str
    non_gaussian_likelihood: bool
    method: str
    cluster_ids: tuple[int, ...] = ()


def _independent_runs(restarts) -> tuple[np.ndarray, np.ndarray]:
    """The independent runs among the restarts and their weights.

    A merge candidate continues the best restart (its ``origin``), so it is not an
    independent run: each origin counts once, as its heaviest slot with the weight of all.
    """
    weights = restarts["weight"].values.astype(float)
    if "origin" not in restarts:
        return np.arange(len(weights)), weights
    origin = restarts["origin"].values
    keep, total = [], []
    for o in np.unique(origin):
        slots = np.flatnonzero(origin == o)
        keep.append(int(slots[np.argmax(weights[slots])]))
        total.append(float(weights[slots].sum()))
    return np.asarray(keep), np.asarray(total)


def restart_runs(restarts, min_size: int) -> dict[str, np.ndarray]:
    """What the agreement rule reads from the fit's ``restarts`` group (one entry per SVI
    restart, or per NUTS chain's starting fit): each run's edge calls over its occupied
    clusters (at least ``min_size`` rows), orders, partitions, weights, scores and whether
    it was forced to one cluster."""
    keep, weights = _independent_runs(restarts)
    restarts = restarts.isel(restart=keep)
    parts = restarts["partition"].values
    k = restarts["inclusion"].shape[1]
    occupied = np.stack([np.bincount(p, minlength=k) >= min_size for p in parts])
    inclusion = np.where(occupied[:, :, None, None], restarts["inclusion"].values, 0.0)
    forced = restarts.get("forced_one_cluster")
    return {
        "calls": inclusion.max(axis=1) >= 0.5,
        "orders": restarts["order"].values,
        "partitions": parts,
        "weights": weights,
        "scores": restarts["score"].values,
        "forced_one_cluster": np.zeros(len(parts), bool)
        if forced is None
        else forced.values.astype(bool),
    }
