"""Cluster labels aligned across posterior draws (the label-switching fix).

Each draw's clusters are matched to reference memberships by the Hungarian algorithm on their
overlap, then all draws' clusters are sorted by decreasing mean mixture weight.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from bayes_hcl.model.factorial import joint_states_table

__all__ = [
    "CLUSTER_SITES",
    "FACTOR_STATE_SITES",
    "JOINT_SITES",
    "SLOT_SITES",
    "cluster_permutations",
    "factor_permutations",
    "permute_clusters",
    "permute_factors",
    "relabel_draws",
    "relabel_factor_draws",
]

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


#: Sites with the flattened factor-and-state ("slot") axis 1.
SLOT_SITES = ("W", "b_shift", "log_sigma_shift")
#: Sites of a several-factor fit with a joint-state axis (axis 1; ``membership``: the last):
#: the cluster sites of a one-factor fit but those per factor and state.
JOINT_SITES = tuple(name for name in CLUSTER_SITES if name not in (*SLOT_SITES, "cluster_size"))
#: Sites with a factor axis and a state axis (``factor_membership``: axes 2 and 3).
FACTOR_STATE_SITES = (
    "factor_log_weights",
    "factor_intercept_shift",
    "factor_noise_shift",
    "factor_membership",
)


def factor_permutations(
    memberships: np.ndarray, reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per draw, which factor and which of its states become each aligned factor and state.

    Parameters
    ----------
    memberships : ndarray ``(S, n, m, K)``
        Every draw's per-factor memberships.
    reference : ndarray ``(n, m, K)``
        Reference per-factor memberships.

    Returns
    -------
    factor_of : ndarray ``(S, m)``
        ``factor_of[s, g]``: the draw's factor matched to reference factor ``g``.
    state_of : ndarray ``(S, m, K)``
        ``state_of[s, g, r]``: that factor's state matched to reference state ``r``.

    Each pair (draw factor ``f``, reference factor ``g``) is scored by the largest overlap
    any matching of their states reaches (Hungarian); factors are then matched by those
    scores (Hungarian again), so no enumeration of factor orders is needed.
    """
    s_count, _, m, k = memberships.shape
    factor_of = np.zeros((s_count, m), dtype=int)
    state_of = np.zeros((s_count, m, k), dtype=int)
    overlap = np.einsum("sifk,igr->sfgkr", memberships, reference)
    for s in range(s_count):
        score = np.zeros((m, m))
        match = np.zeros((m, m, k), dtype=int)
        for f in range(m):
            for g in range(m):
                rows, cols = linear_sum_assignment(-overlap[s, f, g])
                score[f, g] = overlap[s, f, g][rows, cols].sum()
                match[f, g][cols] = rows  # reference state -> draw state
        rows, cols = linear_sum_assignment(-score)
        factor_of[s, cols] = rows
        state_of[s] = match[factor_of[s], np.arange(m)]
    return factor_of, state_of


def _sort_states(factor_of, state_of, log_weights: np.ndarray) -> np.ndarray:
    """``state_of`` with each aligned factor's states sorted by decreasing mean weight."""
    s_idx = np.arange(len(factor_of))[:, None, None]
    aligned = log_weights[s_idx, factor_of[:, :, None], state_of]  # (S, m, K)
    order = np.argsort(-np.exp(aligned).mean(0), axis=1, kind="stable")  # (m, K)
    return np.take_along_axis(state_of, np.broadcast_to(order, state_of.shape), axis=2)


def permute_factors(draws: dict, factor_of: np.ndarray, state_of: np.ndarray) -> dict:
    """Reorder every factor, state, slot and joint-state axis of several-factor draws."""
    s_count, m = factor_of.shape
    k = state_of.shape[2]
    s_idx = np.arange(s_count)[:, None, None]
    source_slot = (factor_of[:, :, None] * k + state_of).reshape(s_count, m * k)
    # joint state (r_1..r_m) of the aligned labels <- the draw's joint state whose factor
    # factor_of[g] is in state state_of[g, r_g]
    table = joint_states_table(m, k)  # (C, m) aligned states
    draw_states = np.zeros((s_count, len(table), m), dtype=int)
    rows, joint = np.arange(s_count)[:, None], np.arange(len(table))[None, :]
    for g in range(m):
        draw_states[rows, joint, factor_of[:, g][:, None]] = state_of[:, g, :][:, table[:, g]]
    source_joint = np.ravel_multi_index(tuple(np.moveaxis(draw_states, 2, 0)), (k,) * m)
    out = dict(draws)

    def along(value, idx, axis):
        shape = [1] * value.ndim
        shape[0], shape[axis] = idx.shape[0], idx.shape[1]
        return np.take_along_axis(value, idx.reshape(shape), axis=axis)

    for name in JOINT_SITES:
        if name in draws:
            axis = draws[name].ndim - 1 if name == "membership" else 1
            out[name] = along(draws[name], source_joint, axis)
    for name in SLOT_SITES:
        if name in draws:
            out[name] = along(draws[name], source_slot, 1)
    for name in FACTOR_STATE_SITES:
        if name not in draws:
            continue
        value = draws[name]
        if name == "factor_membership":
            out[name] = value[s_idx, :, factor_of[:, :, None], state_of].transpose(0, 3, 1, 2)
        else:
            out[name] = value[s_idx, factor_of[:, :, None], state_of]
    if "alpha" in draws:
        out["alpha"] = np.take_along_axis(draws["alpha"], factor_of, axis=1)
    out.pop("v", None)
    return out


def relabel_factor_draws(draws: dict, reference: np.ndarray) -> dict:
    """Align the factors and states of several-factor draws with ``reference`` ``(n, m, K)``
    per-factor memberships; each factor's states are then sorted by decreasing mean weight.
    """
    factor_of, state_of = factor_permutations(draws["factor_membership"], reference)
    state_of = _sort_states(factor_of, state_of, draws["factor_log_weights"])
    return permute_factors(draws, factor_of, state_of)
