"""The sampler of ``method="nuts"``: NUTS given the order, Metropolis moves across orders.

The cluster indicators stay marginalised (as in the SVI model), so every remaining latent is
continuous except the causal order. Gradient samplers cannot move a discrete order, so the
sampler alternates (Metropolis-within-Gibbs):

1. one NUTS transition of all continuous latents given the current order
   (:func:`bayes_hcl.model.ordered_model`, the order as node ranks, a hard DAG mask);
2. ``order_moves`` Metropolis proposals that swap two nodes adjacent in the order. A plain swap
   rarely succeeds when the two nodes are connected (the edge would vanish), so each proposal
   is one of four moves, drawn with equal probability: swap the order only; swap it and
   transfer the edge parameters (``W``, ``mu``, ``rho`` of ``i -> j`` become those of
   ``j -> i`` and back); also exchange the two nodes' intercept and noise parameters (for a
   pair of standardised Gaussian variables, exactly the Markov-equivalent reversal); or
   translate both nodes' per-cluster weights, intercept shifts and log noise-scale shifts by
   the change of their regressions between the two orders, computed from per-cluster moments
   fixed for the run (:func:`proposal_moments` of the SVI memberships). Each is an involution
   with unit Jacobian (the translation depends on the orders only), so the acceptance ratio
   is the ratio of joint densities in the unconstrained space.

Edges the current order forbids never meet the data; their weights get a plain
``Normal(0, spike_scale)`` law instead of the spike-and-slab mixture
(:func:`bayes_hcl.model.ordered_model`), which leaves the posterior of everything else
unchanged and spares NUTS hundreds of two-scale dimensions.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import NUTS
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import transform_fn
from numpyro.util import is_prng_key

from bayes_hcl.model.program import N_DATA_ARGS

__all__ = ["OrderedNUTS", "OrderedState", "order_moves", "proposal_moments"]

EDGE_SITES = ("W", "mu", "rho")
# node axis of every per-node site: the last one, except for the noise mixture (d, M)
NODE_SITES = {
    "b_base": -1,
    "log_sigma_base": -1,
    "b_shift": -1,
    "log_sigma_shift": -1,
    "noise_logits": 0,
    "noise_locs": 0,
    "noise_log_scales": 0,
    "noise_df": 0,
    "noise_log_skew": 0,
}


class OrderedState(NamedTuple):
    """State of :class:`OrderedNUTS`: NUTS state, current ranks and move statistics."""

    z: dict
    hmc_state: Any
    rank: jnp.ndarray
    order_accept: jnp.ndarray
    rng_key: jnp.ndarray


def _swap_edges(z: dict, i, j) -> dict:
    out = dict(z)
    for name in EDGE_SITES:
        a = z[name]
        out[name] = a.at[..., i, j].set(a[..., j, i]).at[..., j, i].set(a[..., i, j])
    return out


def _swap_nodes(z: dict, i, j) -> dict:
    out = dict(z)
    for name, axis in NODE_SITES.items():
        if name in z:
            a = jnp.moveaxis(z[name], axis, 0)
            a = a.at[i].set(a[j]).at[j].set(a[i])
            out[name] = jnp.moveaxis(a, 0, axis)
    return out


def _solve_spd(a, b):
    """``a^{-1} b`` for a small symmetric positive definite ``a``, by elimination in plain JAX
    (LAPACK stays out of compiled programs, see
    :func:`bayes_hcl.model.order_masks.log_abs_det_unit`)."""
    m = a.shape[0]
    rows = jnp.arange(m)

    def eliminate(k, carry):
        a, b = carry
        pivot = a[k, k]
        factor = jnp.where(rows != k, a[:, k] / pivot, 0.0)
        a = a - factor[:, None] * a[k][None, :]
        b = b - factor * b[k]
        return a, b

    a, b = jax.lax.fori_loop(0, m, eliminate, (a, b))
    return b / jnp.diagonal(a)


def _regression(mean, cov, allowed, j):
    """Regression of node ``j`` on the ``allowed`` nodes under one cluster's moments: weights
    ``(d,)`` (zero outside ``allowed``), intercept and log residual sd."""
    a = jnp.where(allowed[:, None] & allowed[None, :], cov, jnp.eye(cov.shape[0]))
    beta = _solve_spd(a, jnp.where(allowed, cov[:, j], 0.0))
    resid = jnp.maximum(cov[j, j] - beta @ cov[:, j], 1e-6)
    return beta, mean[j] - beta @ mean, 0.5 * jnp.log(resid)


# weight changes below this are not applied by the regression-shift proposal: nudging every
# absent edge off its spike (sd 0.03) by a few hundredths costs more prior density than the
# better fit gains (seen as chains stuck in a worse order, 35-43 nats below the best chain)
MIN_PROPOSED_WEIGHT_STEP = 0.1


def _split(delta):
    """A per-cluster change ``(K,)`` as a universal part (the mean) and cluster deviations."""
    common = delta.mean(0)
    return common, delta - common


def _regression_shift(z: dict, moments, rank, i, j) -> dict:
    """Translate the two nodes' mechanisms by the change of their per-cluster regressions when
    ``i`` and ``j`` (adjacent, ``i`` first) swap places in the order.

    ``moments`` are per-cluster means ``(K, d)`` and covariances ``(K, d, d)`` of the
    covariates, fixed for the whole run (from the SVI memberships). Each cluster's incoming
    weights move by the change of its regression coefficients (changes below
    ``MIN_PROPOSED_WEIGHT_STEP`` are dropped), ``mu`` by their average over clusters; intercepts and
    log noise scales move by the change of the regression's intercept and log residual sd,
    the clusters' average on the universal value and the rest on the cluster shifts. The
    translation depends on the two orders only and the reverse swap undoes it, so swap plus
    translation is an involution with unit Jacobian.
    """
    means, covs = moments
    before_i = rank < rank[i]  # predecessors of i; j's are these and i
    nodes = jnp.arange(rank.shape[0])
    regress = jax.vmap(_regression, in_axes=(0, 0, None, None))
    out = dict(z)
    for node, old_set, new_set in (
        (i, before_i, before_i | (nodes == j)),
        (j, before_i | (nodes == i), before_i),
    ):
        beta_old, b_old, sd_old = regress(means, covs, old_set, node)
        beta_new, b_new, sd_new = regress(means, covs, new_set, node)
        step = beta_new - beta_old
        step = jnp.where(jnp.abs(step) >= MIN_PROPOSED_WEIGHT_STEP, step, 0.0)
        out["W"] = out["W"].at[:, :, node].add(step)
        out["mu"] = out["mu"].at[:, node].add(step.mean(0))
        for base, shift, delta in (
            ("b_base", "b_shift", b_new - b_old),
            ("log_sigma_base", "log_sigma_shift", sd_new - sd_old),
        ):
            common, deviation = _split(delta)
            out[base] = out[base].at[node].add(common)
            out[shift] = out[shift].at[:, node].add(deviation)
    return out


def proposal_moments(x: np.ndarray, responsibilities: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-cluster weighted means ``(K, d)`` and covariances ``(K, d, d)`` of ``x``.

    A cluster with fewer than ``d + 2`` rows' worth of responsibility gets the pooled moments.
    """
    x = np.asarray(x, dtype=np.float64)
    mass = responsibilities.sum(0)
    w = responsibilities / np.maximum(mass, 1e-12)
    means = w.T @ x
    centred = x[:, None, :] - means[None]
    covs = np.einsum("nk,nki,nkj->kij", w, centred, centred)
    pooled = np.cov(x, rowvar=False, bias=True).reshape(x.shape[1], x.shape[1])
    thin = mass < x.shape[1] + 2
    means[thin], covs[thin] = x.mean(0), pooled
    return means.astype(np.float32), covs.astype(np.float32)


