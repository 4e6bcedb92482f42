"""The one set of clusters every readout is computed over, and how it relates to the posterior.

A fit reports a *point partition* (the partition minimising the posterior expected VI loss,
:func:`bayes_hcl.results.summary.point_partition`). Its clusters are the **shown clusters**:
the membership columns, the ``clusters/<k>/`` folders, the per-cluster graphs and, through
:func:`shown_occupancy`, every pooled quantity (pooled edge probabilities, universal and
cluster-specific mechanisms, shift targets) refer to exactly these clusters.

The posterior over the number of clusters counts, in every draw, the clusters that hold at
least :func:`bayes_hcl.config.min_cluster_size` rows. The two need not agree: the VI loss
merges a cluster whose rows are uncertain (each row with a membership well below one) into
its neighbours even when every draw keeps it (Wade & Ghahramani 2018, "Bayesian cluster
analysis: point estimation and credible balls", §4). :func:`cluster_note` says so in words
next to both numbers, so the two never read as a contradiction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["KEPT_SHARE", "cluster_note", "empty_cluster_message", "shown_occupancy"]

#: Share of draws in which a cluster must be occupied for the posterior to "keep" it.
KEPT_SHARE = 0.5


def shown_occupancy(occupied: np.ndarray, shown: Sequence[int]) -> np.ndarray:
    """Per-draw occupancy ``(S, K)`` restricted to the shown clusters.

    A draw counts a shown cluster when it is occupied in that draw; clusters outside the
    point partition never count, so pooled readouts are over exactly the clusters shown.
    """
    mask = np.zeros(occupied.shape[-1], dtype=bool)
    mask[list(shown)] = True
    return occupied & mask


def _rows(value: float) -> str:
    return f"~{value:.0f} rows"


def _merged_into(mass: np.ndarray) -> str:
    parts = [f"cluster {k} ({_rows(m)})" for k, m in enumerate(mass) if m >= 0.5]
    return " and ".join(parts) if parts else "the clusters shown"


def cluster_note(
    occupied: np.ndarray, labels: np.ndarray, mean_membership: np.ndarray
) -> dict[str, Any]:
    """How the shown clusters relate to the posterior over the number of clusters.

    Parameters
    ----------
    occupied : ndarray of bool ``(S, K)``
        Per-draw occupied clusters (all clusters, as counted by the posterior over K).
    labels : ndarray of int ``(n,)``
        The point partition (aligned cluster labels).
    mean_membership : ndarray ``(n, K)``
        Posterior mean membership probabilities.

    Returns
    -------
    dict
        ``shown`` (the point partition's clusters), ``posterior_mode`` (most probable K) and
        its probability ``p_mode``, ``hidden`` (one entry per cluster the posterior keeps —
        occupied in at least :data:`KEPT_SHARE` of the draws — that the point partition
        does not show: ``cluster``, ``p_occupied``, ``rows`` (its membership mass) and
        ``merged_into`` (that mass by shown cluster)), ``fragile`` (shown clusters occupied
        in fewer than that share of draws: ``cluster``, ``p_occupied``) and ``text`` (one
        sentence saying how the two differ, or ``None`` when the point partition shows
        the posterior's most probable number of clusters and every cluster it keeps).
    """
    shown = sorted(int(k) for k in np.unique(labels))
    p_occupied = occupied.mean(0)
    counts, freq = np.unique(occupied.sum(1), return_counts=True)
    mode, p_mode = int(counts[freq.argmax()]), float(freq.max() / freq.sum())
    hidden = []
    for k in np.nonzero(p_occupied >= KEPT_SHARE)[0]:
        if int(k) in shown:
            continue
        mass = np.bincount(labels, weights=mean_membership[:, k], minlength=occupied.shape[1])
        hidden.append(
            {
                "cluster": int(k),
                "p_occupied": float(p_occupied[k]),
                "rows": float(mean_membership[:, k].sum()),
                "merged_into": {str(j): float(mass[j]) for j in shown},
            }
        )
    fragile = [
        {"cluster": k, "p_occupied": float(p_occupied[k])}
        for k in shown
        if p_occupied[k] < KEPT_SHARE
    ]
    note = {
        "shown": shown,
        "posterior_mode": mode,
        "p_mode": p_mode,
        "hidden": hidden,
        "fragile": fragile,
    }
    return {**note, "text": _note_text(note, mean_membership.shape[1])}


def _note_text(note: dict[str, Any], max_clusters: int) -> str | None:
    shown, hidden, fragile = note["shown"], note["hidden"], note["fragile"]
    if not hidden and not fragile and note["posterior_mode"] == len(shown):
        return None
    parts = [
        f"the posterior puts K = {note['posterior_mode']} at P = {note['p_mode']:.2f}; "
        f"the point estimate (minimum expected VI loss) shows {len(shown)} "
        f"cluster{'s' if len(shown) != 1 else ''} ({', '.join(map(str, shown))})"
    ]
    for h in hidden:
        mass = np.zeros(max_clusters)
        for j, m in h["merged_into"].items():
            mass[int(j)] = m
        parts.append(
            f"the posterior keeps a further cluster ({_rows(h['rows'])} of membership, "
            f"occupied in {h['p_occupied']:.0%} of draws) that the point estimate merges into "
            f"{_merged_into(mass)}: its rows are too uncertain to stand as a cluster of "
            "their own"
        )
    for f in fragile:
        parts.append(
            f"cluster {f['cluster']} is occupied in only {f['p_occupied']:.0%} of the draws, "
            "and the pooled readouts count it in those draws only, so its own per-cluster "
            "probabilities can exceed the pooled ones"
        )
    return (
        "; ".join(parts)
        + ". Memberships, per-cluster and pooled readouts are over the clusters shown."
    )


def empty_cluster_message(cluster: int, shown: Sequence[int]) -> str:
    """One line refusing a cluster that holds no rows of the point partition."""
    return (
        f"cluster {cluster} holds no rows of the point partition; the clusters shown are "
        f"{', '.join(map(str, shown))} (see result.cluster_note() for clusters the posterior "
        "keeps but the point estimate merges)"
    )
