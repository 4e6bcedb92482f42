"""What the identifiability rules read from a fit, as one typed, read-only record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["IdentifiabilityInputs"]


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
        The universal/specific edge table and the shift-target table.
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
