"""Universal and cluster-specific mechanisms, computed once for every readout.

Per ordered pair ``i -> j`` and per draw (clusters independent given the draw, over the
clusters a readout covers — the shown clusters, :mod:`bayes_hcl.results.shown`):

* ``p_edge`` — the edge is present in at least one cluster;
* ``p_all_clusters`` — it is present in every cluster;
* ``p_differs`` — its mechanism differs between clusters: present in some but not all, or
  present in all with weights spanning more than
  :data:`~bayes_hcl.results.summary.MIN_WEIGHT_CHANGE` standardised units (only in draws
  with two or more clusters: with one there is nothing to differ from);
* ``p_universal = p_edge - p_differs`` — present with the same mechanism in every cluster.

``p_universal + p_differs = p_edge`` exactly, so at the threshold 0.5 an edge is *universal*
or *specific* but never both; an edge with ``p_edge >= 0.5`` and neither share reaching 0.5
is *undecided*. :func:`mechanism_table` is the one table behind ``HCLResult.summary()``,
``universal_edges()``, ``specific_edges()``, the report and ``identifiability.json``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_hcl.results.summary import MIN_WEIGHT_CHANGE, in_any_cluster, in_every_cluster

__all__ = [
    "MECHANISM_COLUMNS",
    "MECHANISM_THRESHOLD",
    "mechanism_changes",
    "mechanism_label",
    "mechanism_table",
]

#: Probability at which an edge is called present, universal or specific.
MECHANISM_THRESHOLD = 0.5

#: Columns of :func:`mechanism_table`.
MECHANISM_COLUMNS = (
    "cause",
    "effect",
    "p_edge",
    "p_all_clusters",
    "p_universal",
    "p_differs",
    "mechanism",
)


def _edge_changes(
    inclusion: np.ndarray, weights: np.ndarray, occupied: np.ndarray, min_weight_change: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per draw ``(S, d, d)``: P(present anywhere), P(present everywhere), P(differs)."""
    occ = occupied[:, :, None, None]
    multi = (occupied.sum(1) >= 2)[:, None, None]
    p_all, p_any = in_every_cluster(inclusion, occupied), in_any_cluster(inclusion, occupied)
    span = np.where(occ, weights, -np.inf).max(1) - np.where(occ, weights, np.inf).min(1)
    differs = (p_any - p_all + p_all * (span > min_weight_change)) * multi
    return p_any, p_all, differs


def mechanism_changes(
    inclusion: np.ndarray,
    weights: np.ndarray,
    intercept_shift: np.ndarray,
    noise_shift: np.ndarray,
    occupied: np.ndarray,
    min_weight_change: float = MIN_WEIGHT_CHANGE,
) -> tuple[np.ndarray, np.ndarray]:
    """Probability that each edge's and each variable's mechanism differs between clusters.

    The edge's is ``p_differs`` (module docstring); a variable's mechanism differs when its
    intercept or noise is shifted (see :func:`bayes_hcl.results.summary.shift_table`) or any
    incoming edge differs. The events are combined within a draw as independent and
    averaged over draws.

    Returns
    -------
    tuple of ndarray
        ``p_edge_differs`` ``(d, d)`` and ``p_node_differs`` ``(d,)``.
    """
    multi = occupied.sum(1) >= 2
    edge = _edge_changes(inclusion, weights, occupied, min_weight_change)[2]
    keep = (1.0 - in_any_cluster(intercept_shift, occupied)) * (
        1.0 - in_any_cluster(noise_shift, occupied)
    )
    keep = keep * (1.0 - edge).prod(1)
    node = (1.0 - keep) * multi[:, None]
    return edge.mean(0), node.mean(0)


def mechanism_label(
    p_edge: float, p_universal: float, p_differs: float, threshold: float = MECHANISM_THRESHOLD
) -> str:
    """``"universal"``, ``"specific"``, ``"undecided"`` or ``"absent"`` (``p_edge <
    threshold``) for one edge."""
    if p_edge < threshold:
        return "absent"
    if p_universal >= threshold:
        return "universal"
    if p_differs >= threshold:
        return "specific"
    return "undecided"


def mechanism_table(
    inclusion: np.ndarray,
    weights: np.ndarray,
    occupied: np.ndarray,
    columns: Sequence[str],
    min_probability: float = 0.05,
    min_weight_change: float = MIN_WEIGHT_CHANGE,
) -> pd.DataFrame:
    """One row per ordered pair with ``p_edge >= min_probability``, by decreasing ``p_edge``.

    Parameters
    ----------
    inclusion, weights : ndarray ``(S, K, d, d)``
        Per-draw edge probabilities and weights of every cluster.
    occupied : ndarray of bool ``(S, K)``
        The clusters each draw counts (the shown clusters occupied in that draw).
    columns : sequence of str
        Variable names.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MECHANISM_COLUMNS` (see the module docstring); ``mechanism`` is
        :func:`mechanism_label` at :data:`MECHANISM_THRESHOLD`.
    """
    p_any, p_all, differs = (
        a.mean(0) for a in _edge_changes(inclusion, weights, occupied, min_weight_change)
    )
    universal = p_any - differs
    rows = [
        (
            columns[i],
            columns[j],
            p_any[i, j],
            p_all[i, j],
            universal[i, j],
            differs[i, j],
            mechanism_label(p_any[i, j], universal[i, j], differs[i, j]),
        )
        for i in range(len(columns))
        for j in range(len(columns))
        if i != j and p_any[i, j] >= min_probability
    ]
    frame = pd.DataFrame(rows, columns=list(MECHANISM_COLUMNS))
    return frame.sort_values("p_edge", ascending=False, ignore_index=True)
