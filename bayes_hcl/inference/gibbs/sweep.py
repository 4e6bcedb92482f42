"""One sweep of the Gibbs sampler over every latent of the model, given the causal order.

The state is the model of :func:`bayes_hcl.model.program.ordered_model` (continuous nodes,
Gaussian noise, one latent factor) with its spike-and-slab indicators made explicit. A sweep:

1. **memberships** ``z_i`` from their categorical conditional given the cluster parameters;
2. **stick fractions** ``v_k ~ Beta(1 + n_k, alpha + n_{>k})`` (Ishwaran & James 2001) and the
   DP concentration ``alpha ~ Gamma(a + K - 1, b - sum log(1 - v_k))`` (the truncated
   stick-breaking form of Escobar & West 1995);
3. **order moves**: a node moved to a random position of the causal order (an adjacent
   transposition when one step away), every edge whose orientation flips carrying its
   indicators and propensity to the reversed edge, accepted by the ratio of the collapsed
   likelihoods of the nodes whose parents change
   (:func:`~bayes_hcl.inference.gibbs.conjugate.node_evidence`);
4. per node, the **indicators** of its intercept shifts and incoming edges in every cluster,
   one at a time, each from its conditional with the weights, universal mechanisms and
   intercepts integrated out (collapsed SSVS);
5. then those **parameters** from their joint Gaussian conditional (steps 3 to 5 together
   draw the order, indicators and parameters from their joint conditional: a partially
   collapsed Gibbs step, valid because the parameters are drawn right after the moves that
   integrated them out);
6. **edge propensities** ``rho_ij ~ Beta(a + m_ij, b + K - m_ij)`` (a forbidden pair: its prior);
7. **log noise scales**: each cluster's shift (its spike-and-slab prior kept as a mixture), then
   each node's universal value, by independence Metropolis-Hastings with a proposal from a
   Laplace approximation of the likelihood (exact targets; acceptance near one at scale).

Everything is vectorised over clusters and nodes; the only sequential loops are the order
moves and each node's indicators (nodes in parallel).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayes_hcl.config import ModelConfig
from bayes_hcl.inference.gibbs.conjugate import (
    NodePriors,
    NodeStats,
    cluster_statistics,
    draw_node_parameters,
    node_evidence,
    plug_in_log_noise,
)
from bayes_hcl.model.priors import stick_breaking_log_weights

__all__ = ["GibbsState", "SweepSettings", "edge_prior", "node_priors", "sweep"]

#: Widening of the Laplace proposals of the noise scales (safe tails; acceptance stays high).
PROPOSAL_INFLATION = 1.3


class GibbsState(NamedTuple):
    """Latents of one chain: the model's sites (named as in the NUTS model) and the
    indicators. ``gamma[k, i, j]``: edge ``i -> j`` in the slab in cluster ``k``;
    ``delta[k, j]``: cluster ``k`` shifts ``j``'s intercept (slab)."""

    rank: jnp.ndarray  # (d,) int: position of each node in the causal order
    v: jnp.ndarray  # (K - 1,)
    alpha: jnp.ndarray  # ()
    rho: jnp.ndarray  # (d, d)
    gamma: jnp.ndarray  # (K, d, d) bool
    delta: jnp.ndarray  # (K, d) bool
    b_base: jnp.ndarray  # (d,)
    mu: jnp.ndarray  # (d, d)
    b: jnp.ndarray  # (K, d): intercepts b_base + b_shift
    W: jnp.ndarray  # (K, d, d)
    log_sigma_base: jnp.ndarray  # (d,)
    log_sigma_shift: jnp.ndarray  # (K, d)


class SweepSettings(NamedTuple):
    """Static settings of a sweep (hashable: a compiled program is keyed by them)."""

    order_moves: int
    priors: NodePriors
    edge_a: float
    edge_b: float
    dp_shape: float
    dp_rate: float
    shift_prior: float
    noise_loc: float
    noise_scale: float
    noise_spike_var: float
    noise_slab_var: float


def edge_prior(config: ModelConfig, d: int) -> tuple[float, float]:
    """``(a, b)`` of the edge propensities' Beta prior (as the model builds it)."""
    mean = min(config.edge_density / d, 0.5)
    return mean * config.edge_prior_strength, (1.0 - mean) * config.edge_prior_strength


def node_priors(config: ModelConfig) -> NodePriors:
    """The prior variances of one node's Gaussian pieces."""
    return NodePriors(
        spike_var=config.spike_scale**2,
        slab_var=config.slab_scale**2,
        mechanism_var=config.mechanism_scale**2,
        base_var=1.0,
        shift_spike_var=config.shift_spike_scale**2,
        shift_slab_var=config.intercept_scale**2,
    )