NUM_KINDS = 4


def _propose(z: dict, i, j, kind, moments=None, rank=None) -> dict:
    """Parameters after swapping adjacent nodes ``i`` (first) and ``j`` in the order.

    Kind 0 keeps them; 1 transfers the edge; 2 transfers edge and node parameters; 3
    translates both nodes' regressions (:func:`_regression_shift`, needs ``moments`` and
    ``rank``).
    """
    edges = _swap_edges(z, i, j)
    both = _swap_nodes(edges, i, j)
    shifted = z if moments is None else _regression_shift(z, moments, rank, i, j)
    return jax.tree_util.tree_map(
        lambda a, e, b, r: jnp.select([kind == 0, kind == 1, kind == 2], [a, e, b], r),
        z,
        edges,
        both,
        shifted,
    )


def order_moves(key, z, rank, potential, energy, num_moves: int, moments):
    """``num_moves`` Metropolis swaps of adjacent nodes in the order (see module docstring).

    Parameters
    ----------
    key : PRNG key
    z : dict
        Unconstrained continuous latents.
    rank : array ``(d,)`` of int
        Position of every node in the causal order.
    potential : callable
        ``potential(z, rank)``: negative log joint in the unconstrained space.
    energy : float
        ``potential(z, rank)`` at the current state.
    num_moves : int
        Number of proposals.
    moments : tuple of array
        Per-cluster means ``(K, d)`` and covariances ``(K, d, d)`` of the covariates, for the
        regression-shift proposal (:func:`proposal_moments`).

    Returns
    -------
    tuple
        New ``z``, ``rank``, ``energy`` and the fraction of proposals accepted.
    """
    d = rank.shape[0]
    if d < 2 or num_moves == 0:
        return z, rank, energy, jnp.zeros(())

    def body(_, carry):
        key, z, rank, energy, accepted = carry
        key, k_pos, k_kind, k_acc = jax.random.split(key, 4)
        order = jnp.argsort(rank)
        pos = jax.random.randint(k_pos, (), 0, d - 1)
        i, j = order[pos], order[pos + 1]
        kind = jax.random.randint(k_kind, (), 0, NUM_KINDS)
        z_new = _propose(z, i, j, kind, moments, rank)
        rank_new = rank.at[i].set(rank[j]).at[j].set(rank[i])
        energy_new = potential(z_new, rank_new)
        log_ratio = jnp.where(jnp.isfinite(energy_new), energy - energy_new, -jnp.inf)
        accept = jnp.log(jax.random.uniform(k_acc)) < log_ratio
        z = jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), z_new, z)
        rank = jnp.where(accept, rank_new, rank)
        energy = jnp.where(accept, energy_new, energy)
        return key, z, rank, energy, accepted + accept

    init = (key, z, rank, energy, jnp.zeros(()))
    _, z, rank, energy, accepted = jax.lax.fori_loop(0, num_moves, body, init)
    return z, rank, energy, accepted / num_moves


