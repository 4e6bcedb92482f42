"""One sweep of the Gibbs sampler over every latent of the model, given the causal order.

The state (:class:`~bayes_hcl.inference.gibbs.state.GibbsState`) is the model of
:func:`bayes_hcl.model.program.ordered_model` (continuous and binary nodes, Gaussian noise,
one latent factor) with its spike-and-slab indicators made explicit. A sweep:

1. **memberships** ``z_i`` from their categorical conditional given the cluster parameters,
   then each binary node's Pólya-Gamma variables given them, which make its regression a
   Gaussian one (:mod:`bayes_hcl.inference.gibbs.augment`);
2. **stick fractions** ``v_k ~ Beta(1 + n_k, alpha + n_{>k})`` (Ishwaran & James 2001) and the
   DP concentration ``alpha ~ Gamma(a + K - 1, b - sum log(1 - v_k))`` (the truncated
   stick-breaking form of Escobar & West 1995);
3. **order moves**: two neighbours in the causal order swapped, or a node moved to a
   random position of it, every edge whose orientation flips carrying its
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
7. **log noise scales** by independence Metropolis-Hastings
   (:mod:`bayes_hcl.inference.gibbs.noise`).

Everything is vectorised over clusters and nodes; the only sequential loops are the order
moves and each node's indicators (nodes in parallel).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bayes_hcl.inference.gibbs.augment import sufficient_statistics
from bayes_hcl.inference.gibbs.conjugate import (
    draw_node_parameters,
    node_evidence,
    plug_in_log_noise,
)
from bayes_hcl.inference.gibbs.noise import (
    draw_noise,
    log_noise_prior,
    noise_proposal,
)
from bayes_hcl.inference.gibbs.state import (
    GibbsState,
    SweepSettings,
    SweepStats,
    binary_mask,
    log_mixture_weights,
    order_mask,
    per_node,
)

__all__ = [
    "all_evidence",
    "all_plug_in",
    "cluster_loglik",
    "draw_memberships",
    "draw_parameters",
    "order_moves",
    "sweep",
    "update_given_memberships",
]


def cluster_loglik(state: GibbsState, y, x, offset, settings: SweepSettings):
    """``(n, K)``: each row's log density in each cluster; and the linear predictors ``(n,
    K, d)`` (offsets excluded)."""
    weights = state.W * order_mask(state.rank)[None].astype(state.W.dtype)
    eta = state.b[None] + jnp.einsum("np,kpj->nkj", x, weights)
    log_sigma = state.log_sigma_base[None] + state.log_sigma_shift
    resid = (y[:, None, :] - eta) * jnp.exp(-log_sigma)[None]
    density = -0.5 * resid**2 - log_sigma[None] - 0.5 * np.log(2 * np.pi)
    if settings.binary:
        logit = eta + offset
        bernoulli = y[:, None, :] * logit - jax.nn.softplus(logit)
        density = jnp.where(binary_mask(settings, y.shape[1]), bernoulli, density)
    return density.sum(-1), eta


def draw_memberships(rng_key, state: GibbsState, y, x, offset, settings: SweepSettings):
    """One-hot memberships ``(n, K)`` drawn from their conditional, the data's log
    likelihood with the memberships summed out (before the draw) and the linear predictors
    ``(n, K, d)``."""
    loglik, eta = cluster_loglik(state, y, x, offset, settings)
    logits = loglik + log_mixture_weights(state)[None]
    z = jax.random.categorical(rng_key, logits, axis=-1)
    total = jax.scipy.special.logsumexp(logits, axis=-1).sum()
    return jax.nn.one_hot(z, logits.shape[-1], dtype=y.dtype), total, eta


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


def all_evidence(stats: SweepStats, state: GibbsState, settings: SweepSettings) -> jnp.ndarray:
    """``(d,)``: every node's collapsed log likelihood under the state's order and indicators."""
    node_stats, allowed, gamma_t, delta, sigma2 = per_node(state, stats, settings)
    return jax.vmap(node_evidence, in_axes=(0, 0, 0, 0, 0, None))(
        node_stats, allowed, gamma_t, delta, sigma2, settings.priors
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


def all_plug_in(stats: SweepStats, state: GibbsState, settings: SweepSettings) -> jnp.ndarray:
    """``(K, d)``: :func:`~bayes_hcl.inference.gibbs.conjugate.plug_in_log_noise` of every
    node under the state's order and indicators."""
    node_stats, allowed, gamma_t, delta, _ = per_node(state, stats, settings)
    levels = jax.vmap(plug_in_log_noise, in_axes=(0, 0, 0, 0, None))(
        node_stats, allowed, gamma_t, delta, settings.priors
    )
    return levels.T