def order_mask(rank: jnp.ndarray) -> jnp.ndarray:
    """``(d, d)``: ``i -> j`` allowed when ``i`` comes before ``j``."""
    return rank[..., :, None] < rank[..., None, :]


def _log_pi(state: GibbsState) -> jnp.ndarray:
    if state.v.shape[0] == 0:
        return jnp.zeros(1)
    return stick_breaking_log_weights(state.v)


def _cluster_loglik(state: GibbsState, y, x):
    """``(n, K)``: each row's log density in each cluster."""
    weights = state.W * order_mask(state.rank)[None].astype(state.W.dtype)
    eta = state.b[None] + jnp.einsum("np,kpj->nkj", x, weights)
    log_sigma = state.log_sigma_base[None] + state.log_sigma_shift
    resid = (y[:, None, :] - eta) * jnp.exp(-log_sigma)[None]
    return (-0.5 * resid**2 - log_sigma[None] - 0.5 * np.log(2 * np.pi)).sum(-1)


def draw_memberships(rng_key, state: GibbsState, y, x):
    """One-hot memberships ``(n, K)`` drawn from their conditional, and the data's log
    likelihood with the memberships summed out (before the draw)."""
    logits = _cluster_loglik(state, y, x) + _log_pi(state)[None]
    z = jax.random.categorical(rng_key, logits, axis=-1)
    total = jax.scipy.special.logsumexp(logits, axis=-1).sum()
    return jax.nn.one_hot(z, logits.shape[-1], dtype=y.dtype), total


def draw_sticks(rng_key, state: GibbsState, counts, settings: SweepSettings) -> GibbsState:
    """Stick fractions given the cluster sizes, then the concentration given them."""
    if state.v.shape[0] == 0:
        return state
    key_head, key_tail, key_a = jax.random.split(rng_key, 3)
    tail = jnp.cumsum(counts[::-1])[::-1][1:]  # rows in clusters after k
    # v = G1 / (G1 + G2) in log space: with a small alpha, 1 - v underflows float32 (and a
    # clipped log(1 - v) biases the concentration's draw upwards)
    log_head = jax.random.loggamma(key_head, 1.0 + counts[:-1])
    log_tail = jax.random.loggamma(key_tail, state.alpha + tail)
    log_total = jnp.logaddexp(log_head, log_tail)
    v = jnp.clip(jnp.exp(log_head - log_total), 1e-6, 1.0 - 1e-6)
    shape = settings.dp_shape + v.shape[0]
    rate = settings.dp_rate - (log_tail - log_total).sum()
    alpha = jax.random.gamma(key_a, shape) / rate
    return state._replace(v=v, alpha=alpha)


def _sigma2(state: GibbsState) -> jnp.ndarray:
    return jnp.exp(2.0 * (state.log_sigma_base[None] + state.log_sigma_shift))


def _all_evidence(stats, state: GibbsState, rank, gamma, priors: NodePriors) -> jnp.ndarray:
    """``(d,)``: every node's collapsed log likelihood under ``rank`` and ``gamma``."""
    node_stats, allowed, gamma_t, delta, sigma2 = _per_node(
        state._replace(gamma=gamma), stats, rank
    )
    return jax.vmap(node_evidence, in_axes=(0, 0, 0, 0, 0, None))(
        node_stats, allowed, gamma_t, delta, sigma2, priors
    )


def _insert(rank, node, position):
    """The order with ``node`` moved to ``position`` (the nodes between shift by one)."""
    old = rank[node]
    up = (rank > old) & (rank <= position)  # moving later: these move one earlier
    down = (rank < old) & (rank >= position)  # moving earlier: these move one later
    return jnp.where(up, rank - 1, jnp.where(down, rank + 1, rank)).at[node].set(position)


def _reorient(state: GibbsState, rank):
    """Indicators and propensities under a new order: every pair whose order flips carries
    its edge's indicators and propensity to the reversed edge (an involution, so the move
    is its own reverse)."""
    before, after = order_mask(state.rank), order_mask(rank)
    flipped = before & after.T  # i -> j allowed before, j -> i allowed after
    gamma_t = jnp.swapaxes(state.gamma, 1, 2)
    gamma = jnp.where(flipped.T[None], gamma_t, state.gamma) & after[None]
    rho = jnp.where(flipped | flipped.T, state.rho.T, state.rho)
    return gamma, rho


def _all_plug_in(stats, state: GibbsState, rank, gamma, priors: NodePriors) -> jnp.ndarray:
    """``(K, d)``: :func:`~bayes_hcl.inference.gibbs.conjugate.plug_in_log_noise` of every
    node under ``rank`` and ``gamma``."""
    node_stats, allowed, gamma_t, delta, _ = _per_node(state._replace(gamma=gamma), stats, rank)
    levels = jax.vmap(plug_in_log_noise, in_axes=(0, 0, 0, 0, None))(
        node_stats, allowed, gamma_t, delta, priors
    )
    return levels.T


