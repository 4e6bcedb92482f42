"""NUTS over the continuous latents, with Metropolis moves that cross between causal orders.

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
   translate both nodes' incoming weights and log noise scales by the change of their
   population regressions between the two orders. Each is an involution with unit Jacobian
   (the translation depends on the orders only), so the acceptance ratio is the ratio of
   joint densities in the unconstrained space.

Edges the current order forbids never meet the data; their weights get a plain
``Normal(0, spike_scale)`` law instead of the spike-and-slab mixture
(:func:`bayes_hcl.model.ordered_model`), which leaves the posterior of everything else
unchanged and spares NUTS hundreds of two-scale dimensions.

Chains start from draws of the SVI fit (the same posterior), so warm-up is short; they are
vectorised on one device and spread over devices when there are as many as chains.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import potential_energy, transform_fn, unconstrain_fn
from numpyro.util import is_prng_key

from .config import Config
from .data import PreparedData
from .inference import SVIFit, default_progress, fit_svi, relabel_draws
from .model import draw_quantities, ordered_model
from .programs import data_args, enable_compilation_cache
from .summary import min_cluster_size

__all__ = ["NUTSFit", "OrderedNUTS", "fit_nuts", "initial_values", "sample_nuts"]

# order proposals per transition when nuts.order_moves = 0: a proposal costs one forward pass,
# NUTS tens to hundreds of gradients, and fewer moves left d = 4 chains measurably unmixed
# (max edge error vs the exact posterior 0.094 with d moves, 0.033 with 5 d; bench/calibration)
MOVES_PER_NODE = 5
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
    (LAPACK stays out of compiled programs, see :func:`bayes_hcl.model.log_abs_det_unit`)."""
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


def _regression(cov, allowed, j):
    """Population regression of node ``j`` on the ``allowed`` nodes: weights ``(d,)`` (zero
    outside ``allowed``) and the log residual sd."""
    a = jnp.where(allowed[:, None] & allowed[None, :], cov, jnp.eye(cov.shape[0]))
    beta = _solve_spd(a, jnp.where(allowed, cov[:, j], 0.0))
    resid = jnp.maximum(cov[j, j] - beta @ cov[:, j], 1e-6)
    return beta, 0.5 * jnp.log(resid)


def _regression_shift(z: dict, cov, rank, i, j) -> dict:
    """Translate the incoming weights and log noise scales of ``i`` and ``j`` by the change in
    their population regressions when ``i`` and ``j`` (adjacent, ``i`` first) swap places.

    The translation depends only on the two orders, and the reverse swap translates back, so
    swap plus translation is an involution with unit Jacobian.
    """
    before_i = rank < rank[i]  # predecessors of i; j's are these and i
    out = dict(z)
    w, mu, log_sigma = z["W"], z["mu"], z["log_sigma_base"]
    for node, old_set, new_set in (
        (i, before_i, before_i | (jnp.arange(rank.shape[0]) == j)),
        (j, before_i | (jnp.arange(rank.shape[0]) == i), before_i),
    ):
        beta_old, sd_old = _regression(cov, old_set, node)
        beta_new, sd_new = _regression(cov, new_set, node)
        w = w.at[..., node].add(beta_new - beta_old)
        mu = mu.at[:, node].add(beta_new - beta_old)
        log_sigma = log_sigma.at[node].add(sd_new - sd_old)
    out.update(W=w, mu=mu, log_sigma_base=log_sigma)
    return out


NUM_KINDS = 4


def _propose(z: dict, i, j, kind, cov=None, rank=None) -> dict:
    """Parameters after swapping adjacent nodes ``i`` (first) and ``j`` in the order.

    Kind 0 keeps them; 1 transfers the edge; 2 transfers edge and node parameters; 3
    translates both nodes' regressions (:func:`_regression_shift`, needs ``cov`` and ``rank``).
    """
    edges = _swap_edges(z, i, j)
    both = _swap_nodes(edges, i, j)
    shifted = z if cov is None else _regression_shift(z, cov, rank, i, j)
    return jax.tree_util.tree_map(
        lambda a, e, b, r: jnp.select([kind == 0, kind == 1, kind == 2], [a, e, b], r),
        z,
        edges,
        both,
        shifted,
    )


