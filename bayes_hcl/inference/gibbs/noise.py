"""The noise scales' updates: independence Metropolis-Hastings with Laplace-approximation
proposals.

Every cluster's log noise shift (its spike-and-slab prior kept as a mixture), then every
node's universal log noise scale, are drawn by independence MH whose proposals come from a
Laplace approximation of the Gaussian likelihood in the log scale (exact targets; acceptance
near one at scale). :func:`noise_proposal` is the joint proposal the order moves use for the
nodes whose parents change. A binary node has no noise scale: it is held at the prior's
centre (universal value ``noise_loc``, no shift), so no readout reports a noise shift of it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bayes_hcl.inference.gibbs.state import (
    GibbsState,
    SweepSettings,
    SweepStats,
    binary_mask,
    order_mask,
)

__all__ = ["draw_noise", "hold_noiseless", "log_noise_prior", "noise_proposal"]

#: Widening of the Laplace proposals of the noise scales (safe tails; acceptance stays high).
PROPOSAL_INFLATION = 1.3


def log_noise_prior(state: GibbsState, settings: SweepSettings) -> jnp.ndarray:
    base = _normal_logpdf(state.log_sigma_base, settings.noise_loc, settings.noise_scale**2)
    return base.sum() + _shift_prior_logpdf(state.log_sigma_shift, settings).sum()


#: Weight of the prior component in the proposal of a node's universal log noise scale.
PRIOR_COMPONENT = 0.05


def _base_proposal(levels, precision, settings: SweepSettings):
    """Mixture ``(log weights, means, variances)`` ``(K + 1, d)`` proposing a node's universal
    log noise scale: one component at each cluster's plug-in level (weight by its rows, so
    the base sits on one cluster's level and the others' shifts can stay in the spike), and
    the prior."""
    seen = precision > 0
    share = precision / jnp.maximum(precision.sum(0, keepdims=True), 1e-12)
    log_w = jnp.log(jnp.where(seen, (1.0 - PRIOR_COMPONENT) * share, 1e-30))
    var = jnp.where(seen, PROPOSAL_INFLATION**2 / jnp.maximum(precision, 1e-12), 1.0)
    prior_var = jnp.full((1, levels.shape[1]), settings.noise_scale**2)
    log_w = jnp.concatenate([log_w, jnp.full_like(prior_var, np.log(PRIOR_COMPONENT))])
    log_w = log_w - jax.scipy.special.logsumexp(log_w, axis=0)
    mean = jnp.concatenate([levels, jnp.full_like(prior_var, settings.noise_loc)])
    return log_w, mean, jnp.concatenate([var, prior_var])


def noise_proposal(levels, precision, settings: SweepSettings):
    """The proposal of every node's log noise scales from per-cluster plug-in levels
    ``(K, d)`` and likelihood precisions ``(K, 1)``: the universal value from
    ``_base_proposal``, then each cluster's shift given it from its spike-and-slab
    Laplace mixture. Returns ``(draw, log_density)``: ``draw(key) -> (base, shift)`` and
    ``log_density(base, shift) -> (d,)``."""
    precision = jnp.broadcast_to(precision, levels.shape)
    base_w, base_mean, base_var = _base_proposal(levels, precision, settings)

    def draw(rng_key):
        k_comp, k_base, k_shift, k_noise = jax.random.split(rng_key, 4)
        comp = jax.random.categorical(k_comp, base_w.T)  # (d,)
        pick = lambda a: jnp.take_along_axis(a, comp[None], 0)[0]  # noqa: E731
        base = pick(base_mean) + jnp.sqrt(pick(base_var)) * jax.random.normal(k_base, comp.shape)
        log_w, mean, var = _shift_proposal(levels - base[None], precision, settings)
        c = jax.random.categorical(k_shift, jnp.moveaxis(log_w, 0, -1))
        pick = lambda a: jnp.take_along_axis(a, c[None], 0)[0]  # noqa: E731
        shift = pick(mean) + jnp.sqrt(pick(var)) * jax.random.normal(k_noise, c.shape)
        return base, shift

    def log_density(base, shift):
        log_w, mean, var = _shift_proposal(levels - base[None], precision, settings)
        return _mixture_logpdf(base, base_w, base_mean, base_var) + _mixture_logpdf(
            shift, log_w, mean, var
        ).sum(0)

    return draw, log_density


def _residual_squares(state: GibbsState, stats: SweepStats) -> jnp.ndarray:
    """``(K, d)``: each cluster's residual sum of squares of each node."""
    zz, zy, yy, _ = stats
    weights = state.W * order_mask(state.rank)[None].astype(state.W.dtype)
    theta = jnp.concatenate([state.b[:, None, :], weights], axis=1)  # (K, P, d)
    cross = jnp.einsum("kpj,kpj->kj", theta, zy)
    quad = jnp.einsum("kpj,jkpq,kqj->kj", theta, zz, theta)
    return jnp.maximum(yy - 2.0 * cross + quad, 0.0)


def _noise_loglik(level, count, rss):
    """Log likelihood of a log noise scale ``level`` (constants dropped)."""
    return -count * level - 0.5 * rss * jnp.exp(-2.0 * level)