def _log_noise_prior(state: GibbsState, settings: SweepSettings) -> jnp.ndarray:
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


def _noise_proposal(levels, precision, settings: SweepSettings):
    """The proposal of every node's log noise scales from per-cluster plug-in levels
    ``(K, d)`` and likelihood precisions ``(K, 1)``: the universal value from
    :func:`_base_proposal`, then each cluster's shift given it from its spike-and-slab
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


def order_moves(rng_key, state: GibbsState, stats, settings: SweepSettings) -> GibbsState:
    """``settings.order_moves`` insertions (a node moved to a uniformly drawn position, an
    adjacent transposition when one step away).

    A move reorients the edges whose ends swap order (:func:`_reorient`) and proposes new log
    noise scales for the nodes whose parents change, from their ridge fits' residual sd
    under the new order (:func:`_noise_proposal`; the reverse move's proposal, from the old
    order's fits, enters the ratio), so a child that gains or loses a parent does not keep
    the noise of its old regression. It is accepted by the Metropolis-Hastings ratio of the
    collapsed likelihoods and the noise priors (nodes whose parents do not change cancel).
    """
    d = state.rank.shape[0]
    if d < 2 or settings.order_moves == 0:
        return state
    precision = 2.0 * stats[3][:, None]

    def score(state):
        return _all_evidence(stats, state, state.rank, state.gamma, settings.priors).sum() + (
            _log_noise_prior(state, settings)
        )

    def move(_, carry):
        state, current, levels, key = carry
        key, k_node, k_pos, k_noise, k_acc = jax.random.split(key, 5)
        node = jax.random.randint(k_node, (), 0, d)
        rank = _insert(state.rank, node, jax.random.randint(k_pos, (), 0, d))
        gamma, rho = _reorient(state, rank)
        changed = jnp.any(order_mask(rank) != order_mask(state.rank), axis=0)  # (d,)
        new_levels = _all_plug_in(stats, state, rank, gamma, settings.priors)
        draw, forward = _noise_proposal(new_levels, precision, settings)
        _, backward = _noise_proposal(levels, precision, settings)
        base, shift = draw(k_noise)
        base = jnp.where(changed, base, state.log_sigma_base)
        shift = jnp.where(changed[None], shift, state.log_sigma_shift)
        correction = jnp.where(
            changed,
            backward(state.log_sigma_base, state.log_sigma_shift) - forward(base, shift),
            0.0,
        ).sum()
        new = state._replace(
            rank=rank, gamma=gamma, rho=rho, log_sigma_base=base, log_sigma_shift=shift
        )
        proposed = score(new)
        accept = jnp.log(jax.random.uniform(k_acc)) < proposed - current + correction
        state = jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), new, state)
        current = jnp.where(accept, proposed, current)
        return state, current, jnp.where(accept, new_levels, levels), key

    levels = _all_plug_in(stats, state, state.rank, state.gamma, settings.priors)
    carry = (state, score(state), levels, rng_key)
    state, _, _, _ = jax.lax.fori_loop(0, settings.order_moves, move, carry)
    return state


def _node_indicators(rng_key, stats_j, allowed, gamma_j, delta_j, sigma2_j, rho_j, settings):
    """Every intercept-shift and edge indicator of one node, one at a time (collapsed)."""
    k, p = gamma_j.shape[0], allowed.shape[0]
    shift_odds = np.log(settings.shift_prior) - np.log1p(-settings.shift_prior)
    edge_odds = jnp.log(rho_j) - jnp.log1p(-rho_j)

    def evidence(gamma_j, delta_j):
        return node_evidence(stats_j, allowed, gamma_j, delta_j, sigma2_j, settings.priors)

    def site(s, carry):
        # the current configuration's evidence is carried: one new evaluation per site
        gamma_j, delta_j, current, key = carry
        key, sub = jax.random.split(key)
        c, q = s // p, s % p
        is_shift, parent = q == 0, jnp.maximum(q - 1, 0)
        bit = jnp.where(is_shift, delta_j[c], gamma_j[c, parent])
        g = gamma_j.at[c, parent].set(gamma_j[c, parent] ^ ~is_shift)
        dl = delta_j.at[c].set(delta_j[c] ^ is_shift)
        flipped = evidence(g, dl)
        # log odds of the bit being 1 against 0
        odds = jnp.where(bit, current - flipped, flipped - current)
        odds = odds + jnp.where(is_shift, shift_odds, edge_odds[parent])
        new = jax.random.uniform(sub) < jax.nn.sigmoid(odds)
        change = (new != bit) & (is_shift | allowed[q])
        gamma_j = jnp.where(change & ~is_shift, g, gamma_j)
        delta_j = jnp.where(change & is_shift, dl, delta_j)
        return gamma_j, delta_j, jnp.where(change, flipped, current), key

    carry = (gamma_j, delta_j, evidence(gamma_j, delta_j), rng_key)
    gamma_j, delta_j, _, _ = jax.lax.fori_loop(0, k * p, site, carry)
    return gamma_j, delta_j


def _per_node(state: GibbsState, stats, rank=None):
    """The arguments of one node's updates, stacked over nodes (leading axis ``d``), under
    the state's order or ``rank``."""
    zz, zy, yy, count = stats
    d = state.rank.shape[0]
    mask = order_mask(state.rank if rank is None else rank)
    allowed = jnp.concatenate([jnp.ones((d, 1), bool), mask.T], axis=1)
    node_stats = NodeStats(
        jnp.broadcast_to(zz, (d, *zz.shape)),
        jnp.moveaxis(zy, 2, 0),
        yy.T,
        jnp.broadcast_to(count, (d, *count.shape)),
    )
    return node_stats, allowed, jnp.moveaxis(state.gamma, 2, 0), state.delta.T, _sigma2(state).T


def draw_indicators(rng_key, state: GibbsState, stats, settings: SweepSettings) -> GibbsState:
    """Step 4 for every node in parallel."""
    node_stats, allowed, gamma, delta, sigma2 = _per_node(state, stats)
    keys = jax.random.split(rng_key, state.rank.shape[0])
    gamma, delta = jax.vmap(_node_indicators, in_axes=(0, 0, 0, 0, 0, 0, 1, None))(
        keys, node_stats, allowed, gamma, delta, sigma2, state.rho, settings
    )
    return state._replace(gamma=jnp.moveaxis(gamma, 0, 2), delta=delta.T)


def draw_parameters(rng_key, state: GibbsState, stats, settings: SweepSettings) -> GibbsState:
    """Step 5: universal and per-cluster intercepts and weights of every node."""
    node_stats, allowed, gamma, delta, sigma2 = _per_node(state, stats)
    keys = jax.random.split(rng_key, state.rank.shape[0])
    g, theta = jax.vmap(draw_node_parameters, in_axes=(0, 0, 0, 0, 0, 0, None))(
        keys, node_stats, allowed, gamma, delta, sigma2, settings.priors
    )
    # g (d, P): [b_base_j, mu_.j]; theta (d, K, P): [b_kj, W_k.j]
    return state._replace(
        b_base=g[:, 0], mu=g[:, 1:].T, b=theta[:, :, 0].T, W=jnp.moveaxis(theta[:, :, 1:], 0, 2)
    )


def draw_rho(rng_key, state: GibbsState, settings: SweepSettings) -> GibbsState:
    """Step 6: each allowed pair's propensity given its indicators; a forbidden pair's
    from the prior."""
    k = state.gamma.shape[0]
    allowed = order_mask(state.rank)
    m = state.gamma.sum(0) * allowed
    a = settings.edge_a + m
    b = settings.edge_b + jnp.where(allowed, k - m, 0)
    rho = jax.random.beta(rng_key, a, b)
    return state._replace(rho=jnp.clip(rho, 1e-6, 1.0 - 1e-6))


def _residual_squares(state: GibbsState, stats) -> jnp.ndarray:
    """``(K, d)``: each cluster's residual sum of squares of each node."""
    zz, zy, yy, _ = stats
    weights = state.W * order_mask(state.rank)[None].astype(state.W.dtype)
    theta = jnp.concatenate([state.b[:, None, :], weights], axis=1)  # (K, P, d)
    cross = jnp.einsum("kpj,kpj->kj", theta, zy)
    quad = jnp.einsum("kpj,kpq,kqj->kj", theta, zz, theta)
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


def draw_noise(rng_key, state: GibbsState, stats, settings: SweepSettings) -> GibbsState:
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
    return state._replace(
        log_sigma_shift=shift, log_sigma_base=jnp.where(accept, proposal, current)
    )


def sweep(rng_key, state: GibbsState, y, x, settings: SweepSettings):
    """One full sweep (module docstring); returns the new state, the log likelihood of the
    data with memberships summed out, and the share of order moves accepted."""
    keys = jax.random.split(rng_key, 7)
    onehot, log_lik = draw_memberships(keys[0], state, y, x)
    design = jnp.concatenate([jnp.ones((y.shape[0], 1), y.dtype), x], axis=1)
    stats = cluster_statistics(onehot, design, y)
    state = draw_sticks(keys[1], state, stats[3], settings)
    before = state.rank
    state = order_moves(keys[2], state, stats, settings)
    moved = jnp.any(state.rank != before)
    state = draw_indicators(keys[3], state, stats, settings)
    state = draw_parameters(keys[4], state, stats, settings)
    state = draw_rho(keys[5], state, settings)
    state = draw_noise(keys[6], state, stats, settings)
    return state, log_lik, moved