def order_moves(key, z, rank, potential, energy, num_moves: int, cov):
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
    cov : array ``(d, d)``
        Covariance of the covariates, for the regression-shift proposal.

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
        z_new = _propose(z, i, j, kind, cov, rank)
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
    """NUTS on the continuous latents of :func:`ordered_model`, Metropolis moves on the order.

    Parameters
    ----------
    model : callable
        ``model(*data, rank)``, e.g. :func:`bayes_hcl.model.ordered_model` with its static
        arguments bound.
    num_moves : int
        Order proposals after every NUTS transition.
    covariance : array ``(d, d)``
        Covariance of the covariates ``x`` (for the regression-shift proposal).
    **nuts_kwargs
        Passed to :class:`numpyro.infer.NUTS` (``target_accept_prob``, ``max_tree_depth``).

    Notes
    -----
    ``init_params`` (unconstrained, a leading chain axis when chains are vectorised) must hold
    every continuous latent and ``"rank"``; the model arguments are the data without the rank.
    """

    sample_field = "z"

    def __init__(self, model, num_moves: int, covariance, **nuts_kwargs):
        self.inner = NUTS(model, **nuts_kwargs)
        self.num_moves = num_moves
        self.covariance = jnp.asarray(covariance, dtype=jnp.float32)

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
            return self.inner.get_potential_fn((*model_args, rank), model_kwargs)(z)

        return potential

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        """Initial state; vectorised over chains when ``rng_key`` has a leading axis."""
        params = dict(init_params)
        self._batched = not is_prng_key(rng_key)
        if not self._batched:
            return jax.jit(
                lambda key, p: self._init_one(key, num_warmup, p, model_args, model_kwargs)
            )(rng_key, params)
        # set the inner kernel up for one chain, then vmap chains with their own orders (the
        # inner kernel's own vectorisation would share one set of model arguments, one order)
        first = jax.tree_util.tree_map(lambda a: a[0], params)
        jax.eval_shape(
            lambda key, p: self._init_one(key, num_warmup, p, model_args, model_kwargs),
            rng_key[0],
            first,
        )
        return jax.jit(
            jax.vmap(lambda key, p: self._init_one(key, num_warmup, p, model_args, model_kwargs))
        )(rng_key, params)

    def _init_one(self, rng_key, num_warmup, params, model_args, model_kwargs):
        params = dict(params)
        rank = params.pop("rank")
        hmc_key, own_key = jax.random.split(rng_key)
        args = (*model_args, rank)
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
        hmc_state = self.inner.sample(state.hmc_state, (*model_args, state.rank), model_kwargs)
        key, k_moves = jax.random.split(state.rng_key)
        potential = self._potential(model_args, model_kwargs)
        z, rank, _, accept = order_moves(
            k_moves,
            hmc_state.z,
            state.rank,
            potential,
            hmc_state.potential_energy,
            self.num_moves,
            self.covariance,
        )
        hmc_state = self.inner.refresh(hmc_state._replace(z=z), (*model_args, rank), model_kwargs)
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


@dataclass
class NUTSFit:
    """Raw output of :func:`fit_nuts`: draws per chain and per-chain summaries.

    Attributes mirror :class:`bayes_hcl.inference.SVIFit` with chains in place of restarts:
    ``draws`` have leading ``(chain, draw)`` axes, ``elbo_history`` is each chain's log joint
    density per draw, ``restart_summary`` holds each chain's mean order, partition and edge
    inclusion. ``sample_stats`` has NUTS's per-transition statistics and ``svi`` the fit that
    initialised the chains.
    """

    draws: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    restart_elbo: np.ndarray
    restart_weights: np.ndarray
    elbo_history: np.ndarray
    restart_summary: dict[str, np.ndarray]
    svi: SVIFit | None
    num_clusters: int
    timings: dict[str, float] = field(default_factory=dict)


def _occupied_count(svi: SVIFit, n: int, fraction: float) -> int:
    best = svi.draw_restart == int(np.argmax(svi.restart_weights))
    mass = svi.draws["membership"][best].mean(0).sum(0)
    return max(1, int((mass >= min_cluster_size(n, fraction)).sum()))


def _stick_fractions(weights: np.ndarray) -> np.ndarray:
    """Stick-breaking fractions ``v`` ``(K - 1,)`` of mixture weights ``(K,)``."""
    rest = 1.0 - np.concatenate([[0.0], np.cumsum(weights)[:-2]])
    return np.clip(weights[:-1] / np.maximum(rest, 1e-12), 1e-4, 1 - 1e-4)


