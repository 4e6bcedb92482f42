"""Priors of the model that NumPyro does not provide: spike-and-slab laws with the
inclusion indicator summed out, for single weights and for blocks of weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

__all__ = [
    "GroupSpikeAndSlab",
    "SpikeAndSlab",
    "block_sum",
    "expand_to_columns",
    "stick_breaking_log_weights",
    "stick_fractions",
]


def expand_to_columns(a, node_of):
    """Broadcast a per-variable ``(..., d, d)`` array to the model columns ``(..., D, D)``
    (``node_of[c]``: the variable of model column ``c``; ``None``: one column per variable)."""
    if node_of is None:
        return a
    idx = np.asarray(node_of)
    return a[..., idx, :][..., :, idx]


def block_sum(a, node_of):
    """Sum a column array ``(..., D, D)`` over the blocks of each pair of variables
    ``(..., d, d)`` (the transpose of :func:`expand_to_columns`)."""
    idx = np.asarray(node_of)
    groups = jnp.asarray(np.eye(int(idx.max()) + 1)[idx])  # (D, d) column -> variable
    return jnp.einsum("...ab,ai,bj->...ij", a, groups, groups)


class SpikeAndSlab(dist.Distribution):
    """Two-component Gaussian mixture with the inclusion indicator marginalised.

    ``W ~ (1 - inclusion) Normal(0, spike_scale) + inclusion Normal(slab_loc, slab_scale)``.
    """

    arg_constraints = {
        "inclusion": constraints.unit_interval,
        "slab_loc": constraints.real,
        "spike_scale": constraints.positive,
        "slab_scale": constraints.positive,
    }
    support = constraints.real
    reparametrized_params = ["slab_loc"]

    def __init__(self, inclusion, slab_loc, spike_scale, slab_scale, *, validate_args=None):
        self.inclusion, self.slab_loc, self.spike_scale, self.slab_scale = (
            jnp.asarray(inclusion),
            jnp.asarray(slab_loc),
            jnp.asarray(spike_scale),
            jnp.asarray(slab_scale),
        )
        batch_shape = jax.lax.broadcast_shapes(
            jnp.shape(inclusion), jnp.shape(slab_loc), jnp.shape(spike_scale), jnp.shape(slab_scale)
        )
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        """Draw the indicator, then the weight from the chosen component."""
        shape = sample_shape + self.batch_shape
        k_ind, k_val = jax.random.split(key)
        included = jax.random.uniform(k_ind, shape) < self.inclusion
        eps = jax.random.normal(k_val, shape)
        return jnp.where(included, self.slab_loc + self.slab_scale * eps, self.spike_scale * eps)

    def _component_log_probs(self, value):
        spike = dist.Normal(0.0, self.spike_scale).log_prob(value) + jnp.log1p(-self.inclusion)
        slab = dist.Normal(self.slab_loc, self.slab_scale).log_prob(value) + jnp.log(self.inclusion)
        return spike, slab

    def log_prob(self, value):
        """Log density of the marginal (indicator summed out)."""
        spike, slab = self._component_log_probs(value)
        return jnp.logaddexp(spike, slab)

    def responsibility(self, value):
        """Posterior probability that ``value`` came from the slab (the edge is present)."""
        spike, slab = self._component_log_probs(value)
        return jax.nn.sigmoid(slab - spike)


def stick_breaking_log_weights(v: jnp.ndarray) -> jnp.ndarray:
    """Log mixture weights ``log pi`` (length ``len(v) + 1``) from stick fractions ``v``."""
    log_v = jnp.log(v)
    log_rest = jnp.cumsum(jnp.log1p(-v))
    return jnp.concatenate([log_v, jnp.zeros(1)]) + jnp.concatenate([jnp.zeros(1), log_rest])


def stick_fractions(weights: np.ndarray) -> np.ndarray:
    """Inverse stick-breaking: fractions ``v`` ``(..., K - 1)`` of mixture weights ``(..., K)``.

    ``v_k = pi_k / (1 - pi_1 - ... - pi_{k-1})``, the inverse of
    :func:`stick_breaking_log_weights` along the last axis, clipped to ``[1e-4, 1 - 1e-4]`` so
    the logit of every fraction is finite (a start for the guide or a chain).
    """
    weights = np.asarray(weights)
    head = np.zeros((*weights.shape[:-1], 1))
    rest = 1.0 - np.concatenate([head, np.cumsum(weights, axis=-1)[..., :-2]], axis=-1)
    return np.clip(weights[..., :-1] / np.maximum(rest, 1e-12), 1e-4, 1 - 1e-4)


class GroupSpikeAndSlab(dist.Distribution):
    """Spike-and-slab law of a ``(K, D, D)`` weight array whose entries come in blocks.

    Model column ``a`` belongs to variable ``node_of[a]``; all the weights between the
    columns of variable ``i`` and those of variable ``j`` in one cluster share one inclusion
    indicator (summed out), so an edge ``i -> j`` has one inclusion probability however many
    levels a categorical parent or child has. The indicator's prior is ``inclusion[i, j]``;
    given it, every weight of the block is ``Normal(slab_loc, slab_scale)`` (included) or
    ``Normal(0, spike_scale)`` (excluded). Blocks of one column are exactly
    :class:`SpikeAndSlab`.
    """

    arg_constraints = {
        "inclusion": constraints.unit_interval,
        "slab_loc": constraints.real,
        "spike_scale": constraints.positive,
        "slab_scale": constraints.positive,
    }
    support = constraints.independent(constraints.real, 3)
    reparametrized_params = ["slab_loc"]

    def __init__(
        self, inclusion, slab_loc, spike_scale, slab_scale, node_of, k, *, validate_args=None
    ):
        self.inclusion, self.slab_loc = jnp.asarray(inclusion), jnp.asarray(slab_loc)
        self.spike_scale, self.slab_scale = spike_scale, slab_scale
        self.node_of = np.asarray(node_of)
        width = self.node_of.size
        super().__init__(event_shape=(k, width, width), validate_args=validate_args)

    def _group_log_probs(self, value):
        spike = block_sum(dist.Normal(0.0, self.spike_scale).log_prob(value), self.node_of)
        slab = block_sum(dist.Normal(self.slab_loc, self.slab_scale).log_prob(value), self.node_of)
        return spike + jnp.log1p(-self.inclusion), slab + jnp.log(self.inclusion)

    def sample(self, key, sample_shape=()):
        """Draw one indicator per block, then every weight from its block's component."""
        k, width, _ = self.event_shape
        d = self.inclusion.shape[-1]
        k_ind, k_val = jax.random.split(key)
        included = jax.random.uniform(k_ind, (*sample_shape, k, d, d)) < self.inclusion
        included = expand_to_columns(included, self.node_of)
        eps = jax.random.normal(k_val, (*sample_shape, k, width, width))
        return jnp.where(included, self.slab_loc + self.slab_scale * eps, self.spike_scale * eps)

    def log_prob(self, value):
        """Log density with every block's indicator summed out."""
        spike, slab = self._group_log_probs(value)
        return jnp.logaddexp(spike, slab).sum((-3, -2, -1))

    def responsibility(self, value):
        """``(..., K, d, d)`` posterior probability that each block is in the slab."""
        spike, slab = self._group_log_probs(value)
        return jax.nn.sigmoid(slab - spike)
