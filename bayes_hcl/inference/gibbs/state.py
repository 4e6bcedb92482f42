"""The state of a Gibbs chain, its static settings and the per-node view of both.

The state is the model of :func:`bayes_hcl.model.program.ordered_model` (one latent factor)
with its spike-and-slab indicators made explicit; the settings are the hyperparameters a
compiled sweep is keyed by. :func:`per_node` stacks, for every node, what its collapsed
updates take (:mod:`bayes_hcl.inference.gibbs.conjugate`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from bayes_hcl.config import ModelConfig
from bayes_hcl.inference.gibbs.conjugate import NodePriors, NodeStats
from bayes_hcl.model.priors import stick_breaking_log_weights

__all__ = [
    "GibbsState",
    "SweepSettings",
    "SweepStats",
    "binary_mask",
    "edge_prior",
    "log_mixture_weights",
    "node_priors",
    "noise_variances",
    "order_mask",
    "per_node",
]


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
    #: nodes with a Bernoulli-logit likelihood (Polya-Gamma augmented; no noise scale)
    binary: tuple[int, ...] = ()


class SweepStats(NamedTuple):
    """Per-cluster sufficient statistics of every node's regression on ``Z = [1, x]``
    (``P = d + 1``). A binary node's are those of its Polya-Gamma pseudo-responses, weighted by
    their precisions, so each node has its own ``Z^T Z``."""

    zz: jnp.ndarray  # (d, K, P, P)
    zy: jnp.ndarray  # (K, P, d)
    yy: jnp.ndarray  # (K, d)
    count: jnp.ndarray  # (K,): rows in each cluster


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


def binary_mask(settings: SweepSettings, d: int) -> np.ndarray:
    """``(d,)`` static: which nodes are binary."""
    mask = np.zeros(d, bool)
    mask[list(settings.binary)] = True
    return mask


def log_mixture_weights(state: GibbsState) -> jnp.ndarray:
    """``(K,)``: the stick-breaking log weights of the clusters."""
    if state.v.shape[0] == 0:
        return jnp.zeros(1)
    return stick_breaking_log_weights(state.v)


def noise_variances(state: GibbsState, settings: SweepSettings) -> jnp.ndarray:
    """``(K, d)``: every node's noise variance in every cluster (1 for a binary node, whose
    pseudo-responses carry their own precisions)."""
    sigma2 = jnp.exp(2.0 * (state.log_sigma_base[None] + state.log_sigma_shift))
    return jnp.where(binary_mask(settings, state.rank.shape[0])[None], 1.0, sigma2)


def per_node(state: GibbsState, stats: SweepStats, settings: SweepSettings, rank=None):
    """The arguments of one node's updates, stacked over nodes (leading axis ``d``), under
    the state's order or ``rank``: its statistics, its allowed covariates ``[1, parents]``,
    its incoming indicators ``(K, d)``, shift indicators ``(K,)`` and noise variances."""
    d = state.rank.shape[0]
    mask = order_mask(state.rank if rank is None else rank)
    allowed = jnp.concatenate([jnp.ones((d, 1), bool), mask.T], axis=1)
    node_stats = NodeStats(
        stats.zz,
        jnp.moveaxis(stats.zy, 2, 0),
        stats.yy.T,
        jnp.broadcast_to(stats.count, (d, *stats.count.shape)),
    )
    sigma2 = noise_variances(state, settings).T
    return node_stats, allowed, jnp.moveaxis(state.gamma, 2, 0), state.delta.T, sigma2
