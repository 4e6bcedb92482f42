"""The restarts of an SVI fit: which clusters each uses, pruning, the warm start from a searched
order, and the weights that combine them into one set of draws.

Pruning and the forced one-cluster restart are what let the final ELBO comparison weigh leaner
against fuller partitions (see :mod:`bayes_hcl.inference.svi.driver`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bayes_hcl.config import ModelConfig, SVIConfig
from bayes_hcl.inference.svi.feeds import trim_padding
from bayes_hcl.inference.svi.programs import Programs
from bayes_hcl.inference.svi.warm_start import warm_start_params
from bayes_hcl.model.factorial import factor_state_keep, factor_warm_params
from bayes_hcl.model.guide import NOISE_SITES

__all__ = [
    "allocate_draws",
    "coarsening_power",
    "forced_one_cluster",
    "initial_active",
    "merge_candidates",
    "prune",
    "prune_fractions",
    "restart_summary",
    "restart_weights",
    "warm_restarts",
]


def coarsening_power(alpha: float, n: int) -> float:
    """The power ``zeta = alpha / (alpha + n)`` of the coarsened posterior (Miller & Dunson
    2019) that weighs the restarts; ``alpha = 0`` gives 1, the ordinary posterior."""
    return 1.0 if alpha <= 0 else float(alpha) / (float(alpha) + n)


def restart_summary(prog: Programs, states, active, args, n: int, power: float = 1.0) -> dict:
    """Guide-median summary of every restart (order, memberships, partition) as NumPy arrays.

    ``score`` is the restart's ELBO under the coarsened posterior of power ``power``: log
    prior plus ``power`` times the log-likelihood, at the guide's centre, plus the guide's
    entropy; ``elbo`` keeps the ordinary one (power 1).
    """
    out = {name: np.asarray(value) for name, value in prog.summary(states, active, args).items()}
    out = trim_padding(out, n)
    out["elbo"] = out["score"]
    loglik = np.asarray(out["loglik"], np.float64)
    out["score"] = np.asarray(out["prior"], np.float64) + out["entropy"] + power * loglik
    return out


def initial_active(svi_cfg: SVIConfig, max_clusters: int) -> jnp.ndarray:
    """Clusters in use by each restart at the start ``(R, K)``.

    With ``one_cluster_restart`` (and at least three restarts) the last restart fits the
    one-population model: the final ELBO comparison then weighs K = 1 against the mixture
    explicitly, instead of relying on SVI to empty every spare cluster.
    """
    active = np.ones((svi_cfg.num_restarts, max_clusters), dtype=np.float32)
    if svi_cfg.one_cluster_restart and svi_cfg.num_restarts >= 3 and max_clusters > 1:
        active[-1, 1:] = 0.0
    return jnp.asarray(active)


def forced_one_cluster(svi_cfg: SVIConfig, max_clusters: int) -> np.ndarray:
    """``(R,)`` restarts that fit one population by construction (see :func:`initial_active`)."""
    active = np.asarray(initial_active(svi_cfg, max_clusters))
    return (active[:, 1:].sum(1) == 0) & (max_clusters > 1)


def prune_fractions(svi_cfg: SVIConfig) -> np.ndarray:
    """Share of rows below which each restart switches off a cluster at ``prune_at``.

    Every other restart uses the larger ``merge_fraction``: it merges mid-sized clusters
    too, and the final ELBO comparison between restarts decides whether the leaner
    partition explains the data as well (mean-field SVI alone rarely empties a cluster that
    splits a real one, even when the merged model has the higher ELBO).
    """
    r = np.arange(svi_cfg.num_restarts)
    merge = max(svi_cfg.merge_fraction, svi_cfg.prune_fraction)
    return np.where(r % 2 == 1, merge, svi_cfg.prune_fraction)


def merge_candidates(
    summary: dict, active, forced: np.ndarray, slots: int = 2, given_up: np.ndarray | None = None
):
    """Restarts that continue the best one with fewer clusters: ``(sources, active)``.

    The worst ``slots`` restarts (never the best, never a forced one-cluster restart, never
    one given up after repeated numerical faults, which keeps weight 0) are
    replaced by the best restart with its ``1, 2, ...`` smallest clusters switched off,
    keeping at least two (one with no forced one-cluster restart to cover K = 1). Rows of a
    switched-off cluster return to the others, which the remaining steps refit with them.
    Restarts that split one population rarely empty the extra cluster on their own, because
    mean-field SVI moves one row at a time; the final comparison between restarts then
    weighs the leaner partitions against the one they came from, row for row on the same
    fit. ``sources[r]`` is the restart whose state slot ``r`` continues.
    """
    score = np.where(np.isfinite(summary["score"]), summary["score"], -np.inf)
    given_up = np.zeros(len(score), bool) if given_up is None else np.asarray(given_up)
    score = np.where(given_up, -np.inf, score)
    mask = np.asarray(active) > 0
    r_count, k = mask.shape
    sources, new_active = np.arange(r_count), np.asarray(active).copy()
    best = int(np.argmax(score))
    counts = np.bincount(summary["partition"][best], minlength=k) * mask[best]
    occupied = np.flatnonzero(counts > 0)
    by_size = occupied[np.argsort(counts[occupied], kind="stable")]
    removable = len(occupied) - (1 if forced.any() else 0) - 1
    free = [
        r
        for r in np.argsort(score, kind="stable")
        if r != best and not forced[r] and not given_up[r]
    ]
    for j, slot in enumerate(free[: max(0, min(slots, removable))]):
        sources[slot] = best
        new_active[slot] = new_active[best]
        new_active[slot, by_size[: j + 1]] = 0.0
    return sources, jnp.asarray(new_active)


def prune(summary: dict, active, fractions: np.ndarray, model_cfg: ModelConfig):
    """Switch off clusters holding less than ``fractions[r]`` of the rows in restart ``r``.

    A truncated DP fitted by SVI keeps spare clusters that copy the universal model and pick
    up a few rows in the overlap of real clusters; they cost nothing in the likelihood and so
    never empty out. Pruning them and refining the remaining clusters is a merge move: rows
    of a spurious cluster return to the real clusters, which are then refitted with them.
    With several latent factors, the states of each factor are pruned (with every joint
    state they are part of; :func:`~bayes_hcl.model.factorial.factor_state_keep`).
    """
    partition = summary["partition"]
    if model_cfg.latent_factors > 1:
        keep = factor_state_keep(
            partition, fractions, model_cfg.latent_factors, model_cfg.max_clusters
        )
        return jnp.asarray(keep, dtype=jnp.float32) * active
    k = active.shape[1]
    counts = np.stack([np.bincount(p, minlength=k) for p in partition])
    keep = counts >= np.maximum(1.0, fractions[:, None] * partition.shape[1])
    keep[np.arange(len(keep)), counts.argmax(1)] = True
    return jnp.asarray(keep, dtype=jnp.float32) * active


def warm_restarts(prog, states, summary, active, data, step: int, key, args, seed, rates):
    """Re-start every restart at the order found by searching from its own memberships
    (at ``step``; ``rates``: the fit's schedule rates)."""
    params = []
    current = jax.vmap(prog.svi.get_params)(states)
    sites = ("W", "mu", "b_base", "b_shift", "log_sigma_base", "log_sigma_shift")
    for r, membership in enumerate(summary["membership"]):
        start = list(np.argsort(summary["order"][r]))
        # only a categorical variable's blocks start from the restart's current values
        own = None
        factors = prog.config.model.latent_factors
        if data.design is not None and factors == 1:
            own = {name: np.asarray(current[f"{name}_loc"][r]) for name in sites}
        p, _ = warm_start_params(
            data,
            membership,
            np.asarray(active[r]),
            start,
            prog.config.model,
            seed=seed + r,
            current=own,
        )
        if factors > 1:
            p = factor_warm_params(p, membership, factors, prog.config.model.max_clusters)
        params.append(p)
    stacked = jax.tree_util.tree_map(lambda *a: jnp.asarray(np.stack(a)), *params)
    # the noise law is learnt from residuals, not from the order: keep what SVI has found
    for name in NOISE_SITES:
        for part in ("loc", "scale"):
            if f"{name}_{part}" in current:
                stacked[f"{name}_{part}"] = current[f"{name}_{part}"]
    keys = jax.random.split(key, len(params))
    return prog.restart_from(keys, stacked, jnp.float32(step), args, rates)


def restart_weights(elbo: np.ndarray) -> np.ndarray:
    finite = np.where(np.isfinite(elbo), elbo, -np.inf)
    if not np.isfinite(finite).any():
        raise FloatingPointError("every SVI restart ended with a non-finite ELBO")
    w = np.exp(finite - finite.max())
    return w / w.sum()


def allocate_draws(weights: np.ndarray, total: int) -> np.ndarray:
    """Largest-remainder allocation of ``total`` draws; returns the restart of every draw."""
    raw = weights * total
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return np.repeat(np.arange(len(weights)), counts)