def initial_values(svi: SVIFit, n: int, config: Config, num_chains: int, seed: int) -> dict:
    """Constrained starting points ``(num_chains, ...)``: distinct draws of the best restart.

    Clusters are cut to those the SVI fit occupies plus ``nuts.extra_clusters`` (each spare
    given at least 2 % weight), with stick fractions recomputed for the kept weights.
    """
    k = min(
        config.model.max_clusters,
        _occupied_count(svi, n, config.svi.prune_fraction) + config.nuts.extra_clusters,
    )
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(svi.draw_restart == int(np.argmax(svi.restart_weights)))
    picks = rng.choice(pool, size=num_chains, replace=len(pool) < num_chains)
    out = {
        "rank": np.argsort(np.argsort(svi.draws["phi"][picks], -1), -1),
        "rho": svi.draws["rho"][picks],
        "mu": svi.draws["mu"][picks],
        "b_base": svi.draws["b_base"][picks],
        "log_sigma_base": svi.draws["log_sigma_base"][picks],
        "W": svi.draws["W"][picks, :k],
        "b_shift": svi.draws["b_shift"][picks, :k],
        "log_sigma_shift": svi.draws["log_sigma_shift"][picks, :k],
    }
    for name in ("noise_logits", "noise_locs", "noise_log_scales"):
        if name in svi.draws:
            out[name] = svi.draws[name][picks]
    if k > 1:
        weights = np.maximum(np.exp(svi.draws["log_weights"][picks, :k]), 0.02)
        weights /= weights.sum(-1, keepdims=True)
        out["v"] = np.stack([_stick_fractions(w) for w in weights])
        out["alpha"] = svi.draws["alpha"][picks]
    return {
        name: np.asarray(value, dtype=np.int32 if name == "rank" else np.float32)
        for name, value in out.items()
    }


def _unconstrained_start(model, args, init: dict, num_chains: int) -> dict:
    """Unconstrained starting points; a chain whose joint density is not finite takes the
    start of another chain, and if none is finite the fit stops with a clear message."""

    def one(params):
        rank = params["rank"]
        z = unconstrain_fn(
            model, (*args, rank), {}, {k: v for k, v in params.items() if k != "rank"}
        )
        return {**z, "rank": rank}

    z = jax.jit(jax.vmap(one))(jax.tree_util.tree_map(jnp.asarray, init))

    def energy(params):
        rank = params["rank"]
        latent = {k: v for k, v in params.items() if k != "rank"}
        return potential_energy(model, (*args, rank), {}, latent)

    finite = np.isfinite(np.asarray(jax.jit(jax.vmap(energy))(z)))
    if not finite.any():
        raise FloatingPointError(
            "NUTS could not start: the log density is not finite at any of the "
            f"{num_chains} starting points taken from the SVI fit; check the data for extreme "
            "values or refit SVI with more steps"
        )
    source = np.where(finite, np.arange(num_chains), np.flatnonzero(finite)[0])
    return {k: np.asarray(v)[source] for k, v in z.items()}


def _chain_method(num_chains: int) -> str:
    """Chains in parallel over devices when there are enough, else vectorised on one."""
    return "parallel" if 1 < num_chains <= jax.local_device_count() else "vectorized"


STAT_FIELDS = {
    "diverging": "hmc_state.diverging",
    "tree_size": "hmc_state.num_steps",
    "acceptance_rate": "hmc_state.accept_prob",
    "step_size": "hmc_state.adapt_state.step_size",
    "energy": "hmc_state.energy",
    "potential_energy": "hmc_state.potential_energy",
    "order_acceptance": "order_accept",
}