def order_moves(
    rng_key, state: GibbsState, stats: SweepStats, settings: SweepSettings
) -> GibbsState:
    """``settings.order_moves`` proposals, each with probability 1/2 an adjacent
    transposition (the nodes at a uniformly drawn pair of neighbouring positions swapped) or
    an insertion (a uniformly drawn node moved to a uniformly drawn position).

    A move reorients the edges whose ends swap order (``_reorient``) and proposes new log
    noise scales for the continuous nodes whose parents change, from their ridge fits'
    residual sd under the new order
    (:func:`~bayes_hcl.inference.gibbs.noise.noise_proposal`; the reverse move's proposal,
    from the old order's fits, enters the ratio), so a child that gains or loses a parent
    does not keep the noise of its old regression. It is accepted by the Metropolis-Hastings
    ratio of the collapsed likelihoods and the noise priors (nodes whose parents do not
    change cancel).
    """
    d = state.rank.shape[0]
    if d < 2 or settings.order_moves == 0:
        return state
    precision = 2.0 * stats.count[:, None]
    # a binary node has no noise scale to re-propose
    noisy = ~binary_mask(settings, d)

    def score(state):
        return all_evidence(stats, state, settings).sum() + log_noise_prior(state, settings)

    def move(_, carry):
        state, current, levels, key = carry
        key, k_kind, k_node, k_pos, k_noise, k_acc = jax.random.split(key, 6)
        # half the moves swap the nodes at a uniformly drawn pair of adjacent positions
        # (the node at t moved to t + 1), half insert a uniformly drawn node at a uniformly
        # drawn position; each is its own reverse with the same probability
        swap_at = jax.random.randint(k_pos, (), 0, d - 1)
        swap = jax.random.uniform(k_kind) < 0.5
        node = jnp.where(
            swap, jnp.argmax(state.rank == swap_at), jax.random.randint(k_node, (), 0, d)
        )
        position = jnp.where(swap, swap_at + 1, jax.random.randint(k_pos, (), 0, d))
        rank = _insert(state.rank, node, position)
        gamma, rho = _reorient(state, rank)
        changed = jnp.any(order_mask(rank) != order_mask(state.rank), axis=0) & noisy  # (d,)
        new_levels = all_plug_in(stats, state._replace(rank=rank, gamma=gamma), settings)
        draw, forward = noise_proposal(new_levels, precision, settings)
        _, backward = noise_proposal(levels, precision, settings)
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

    levels = all_plug_in(stats, state, settings)
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


def draw_indicators(
    rng_key, state: GibbsState, stats: SweepStats, settings: SweepSettings
) -> GibbsState:
    """Step 4 for every node in parallel."""
    node_stats, allowed, gamma, delta, sigma2 = per_node(state, stats, settings)
    keys = jax.random.split(rng_key, state.rank.shape[0])
    gamma, delta = jax.vmap(_node_indicators, in_axes=(0, 0, 0, 0, 0, 0, 1, None))(
        keys, node_stats, allowed, gamma, delta, sigma2, state.rho, settings
    )
    return state._replace(gamma=jnp.moveaxis(gamma, 0, 2), delta=delta.T)


def draw_parameters(
    rng_key, state: GibbsState, stats: SweepStats, settings: SweepSettings, mean_only=False
) -> GibbsState:
    """Step 5: universal and per-cluster intercepts and weights of every node (their
    conditional means with ``mean_only``)."""
    node_stats, allowed, gamma, delta, sigma2 = per_node(state, stats, settings)
    keys = jax.random.split(rng_key, state.rank.shape[0])
    g, theta = jax.vmap(draw_node_parameters, in_axes=(0, 0, 0, 0, 0, 0, None, None))(
        keys, node_stats, allowed, gamma, delta, sigma2, settings.priors, mean_only
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


def update_given_memberships(
    keys, state: GibbsState, onehot, eta, y, x, offset, settings: SweepSettings
):
    """Steps 2 to 7 of a sweep given one-hot memberships ``(n, K)`` and the linear
    predictors ``eta`` ``(n, K, d)`` the binary nodes' Pólya-Gamma draws are taken at;
    ``keys`` holds seven keys. Returns the new state and whether the order moved."""
    design = jnp.concatenate([jnp.ones((y.shape[0], 1), y.dtype), x], axis=1)
    stats = sufficient_statistics(keys[6], onehot, design, y, eta, offset, settings)
    state = draw_sticks(keys[0], state, stats.count, settings)
    before = state.rank
    state = order_moves(keys[1], state, stats, settings)
    moved = jnp.any(state.rank != before)
    state = draw_indicators(keys[2], state, stats, settings)
    state = draw_parameters(keys[3], state, stats, settings)
    state = draw_rho(keys[4], state, settings)
    state = draw_noise(keys[5], state, stats, settings)
    return state, moved


def sweep(rng_key, state: GibbsState, y, x, settings: SweepSettings, offset=None):
    """One full sweep (module docstring).

    Parameters
    ----------
    rng_key : jax.random.PRNGKey
    state : GibbsState
    y : array ``(n, d)``
        Responses: a continuous node's less its offset, a binary node's 0/1.
    x : array ``(n, d)``
        Covariates (every node's value as a parent).
    settings : SweepSettings
    offset : array ``(d,)``, optional
        The binary nodes' baseline log odds (default 0).

    Returns
    -------
    tuple
        The new state, the data's log likelihood with memberships summed out (at the old
        state), and whether the order moved.
    """
    keys = jax.random.split(rng_key, 8)
    offset = jnp.zeros(y.shape[1], y.dtype) if offset is None else offset
    onehot, log_lik, eta = draw_memberships(keys[0], state, y, x, offset, settings)
    state, moved = update_given_memberships(keys[1:], state, onehot, eta, y, x, offset, settings)
    return state, log_lik, moved