def _laplace(count, rss):
    """Mode and precision of the likelihood in the log noise scale (precision 0: no rows)."""
    mode = 0.5 * jnp.log(jnp.maximum(rss, 1e-12) / jnp.maximum(count, 1.0))
    return jnp.where(count > 0, mode, 0.0), 2.0 * count


def _normal_logpdf(x, mean, var):
    return -0.5 * ((x - mean) ** 2 / var + jnp.log(2 * np.pi * var))


def _shift_proposal(offset, precision, settings: SweepSettings):
    """Gaussian-mixture approximation ``(log weights, means, variances)`` ``(2, ...)`` of a
    shift's conditional: spike and slab each times the likelihood's Laplace approximation
    ``N(offset, 1 / precision)``."""
    prior_var = jnp.array([settings.noise_spike_var, settings.noise_slab_var])
    prior_var = prior_var.reshape((2,) + (1,) * offset.ndim)
    log_p = jnp.log(jnp.array([1.0 - settings.shift_prior, settings.shift_prior]))
    log_p = log_p.reshape(prior_var.shape)
    post_prec = precision[None] + 1.0 / prior_var
    mean = precision[None] * offset[None] / post_prec
    seen = precision[None] > 0
    marginal = _normal_logpdf(offset[None], 0.0, prior_var + 1.0 / jnp.maximum(precision, 1e-12))
    log_w = log_p + jnp.where(seen, marginal, 0.0)
    var = jnp.where(seen, PROPOSAL_INFLATION**2, 1.0) / post_prec
    return log_w - jax.scipy.special.logsumexp(log_w, axis=0), mean, var


def _mixture_logpdf(x, log_w, mean, var):
    return jax.scipy.special.logsumexp(log_w + _normal_logpdf(x[None], mean, var), axis=0)


def _shift_prior_logpdf(x, settings: SweepSettings):
    return jnp.logaddexp(
        jnp.log1p(-settings.shift_prior) + _normal_logpdf(x, 0.0, settings.noise_spike_var),
        jnp.log(settings.shift_prior) + _normal_logpdf(x, 0.0, settings.noise_slab_var),
    )


def draw_noise(
    rng_key, state: GibbsState, stats: SweepStats, settings: SweepSettings
) -> GibbsState:
    """Step 7: every cluster's log noise shift, then every node's universal log noise scale."""
    count = stats[3][:, None]
    rss = _residual_squares(state, stats)
    mode, precision = _laplace(count, rss)
    keys = jax.random.split(rng_key, 4)
    # shifts, given the universal values
    base = state.log_sigma_base[None]
    log_w, mean, var = _shift_proposal(
        mode - base, jnp.broadcast_to(precision, mode.shape), settings
    )
    comp = jax.random.categorical(keys[0], jnp.moveaxis(log_w, 0, -1))
    pick = lambda a: jnp.take_along_axis(a, comp[None], 0)[0]  # noqa: E731
    proposal = pick(mean) + jnp.sqrt(pick(var)) * jax.random.normal(keys[1], comp.shape)
    current = state.log_sigma_shift

    def target(shift):
        return _shift_prior_logpdf(shift, settings) + _noise_loglik(base + shift, count, rss)

    log_ratio = (
        target(proposal) - target(current)
        + _mixture_logpdf(current, log_w, mean, var) - _mixture_logpdf(proposal, log_w, mean, var)
    )  # fmt: skip
    accept = jnp.log(jax.random.uniform(keys[2], comp.shape)) < log_ratio
    shift = jnp.where(accept, proposal, current)
    # universal values, given the shifts
    prior_prec = 1.0 / settings.noise_scale**2
    total_prec = prior_prec + precision.sum(0)
    center = (settings.noise_loc * prior_prec + (precision * (mode - shift)).sum(0)) / total_prec
    sd = PROPOSAL_INFLATION / jnp.sqrt(total_prec)
    k_prop, k_acc = jax.random.split(keys[3])
    proposal = center + sd * jax.random.normal(k_prop, center.shape)
    current = state.log_sigma_base

    def base_target(level):
        prior = _normal_logpdf(level, settings.noise_loc, settings.noise_scale**2)
        return prior + _noise_loglik(level[None] + shift, count, rss).sum(0)

    log_ratio = (
        base_target(proposal) - base_target(current)
        + _normal_logpdf(current, center, sd**2) - _normal_logpdf(proposal, center, sd**2)
    )  # fmt: skip
    accept = jnp.log(jax.random.uniform(k_acc, center.shape)) < log_ratio
    state = state._replace(
        log_sigma_shift=shift, log_sigma_base=jnp.where(accept, proposal, current)
    )
    return hold_noiseless(state, settings)


def hold_noiseless(state: GibbsState, settings: SweepSettings) -> GibbsState:
    """The state with every binary node's log noise scale at the prior's centre, unshifted
    (the likelihood has no noise scale for it)."""
    if not settings.binary:
        return state
    binary = binary_mask(settings, state.rank.shape[0])
    return state._replace(
        log_sigma_base=jnp.where(binary, settings.noise_loc, state.log_sigma_base),
        log_sigma_shift=jnp.where(binary[None], 0.0, state.log_sigma_shift),
    )