def sample_nuts(
    data: PreparedData,
    config: Config,
    init: dict,
    *,
    seed: int = 0,
    progress: bool | None = None,
) -> tuple[dict, dict, float]:
    """Run the chains from given starting points.

    Parameters
    ----------
    data : PreparedData
    config : Config
        ``config.model.max_clusters`` must match the cluster axis of ``init``.
    init : dict
        Constrained starting values with a leading chain axis, ``"rank"`` included
        (see :func:`initial_values`).
    seed : int
    progress : bool, optional

    Returns
    -------
    tuple
        Constrained draws ``(chain, draw, ...)`` (ranks included), sample statistics
        ``(chain, draw)`` named as in ArviZ, and the seconds spent.
    """
    nuts = config.nuts
    num_chains = int(np.shape(init["rank"])[0])
    types = tuple(int(t) for t in data.type_codes())
    model = functools.partial(ordered_model, types=types, config=config.model)
    args = data_args(data)
    z0 = _unconstrained_start(model, args, init, num_chains)
    d = data.d
    kernel = OrderedNUTS(
        model,
        nuts.order_moves or MOVES_PER_NODE * d,
        np.cov(data.x, rowvar=False, bias=True).reshape(d, d),
        target_accept_prob=nuts.target_accept_prob,
        max_tree_depth=nuts.max_tree_depth,
    )
    progress = default_progress() if progress is None else progress
    mcmc = MCMC(
        kernel,
        num_warmup=nuts.num_warmup,
        num_samples=nuts.num_samples,
        num_chains=num_chains,
        chain_method=_chain_method(num_chains),
        progress_bar=progress,
    )
    start = time.perf_counter()
    mcmc.run(
        jax.random.PRNGKey(seed),
        *args,
        init_params={k: jnp.asarray(v) for k, v in z0.items()},
        extra_fields=tuple(STAT_FIELDS.values()),
    )
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    extra = mcmc.get_extra_fields(group_by_chain=True)
    stats = {name: np.asarray(extra[path]) for name, path in STAT_FIELDS.items()}
    stats["lp"] = -stats.pop("potential_energy")
    return samples, stats, time.perf_counter() - start


def _chain_quantities(samples: dict, data: PreparedData, config: Config) -> dict:
    """Per-draw quantities (memberships, inclusion, ...) of every draw, clusters aligned."""
    chains, draws = samples["rank"].shape[:2]
    types = tuple(int(t) for t in data.type_codes())
    flat = {k: v.reshape((chains * draws, *v.shape[2:])) for k, v in samples.items()}
    flat["phi"] = flat.pop("rank").astype(np.float32)
    args = data_args(data)

    @jax.jit
    def quantities(latents):
        def one(z):
            return {**z, **draw_quantities(z, *args, types=types, config=config.model)}

        return jax.lax.map(one, latents, batch_size=64)

    out = {k: np.asarray(v) for k, v in quantities(flat).items()}
    out = relabel_draws(out, out["membership"][:draws].mean(0))
    return {k: v.reshape((chains, draws, *v.shape[1:])) for k, v in out.items()}


def _chain_summary(draws: dict, lp: np.ndarray) -> dict:
    """Each chain summarised like an SVI restart (for the agreement diagnostic)."""
    membership = draws["membership"].mean(1)
    return {
        "score": lp.mean(1),
        "order": draws["phi"].mean(1),
        "partition": membership.argmax(-1),
        "inclusion": draws["inclusion"].mean(1),
    }


def fit_nuts(
    data: PreparedData, config: Config, *, seed: int = 0, progress: bool | None = None
) -> NUTSFit:
    """Fit by NUTS, initialised from an SVI fit of the same model.

    Parameters
    ----------
    data : PreparedData
    config : Config
        Model, SVI (for the initialisation) and NUTS settings.
    seed : int
    progress : bool, optional
        Progress bars (default: on unless under CI).

    Returns
    -------
    NUTSFit
    """
    start = time.perf_counter()
    enable_compilation_cache()
    svi = fit_svi(data, config, seed=seed, progress=progress)
    init = initial_values(svi, data.n, config, config.nuts.num_chains, seed)
    k = init["W"].shape[1]
    run_config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, max_clusters=k)
    )
    samples, stats, sample_s = sample_nuts(data, run_config, init, seed=seed, progress=progress)
    quant_start = time.perf_counter()
    draws = _chain_quantities(samples, data, run_config)
    chains = draws["phi"].shape[0]
    return NUTSFit(
        draws=draws,
        sample_stats=stats,
        restart_elbo=stats["lp"].mean(1),
        restart_weights=np.full(chains, 1.0 / chains),
        elbo_history=stats["lp"],
        restart_summary=_chain_summary(draws, stats["lp"]),
        svi=svi,
        num_clusters=k,
        timings={
            "svi_s": svi.timings["total_s"],
            "sample_s": sample_s,
            "draws_s": time.perf_counter() - quant_start,
            "total_s": time.perf_counter() - start,
        },
    )
