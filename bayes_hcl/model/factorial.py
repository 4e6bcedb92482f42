"""Several independent latent factors: the joint states and their parameters.

With ``latent_factors = m`` the rows have ``m`` independent hidden categorical factors of
``K = max_clusters`` states each. Every joint state ``c = (s_1, ..., s_m)`` is one component
of the mixture (``K ** m`` of them, summed out exactly, never sampled); its parameters are
built from per-factor, per-state ones:

* mixture weight ``log pi_c = sum_f log pi_f[s_f]`` (each factor a truncated DP);
* intercept ``b_c = b_base + sum_f b_shift[f, s_f]`` and log noise scale likewise (additive
  shifts, each entry spike-and-slab: ``b_shift[f, k, j]`` in the slab means state ``k`` of
  factor ``f`` shifts variable ``j``);
* edge weights ``W_c = mean_f W[f, s_f]`` (each factor state's weights spike-and-slab around
  the universal mechanism, as the clusters of the one-factor model).

With one factor all three reduce to the one-factor model's cluster parameters exactly (the
code then takes the one-factor path unchanged). Per-factor arrays are stored with the factor
and state axes flattened into one "slot" axis ``f * K + k`` so that the priors of the
one-factor model apply as they are.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from bayes_hcl.config import ModelConfig
from bayes_hcl.model.priors import stick_breaking_log_weights, stick_fractions

__all__ = [
    "factor_marginals",
    "factor_quantities",
    "factor_slots",
    "factor_state_keep",
    "factor_warm_params",
    "joint_from_slots",
    "joint_log_weights",
    "joint_states_table",
    "mixture_log_weights",
    "slot_count",
    "slots_from_joint",
    "to_joint",
]


#: Floor of a pruned state's weight before its log (keeps the log finite).
TINY = float(np.finfo(np.float32).tiny)


@functools.lru_cache(maxsize=32)
def joint_states_table(factors: int, states: int) -> np.ndarray:
    """``(K ** m, m)`` state of every factor in each joint state (the last factor varies
    fastest, as ``numpy.ravel_multi_index`` orders them)."""
    grids = np.indices((states,) * factors).reshape(factors, -1).T
    grids.setflags(write=False)
    return grids


@functools.lru_cache(maxsize=32)
def factor_slots(factors: int, states: int) -> np.ndarray:
    """``(K ** m, m)`` slot ``f * K + s_f`` of each factor's state in each joint state."""
    slots = joint_states_table(factors, states) + states * np.arange(factors)
    slots.setflags(write=False)
    return slots


def joint_from_slots(per_slot, factors: int, states: int, how: str):
    """Joint-state parameters ``(K ** m, ...)`` from per-slot ones ``(m * K, ...)``:
    the ``"sum"`` (shifts) or the ``"mean"`` (weights) over the factors' states."""
    gathered = per_slot[factor_slots(factors, states)]  # (C, m, ...)
    return gathered.sum(1) if how == "sum" else gathered.mean(1)


def factor_marginals(joint, factors: int, states: int):
    """Per-factor marginals ``(..., m, K)`` of joint-state masses ``(..., K ** m)`` (each
    factor's state probabilities summed over the other factors' states)."""
    out = jnp.einsum("...c,cs->...s", joint, jnp.asarray(_design(factors, states)))
    return out.reshape((*out.shape[:-1], factors, states))


@functools.lru_cache(maxsize=32)
def _design(factors: int, states: int) -> np.ndarray:
    """``(C, m * K)`` 0/1 matrix (float32): joint state ``c`` uses slot ``s``."""
    slots = factor_slots(factors, states)
    design = np.zeros((slots.shape[0], factors * states), dtype=np.float32)
    design[np.arange(slots.shape[0])[:, None], slots] = 1.0
    design.setflags(write=False)
    return design


def slots_from_joint(values: np.ndarray, mass: np.ndarray, factors: int, states: int):
    """Per-slot additive parts ``(m * K, ...)`` that best reproduce joint-state values.

    Weighted least squares (minimum norm) of ``values[c] ~ sum_f A[f, s_f(c)]`` with joint
    state ``c`` weighted by ``mass[c]`` (rows it holds): used to turn a warm start fitted per
    joint state into per-factor parameters. Joint states holding no rows get a small weight
    so every slot stays determined.
    """
    design = _design(factors, states)
    w = np.sqrt(np.maximum(mass, 0.0) + 1e-3 * max(float(mass.sum()), 1.0) / len(mass))
    flat = values.reshape(len(values), -1)
    solution, *_ = np.linalg.lstsq(design * w[:, None], flat * w[:, None], rcond=None)
    return solution.reshape((factors * states, *values.shape[1:]))


