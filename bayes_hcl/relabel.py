"""Cluster labels aligned across posterior draws (the label-switching fix).

Each draw's clusters are matched to reference memberships by the Hungarian algorithm on their
overlap, then all draws' clusters are sorted by decreasing mean mixture weight.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["CLUSTER_SITES", "cluster_permutations", "permute_clusters", "relabel_draws"]

CLUSTER_SITES = (
    "W",
    "b",
    "sigma",
    "b_shift",
    "log_sigma_shift",
    "intercept_shift",
    "noise_shift",
    "membership",
    "inclusion",
    "weights",
    "log_weights",
    "cluster_size",
)


def cluster_permutations(overlap: np.ndarray, log_weights: np.ndarray) -> np.ndarray:
    """Per draw, the draw cluster that becomes each aligned cluster ``(S, K)``.

    Parameters
    ----------
    overlap : ndarray ``(S, K, K)``
        ``overlap[s, k, r]``: membership mass shared by cluster ``k`` of draw ``s`` and
        reference cluster ``r``.
    log_weights : ndarray ``(S, K)``
        Mixture log weights of every draw (to sort the aligned clusters by mean weight).
    """
    perms = np.stack([linear_sum_assignment(-o)[1].argsort() for o in overlap])
    # perms[s, r] = draw cluster matched to reference cluster r
    mass = np.take_along_axis(np.exp(log_weights), perms, axis=1).mean(0)
    return perms[:, np.argsort(-mass, kind="stable")]


def permute_clusters(draws: dict[str, np.ndarray], perms: np.ndarray) -> dict[str, np.ndarray]:
    """Reorder the cluster axis of every site in ``CLUSTER_SITES`` by ``perms`` ``(S, K)``
    (axis 1, or the last axis for ``membership``); drops the stick-breaking ``v``."""
    out = dict(draws)
    for name in CLUSTER_SITES:
        if name not in draws:
            continue
        axis = draws[name].ndim - 1 if name == "membership" else 1
        idx = perms.reshape(perms.shape + (1,) * (draws[name].ndim - 2))
        out[name] = np.take_along_axis(draws[name], np.moveaxis(idx, 1, axis), axis=axis)
    out.pop("v", None)
    return out


def relabel_draws(draws: dict[str, np.ndarray], reference: np.ndarray) -> dict[str, np.ndarray]:
    """Permute each draw's clusters to best match ``reference`` memberships (Hungarian).

    Parameters
    ----------
    draws : dict
        Draws with a leading draw axis; sites in ``CLUSTER_SITES`` carry a cluster axis
        (axis 1, or the last axis for ``membership``).
    reference : ndarray
        ``(n, K)`` reference memberships.

    Returns
    -------
    dict
        The draws with clusters permuted, then sorted by decreasing mean mixture weight.
    """
    overlap = np.einsum("sik,ir->skr", draws["membership"], reference)
    return permute_clusters(draws, cluster_permutations(overlap, draws["log_weights"]))
