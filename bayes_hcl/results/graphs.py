"""NetworkX graphs of a posterior: one per shown cluster, and the pooled one.

Edge weights are posterior means *given that the edge is present*
(:func:`bayes_hcl.results.effects.conditional_weights`). The pooled graph never averages
weights of opposite sign into a number that reads "no effect": its ``weight`` is the
size-weighted mean over the clusters where the edge is present (probability >= 0.5, or the
most probable cluster when none reaches it) when those agree in sign, and NaN with
``sign = "mixed"`` when they do not; every shown cluster's weight and probability are on the
edge as ``weight_cluster_<k>`` and ``p_cluster_<k>``.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np

from bayes_hcl.results.summary import acyclic_edges

__all__ = ["edge_graph", "pooled_weight"]


def pooled_weight(
    weight: np.ndarray, probability: np.ndarray, sizes: np.ndarray
) -> tuple[float, str]:
    """Sign-aware pooled weight of one edge from its per-cluster values.

    Parameters
    ----------
    weight, probability : ndarray ``(C,)``
        Per shown cluster: the weight given presence and the probability of presence.
    sizes : ndarray ``(C,)``
        Rows of each shown cluster (point partition).

    Returns
    -------
    tuple
        ``(weight, sign)`` with sign ``"+"``, ``"-"`` or ``"mixed"`` (weight NaN).
    """
    present = probability >= 0.5
    if not present.any():
        present = probability == probability.max()
    w, n = weight[present], sizes[present]
    w, n = w[np.isfinite(w)], n[np.isfinite(w)]
    if not len(w):
        return float("nan"), "mixed"
    signs = set(np.sign(w[w != 0]).tolist())
    if len(signs) > 1:
        return float("nan"), "mixed"
    mean = float(np.average(w, weights=n) if n.sum() > 0 else w.mean())
    return mean, "-" if mean < 0 else "+"


def edge_graph(
    prob: np.ndarray,
    columns: Sequence[str],
    types: Sequence[str],
    threshold: float,
    cluster: int | None,
    shown: Sequence[int],
    cluster_weights: np.ndarray,
    cluster_probability: np.ndarray,
    sizes: np.ndarray,
) -> nx.DiGraph:
    """Acyclic graph of the edges with ``prob >= threshold`` (see the module docstring).

    ``cluster_weights`` and ``cluster_probability`` are ``(C, d, d)`` over the ``shown``
    clusters (in that order); ``cluster`` is the graph's cluster, or ``None`` for the
    pooled graph. Edges that would close a cycle (possible only between thresholded
    marginals) are left out and listed in ``graph.graph["skipped"]``.
    """
    kept, skipped = acyclic_edges(prob, threshold)
    g = nx.DiGraph(
        cluster=cluster,
        threshold=threshold,
        skipped=[(columns[i], columns[j]) for i, j in skipped],
    )
    for name, kind in zip(columns, types, strict=True):
        g.add_node(name, type=kind)
    for i, j in kept:
        attrs = {"probability": float(prob[i, j])}
        if cluster is None:
            w, p = cluster_weights[:, i, j], cluster_probability[:, i, j]
            attrs["weight"], attrs["sign"] = pooled_weight(w, p, sizes)
            for c, k in enumerate(shown):
                attrs[f"weight_cluster_{k}"] = float(w[c])
                attrs[f"p_cluster_{k}"] = float(p[c])
        else:
            attrs["weight"] = float(cluster_weights[list(shown).index(cluster), i, j])
        g.add_edge(columns[i], columns[j], **attrs)
    return g