def joint_log_weights(v, factors: int, states: int):
    """Mixture log weights of the joint states ``(K ** m,)`` from every factor's stick
    fractions ``v`` ``(m, K - 1)``: the factors are independent."""
    log_pi = jax.vmap(stick_breaking_log_weights)(v)  # (m, K)
    return log_pi.reshape(-1)[factor_slots(factors, states)].sum(1)


def factor_warm_params(params: dict, membership: np.ndarray, factors: int, states: int) -> dict:
    """Guide parameters per factor and state from a warm start fitted per joint state.

    The order search sees every joint state as a cluster
    (:func:`bayes_hcl.inference.svi.warm_start.warm_start_params`); its per-joint-state
    weights, intercept and noise shifts become per-slot ones by weighted least squares
    (:func:`slots_from_joint`), and every factor's state weights are the joint states'
    masses summed over the other factors.
    """
    mass = np.asarray(membership, dtype=np.float64).sum(0)
    out = dict(params)
    mu = np.asarray(params["mu_loc"], dtype=np.float64)
    weights = np.asarray(params["W_loc"], dtype=np.float64) - mu
    out["W_loc"] = mu + factors * slots_from_joint(weights, mass, factors, states)
    for name in ("b_shift", "log_sigma_shift"):
        value = np.asarray(params[f"{name}_loc"], dtype=np.float64)
        out[f"{name}_loc"] = slots_from_joint(value, mass, factors, states)
    if "v_loc" in params:
        share = np.asarray(factor_marginals(mass / max(mass.sum(), 1e-12), factors, states))
        share = np.maximum(share, 1e-3)
        share /= share.sum(1, keepdims=True)
        v = stick_fractions(share)
        out["v_loc"] = np.log(v / (1 - v))
        out["alpha_loc"] = np.zeros(factors)
    return {name: np.asarray(value, np.float32) for name, value in out.items()}


def factor_state_keep(
    partition: np.ndarray, fractions: np.ndarray, factors: int, states: int
) -> np.ndarray:
    """``(R, K ** m)`` joint states to keep when each restart switches off factor states.

    A factor's state holding less than ``fractions[r]`` of restart ``r``'s rows is switched
    off with every joint state it is part of (each factor keeps at least its fullest state),
    so pruning merges states of one factor and never breaks the product of the factors (as
    switching off single joint states would).
    """
    table = joint_states_table(factors, states)
    n = partition.shape[1]
    keep = np.ones((len(partition), len(table)), dtype=bool)
    for r, rows in enumerate(partition):
        joint = np.bincount(rows, minlength=len(table))
        for f in range(factors):
            counts = np.bincount(table[:, f], weights=joint, minlength=states)
            own = counts >= max(1.0, fractions[r] * n)
            own[counts.argmax()] = True
            keep[r] &= own[table[:, f]]
    return keep


def slot_count(config: ModelConfig) -> int:
    """Clusters (one factor), or states of all factors (several: the slot axis of
    :mod:`bayes_hcl.model.factorial`), that carry their own mechanisms."""
    return config.max_clusters * config.latent_factors


def to_joint(per_slot, config: ModelConfig, how: str):
    """Joint-state parameters from per-slot ones (unchanged with one factor)."""
    if config.latent_factors == 1:
        return per_slot
    return joint_from_slots(per_slot, config.latent_factors, config.max_clusters, how)


def factor_quantities(out: dict, m: int, k: int) -> dict:
    """Per-factor readouts of a draw, and the joint states' shift probabilities.

    A joint state shifts a variable when any of its factors' states does (the shifts add
    up), so its probability is ``1 - prod_f (1 - p[f, s_f])`` under the draw. Each factor's
    state weights are the marginals of the joint states' weights after pruning (a pruned
    state has weight 0 whatever its stick fraction).
    """
    slot_b, slot_s = out["intercept_shift"], out["noise_shift"]  # (m * K, width)
    width = slot_b.shape[-1]

    def joint_any(p):
        return -jnp.expm1(joint_from_slots(jnp.log1p(-p), m, k, "sum"))

    return {
        "intercept_shift": joint_any(slot_b),
        "noise_shift": joint_any(slot_s),
        "factor_intercept_shift": slot_b.reshape(m, k, width),
        "factor_noise_shift": slot_s.reshape(m, k, width),
        "factor_log_weights": jnp.log(
            jnp.maximum(factor_marginals(jnp.exp(out["log_weights"]), m, k), TINY)
        ),
        "factor_membership": factor_marginals(out["membership"], m, k),
    }


def mixture_log_weights(latents: dict, config: ModelConfig):
    """Log weights of the mixture's components (clusters, or joint states) in a draw."""
    k, m = config.max_clusters, config.latent_factors
    if k == 1:
        return jnp.zeros(1)
    if m == 1:
        return stick_breaking_log_weights(latents["v"])
    return joint_log_weights(latents["v"], m, k)