class OrderedNUTS(MCMCKernel):
    """NUTS on the continuous latents, Metropolis moves on the order.

    The continuous latents are those of :func:`bayes_hcl.model.ordered_model`.

    Parameters
    ----------
    model : callable
        ``model(*data, rank)``, e.g. :func:`bayes_hcl.model.ordered_model` with its static
        arguments bound.
    num_moves : int
        Order proposals after every NUTS transition.
    **nuts_kwargs
        Passed to :class:`numpyro.infer.NUTS` (``target_accept_prob``, ``max_tree_depth``).

    Notes
    -----
    ``init_params`` (unconstrained, a leading chain axis when chains are vectorised) must hold
    every continuous latent and ``"rank"``. The arguments are the model's data (without the
    rank) followed by the per-cluster moments of :func:`proposal_moments`.
    """

    sample_field = "z"

    def __init__(self, model, num_moves: int, **nuts_kwargs):
        self.inner = NUTS(model, **nuts_kwargs)
        self.num_moves = num_moves

    @property
    def model(self):
        """The wrapped model."""
        return self.inner.model

    @property
    def default_fields(self):
        """State fields collected by :class:`numpyro.infer.MCMC` by default."""
        return ("z",)

    def _potential(self, model_args, model_kwargs):
        def potential(z, rank):
            return self.inner.get_potential_fn((*model_args[:N_DATA_ARGS], rank), model_kwargs)(z)

        return potential

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        """Initial state; vectorised over chains when ``rng_key`` has a leading axis."""
        params = dict(init_params)
        self._batched = not is_prng_key(rng_key)
        if not self._batched:
            return self._init_program(num_warmup, False)(rng_key, params, model_args)
        # set the inner kernel up for one chain, then vmap chains with their own orders (the
        # inner kernel's own vectorisation would share one set of model arguments, one order)
        first = jax.tree_util.tree_map(lambda a: a[0], params)
        jax.eval_shape(self._init_program(num_warmup, False), rng_key[0], first, model_args)
        return self._init_program(num_warmup, True)(rng_key, params, model_args)

    def _init_program(self, num_warmup: int, batched: bool):
        """Compiled initialisation, kept on the kernel so a reused kernel compiles it once."""
        cache = self.__dict__.setdefault("_init_programs", {})
        if (num_warmup, batched) not in cache:

            def one(key, params, model_args):
                return self._init_one(key, num_warmup, params, model_args, {})

            fn = jax.vmap(one, in_axes=(0, 0, None)) if batched else one
            cache[num_warmup, batched] = jax.jit(fn)
        return cache[num_warmup, batched]

    def _init_one(self, rng_key, num_warmup, params, model_args, model_kwargs):
        params = dict(params)
        rank = params.pop("rank")
        hmc_key, own_key = jax.random.split(rng_key)
        args = (*model_args[:N_DATA_ARGS], rank)
        hmc_state = self.inner.init(hmc_key, num_warmup, params, args, model_kwargs)
        hmc_state = self.inner.refresh(hmc_state, args, model_kwargs)
        zero = jnp.zeros(())
        return OrderedState({**hmc_state.z, "rank": rank}, hmc_state, rank, zero, own_key)

    def sample(self, state, model_args, model_kwargs):
        """One NUTS transition given the order, then ``num_moves`` order proposals."""
        if getattr(self, "_batched", False):
            return jax.vmap(lambda s: self._sample_one(s, model_args, model_kwargs))(state)
        return self._sample_one(state, model_args, model_kwargs)

    def _sample_one(self, state, model_args, model_kwargs):
        data = model_args[:N_DATA_ARGS]
        hmc_state = self.inner.sample(state.hmc_state, (*data, state.rank), model_kwargs)
        key, k_moves = jax.random.split(state.rng_key)
        potential = self._potential(model_args, model_kwargs)
        z, rank, _, accept = order_moves(
            k_moves,
            hmc_state.z,
            state.rank,
            potential,
            hmc_state.potential_energy,
            self.num_moves,
            model_args[N_DATA_ARGS:],
        )
        hmc_state = self.inner.refresh(hmc_state._replace(z=z), (*data, rank), model_kwargs)
        return OrderedState({**z, "rank": rank}, hmc_state, rank, accept, key)

    def postprocess_fn(self, args, kwargs):
        """Map the unconstrained state to constrained site values (ranks pass through)."""
        inverse = self.inner._inv_transforms

        def constrain(z):
            z = dict(z)
            rank = z.pop("rank")
            return {**transform_fn(inverse, z), "rank": rank}

        return constrain

    def get_diagnostics_str(self, state):
        """Progress-bar text."""
        return (
            f"{self.inner.get_diagnostics_str(state.hmc_state)}, "
            f"order acc. {float(state.order_accept):.2f}"
        )
