"""The NumPyro model of DESIGN section 2, and the per-draw quantities derived from it.

Everything is vectorised over observations, clusters and nodes: one ``einsum`` builds the
linear predictors of every node in every cluster, and the per-type log densities are selected
with ``jnp.where``. The cluster indicator is marginalised with a log-sum-exp, so the model has
only continuous latent sites and works with any autoguide and with NUTS.

Array conventions: ``y`` and ``x`` are ``(n, d)``; ``W[k, i, j]`` is the weight of ``i -> j`` in
cluster ``k``; an edge ``i -> j`` is allowed when ``phi[i] < phi[j]`` (node potentials give the
causal order shared by all clusters).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import gammaln, logsumexp
from numpyro.distributions import constraints

from .config import ModelConfig

__all__ = [
    "BINARY",
    "CONTINUOUS",
    "COUNT",
    "NEGBIN",
    "N_DATA_ARGS",
    "SpikeAndSlab",
    "component_loglik",
    "draw_quantities",
    "hard_order_mask",
    "hcl_model",
    "log_abs_det_unit",
    "masked_log_weights",
    "mixed_order_mask",
    "noise_mixture",
    "order_mask",
    "ordered_model",
    "stick_breaking_log_weights",
    "straight_through_mask",
]

CONTINUOUS, BINARY, COUNT, NEGBIN = 0, 1, 2, 3
#: Data arrays every form of the model takes first: ``y, x, offset, observed``.
N_DATA_ARGS = 4
_HALF_LOG_2PI = 0.5 * jnp.log(2.0 * jnp.pi)
_SQRT2 = float(np.sqrt(2.0))


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


def order_mask(phi: jnp.ndarray, temperature) -> jnp.ndarray:
    """Soft mask ``sigmoid((phi_j - phi_i) / temperature)`` with a zero diagonal."""
    d = phi.shape[-1]
    soft = jax.nn.sigmoid((phi[None, :] - phi[:, None]) / temperature)
    return soft * (1.0 - jnp.eye(d))


def straight_through_mask(phi: jnp.ndarray, temperature) -> jnp.ndarray:
    """Hard order mask in the forward pass, soft-mask gradient in the backward pass.

    The likelihood is then always that of a DAG (no cyclic double counting of a pair whose
    potentials are close), while the node potentials still receive a gradient through the
    soft surrogate ``sigmoid((phi_j - phi_i) / temperature)``.
    """
    soft = order_mask(phi, temperature)
    return hard_order_mask(phi) + soft - jax.lax.stop_gradient(soft)


def mixed_order_mask(phi: jnp.ndarray, temperature, types: tuple[int, ...]) -> jnp.ndarray:
    """Soft mask between continuous nodes, straight-through hard mask on every other edge.

    Between continuous nodes a soft mask keeps the likelihood proper through the cyclic-SEM
    Jacobian (see :func:`component_loglik`). A binary or count node has no such Jacobian: with
    a soft mask, ``X -> Y`` and ``Y -> X`` would both carry weight and the product of
    conditionals would be a pseudo-likelihood that rewards the 2-cycle, so a fit prefers
    near-ties in the order and partitions that exploit them. Edges into or out of such a node
    therefore follow the hard order, with the soft mask's gradient for the node potentials.
    """
    discrete = np.asarray(types) != CONTINUOUS
    if not discrete.any():
        return order_mask(phi, temperature)
    touches = jnp.asarray(discrete[:, None] | discrete[None, :])
    soft = order_mask(phi, temperature)
    return jnp.where(touches, straight_through_mask(phi, temperature), soft)


def hard_order_mask(phi: jnp.ndarray) -> jnp.ndarray:
    """``mask[i, j] = 1`` iff ``phi[i] < phi[j]``: an edge ``i -> j`` respects the order."""
    return (phi[:, None] < phi[None, :]).astype(phi.dtype)


def _gaussian(y, eta, noise_scales):
    z = (y - eta) / noise_scales
    return -0.5 * z**2 - jnp.log(noise_scales) - _HALF_LOG_2PI


def noise_mixture(logits, locs, log_scales):
    """Per-node noise law as a Gaussian mixture rescaled to zero mean and unit variance.

    Parameters
    ----------
    logits, locs, log_scales : array ``(d, M)``
        Unconstrained mixture weights, component locations and log scales.

    Returns
    -------
    tuple of array ``(d, M)``
        Log weights, locations and scales of the standardised mixture. The node's noise is
        ``sigma_kj`` times a draw from it, so ``sigma_kj`` stays the noise sd and the
        intercept its mean whatever the shape.
    """
    log_w = jax.nn.log_softmax(logits, axis=-1)
    w = jnp.exp(log_w)
    centred = locs - (w * locs).sum(-1, keepdims=True)
    scales = jnp.exp(log_scales)
    sd = jnp.sqrt((w * (scales**2 + centred**2)).sum(-1, keepdims=True))
    return log_w, centred / sd, scales / sd


def _gaussian_mixture(y, eta, noise_scales, shape):
    log_w, locs, scales = shape
    z = (y - eta) / noise_scales
    # one array per component and an explicit log-sum-exp: XLA's CPU backend is several
    # times slower reducing over a short trailing axis of an (n, K, d, M) array
    terms = [
        log_w[:, m] - jnp.log(scales[:, m]) - 0.5 * ((z - locs[:, m]) / scales[:, m]) ** 2
        for m in range(log_w.shape[-1])
    ]
    top = jax.lax.stop_gradient(functools.reduce(jnp.maximum, terms))
    total = functools.reduce(jnp.add, [jnp.exp(t - top) for t in terms])
    return jnp.log(total) + top - jnp.log(noise_scales) - _HALF_LOG_2PI


def _laplace(y, eta, noise_scales):
    # sd sigma: Laplace scale sigma / sqrt(2), so sigma_kj means the same in every family
    scale = noise_scales / _SQRT2
    return -jnp.abs(y - eta) / scale - jnp.log(2.0 * scale)


def _bernoulli(y, eta, _):
    return y * eta - jax.nn.softplus(eta)


def _poisson(y, eta, _):
    eta = jnp.clip(eta, -30.0, 30.0)
    return y * eta - jnp.exp(eta) - gammaln(y + 1.0)


def _negative_binomial(y, eta, noise_scales):
    # NB2 with mean exp(eta) and variance mu + sigma^2 mu^2: the node's noise scale sigma is
    # the square root of its overdispersion (r = 1 / sigma^2), so a cluster's noise shift is
    # a shift of its overdispersion and sigma -> 0 is the Poisson
    eta = jnp.clip(eta, -30.0, 30.0)
    log_r = -2.0 * jnp.log(noise_scales)
    r = jnp.exp(log_r)
    log_total = jnp.logaddexp(log_r, eta)
    return (
        gammaln(y + r)
        - gammaln(r)
        - gammaln(y + 1.0)
        + r * (log_r - log_total)
        + y * (eta - log_total)
    )


_NODE_LOGLIK = {
    CONTINUOUS: _gaussian,
    BINARY: _bernoulli,
    COUNT: _poisson,
    NEGBIN: _negative_binomial,
}


def log_abs_det_unit(a, order):
    """``log |det a|`` by Gaussian elimination in ``order``, written in plain JAX.

    ``a`` ``(..., m, m)`` is ``I - W`` for a soft-masked ``W``: close to triangular once rows
    and columns are put in the causal ``order`` (a similarity permutation, which leaves the
    determinant unchanged), so elimination without pivoting meets pivots near one.

    Why not ``jnp.linalg.slogdet``: on the CPU, jaxlib 0.10's batched LAPACK kernels hand
    their batch to XLA's intra-op thread pool and block until it is done; when the program
    runs as many independent LU calls at once as the pool has threads (two on a 2-core
    machine), every thread waits for work queued behind it and the fit hangs forever.
    """
    a = a[..., order, :][..., :, order]
    m = a.shape[-1]
    rows = jnp.arange(m)

    def eliminate(i, carry):
        a, total = carry
        row = jax.lax.dynamic_index_in_dim(a, i, axis=-2, keepdims=True)
        pivot = jax.lax.dynamic_index_in_dim(row, i, axis=-1, keepdims=False)[..., 0]
        # a vanishing pivot means a singular I - W (a cycle of gain one): its log density
        # is -inf; the floor keeps the value and its gradient finite
        pivot = jnp.where(jnp.abs(pivot) < 1e-6, 1e-6, pivot)
        column = jax.lax.dynamic_index_in_dim(a, i, axis=-1, keepdims=False)
        factor = jnp.where(rows > i, column / pivot[..., None], 0.0)
        return a - factor[..., :, None] * row, total + jnp.log(jnp.abs(pivot))

    total = jnp.zeros(a.shape[:-2], a.dtype)
    return jax.lax.fori_loop(0, m, eliminate, (a, total))[1]


def _cyclic_jacobian(weights, continuous: np.ndarray, phi):
    """``log |det(I - W_cc)|`` per cluster over the continuous block ``(K,)``.

    A soft order mask lets both ``i -> j`` and ``j -> i`` carry weight. Without this term the
    product of conditionals is a pseudo-likelihood that rewards such 2-cycles (each node is
    "explained" by the other). With it, the continuous block is the proper density of the
    linear SEM ``x = W^T x + e`` for any ``W``; for a DAG the term is exactly zero, so hard-order
    readouts skip it (``phi=None``).
    """
    if continuous.size < 2 or phi is None:
        return jnp.zeros(weights.shape[0])
    block = weights[:, continuous][:, :, continuous]
    order = jnp.argsort(phi[continuous])
    return log_abs_det_unit(jnp.eye(continuous.size) - block, order)


def component_loglik(
    y,
    x,
    types,
    offset,
    weights,
    intercepts,
    noise_scales,
    phi=None,
    noise_shape=None,
    noise_family="gaussian",
    observed=None,
):
    """Per-observation, per-cluster log density ``(n, K)`` summed over observed nodes.

    Parameters
    ----------
    y, x : array ``(n, d)``
        Responses and standardised covariates (see :class:`bayes_hcl.data.PreparedData`).
    types : tuple of int
        Static type code per node: 0 continuous (Normal), 1 binary (Bernoulli-logit),
        2 count (Poisson-log), 3 count (negative binomial NB2, log link, overdispersion
        ``sigma^2``). Static so each type's density is evaluated on its own nodes only.
    offset : array ``(d,)`` or ``(n, d)``
        Baseline linear predictor of each node (per row: with size factors).
    weights : array ``(K, d, d)``
        Effective (already masked) edge weights.
    intercepts, noise_scales : array ``(K, d)``
        Per-cluster intercept shifts and noise scales (the latter used by continuous nodes).
    phi : array ``(d,)``, optional
        Node potentials of soft-masked ``weights``: adds the cyclic-SEM Jacobian
        ``log |det(I - W)|`` of the continuous block. Leave out for hard-masked (DAG) weights,
        where the term is exactly zero.
    noise_shape : tuple of array ``(d, M)``, optional
        Standardised noise mixture of every node (:func:`noise_mixture`); continuous nodes
        then have Gaussian-mixture noise instead of Gaussian noise.
    noise_family : {"gaussian", "laplace"}
        Noise law of continuous nodes without a mixture; ``noise_scales`` is its sd either way.
    observed : array ``(n, d)``, optional
        1 where a cell is observed, 0 where it is missing (its term is left out).
    """
    base = offset[:, None, :] if jnp.ndim(offset) == 2 else offset
    eta = base + intercepts[None] + jnp.einsum("np,kpj->nkj", x, weights)
    codes = np.asarray(types)
    total = _cyclic_jacobian(weights, np.flatnonzero(codes == CONTINUOUS), phi)[None]
    for code, node_loglik in _NODE_LOGLIK.items():
        idx = np.flatnonzero(codes == code)
        if not idx.size:
            continue
        args = (y[:, None, idx], eta[..., idx], noise_scales[None, :, idx])
        if code == CONTINUOUS and noise_shape is not None:
            ll = _gaussian_mixture(*args, tuple(a[idx] for a in noise_shape))
        elif code == CONTINUOUS and noise_family == "laplace":
            ll = _laplace(*args)
        else:
            ll = node_loglik(*args)
        if observed is not None:
            ll = ll * observed[:, None, idx]
        total = total + ll.sum(-1)
    return total


def _edge_prior(cfg: ModelConfig, d: int) -> tuple[float, float]:
    mean = min(cfg.edge_density / d, 0.5)
    return mean * cfg.edge_prior_strength, (1.0 - mean) * cfg.edge_prior_strength


def _cluster_log_weights(cfg: ModelConfig) -> jnp.ndarray:
    k = cfg.max_clusters
    if k == 1:
        return jnp.zeros(1)
    alpha = numpyro.sample("alpha", dist.Gamma(cfg.dp_shape, cfg.dp_rate))
    v = numpyro.sample("v", dist.Beta(1.0, alpha).expand([k - 1]).to_event(1))
    return stick_breaking_log_weights(v)


def _shift_priors(config: ModelConfig) -> tuple[SpikeAndSlab, SpikeAndSlab]:
    """Sparse per-cluster shifts of intercepts and of log noise scales."""
    p, spike = config.shift_prior, config.shift_spike_scale
    return (
        SpikeAndSlab(p, 0.0, spike, config.intercept_scale),
        SpikeAndSlab(p, 0.0, spike, config.noise_shift_scale),
    )


def _cluster_shifts(config: ModelConfig, k: int, d: int):
    """Intercepts and noise scales ``(K, d)``: a universal value plus a sparse cluster shift.

    The shift prior is spike-and-slab, so a variable is a "shift target" of a cluster only if
    the data demand it. This is what makes the shared causal order identifiable from mean and
    variance shifts: in the causal order a shift stays on its target, in a wrong order it must
    be repeated on every descendant.
    """
    b_prior, s_prior = _shift_priors(config)
    base_b = numpyro.sample("b_base", dist.Normal(0.0, 1.0).expand([d]).to_event(1))
    shift_b = numpyro.sample("b_shift", b_prior.expand([k, d]).to_event(2))
    base_s = numpyro.sample(
        "log_sigma_base", dist.Normal(config.noise_loc, config.noise_scale).expand([d]).to_event(1)
    )
    shift_s = numpyro.sample("log_sigma_shift", s_prior.expand([k, d]).to_event(2))
    return base_b + shift_b, jnp.exp(base_s + shift_s)


def _noise_shape(config: ModelConfig, d: int):
    """Universal per-node noise mixture (``None`` for Gaussian noise, one component)."""
    m = config.noise_components
    if m == 1:
        return None
    logits = numpyro.sample("noise_logits", dist.Normal(0.0, 1.0).expand([d, m]).to_event(2))
    locs = numpyro.sample("noise_locs", dist.Normal(0.0, 1.0).expand([d, m]).to_event(2))
    log_scales = numpyro.sample(
        "noise_log_scales", dist.Normal(np.log(0.6), 0.4).expand([d, m]).to_event(2)
    )
    return noise_mixture(logits, locs, log_scales)


def _latent_noise_shape(latents, config: ModelConfig):
    if config.noise_components == 1:
        return None
    return noise_mixture(
        latents["noise_logits"], latents["noise_locs"], latents["noise_log_scales"]
    )


def masked_log_weights(log_pi: jnp.ndarray, active) -> jnp.ndarray:
    """Mixture log weights restricted to the ``active`` clusters and renormalised."""
    if active is None:
        return log_pi
    masked = jnp.where(active > 0, log_pi, -1e4)
    return masked - logsumexp(masked)


def hcl_model(
    y,
    x,
    offset,
    observed,
    temperature,
    active=None,
    *,
    types: tuple[int, ...],
    config: ModelConfig,
    straight_through: bool = False,
    subsample_size: int | None = None,
):
    """DP mixture of linear SEMs sharing a causal order, with spike-and-slab edges.

    The causal order is relaxed to node potentials ``phi`` with a soft mask (for SVI).

    Parameters
    ----------
    y, x : array ``(n, d)``
        Prepared responses and covariates (see :func:`component_loglik`).
    offset : array ``(d,)`` or ``(n, d)``
        Baseline of each node's (or each row's and node's) linear predictor.
    observed : array ``(n, d)`` or None
        1 for an observed cell, 0 for a missing one; ``None``: every cell is observed.
    temperature : float
        Temperature of the soft order mask (annealed by SVI).
    active : array ``(K,)``, optional
        1 for clusters in use, 0 for clusters pruned by the fit (weight fixed at zero).
    types : tuple of int
        Static type code of every node.
    config : ModelConfig
        Hyperparameters (static).
    straight_through : bool
        Use the hard order in the likelihood for every edge, with the soft mask's gradient. By
        default only edges that touch a binary or count node do so (:func:`mixed_order_mask`).
    subsample_size : int, optional
        Minibatch size of the observation plate.
    """

    def soft_order(d):
        phi = numpyro.sample("phi", dist.Normal(0.0, 1.0).expand([d]).to_event(1))
        if straight_through:
            return straight_through_mask(phi, temperature), None
        return mixed_order_mask(phi, temperature, types), phi

    _linear_sem(y, x, offset, observed, active, soft_order, types, config, subsample_size)


def ordered_model(y, x, offset, observed, rank, *, types: tuple[int, ...], config: ModelConfig):
    """The model of :func:`hcl_model` given the causal order as node ranks (for NUTS).

    ``rank`` is a permutation of ``0..d-1``; edges follow it exactly (a DAG in every cluster),
    so no Jacobian is needed. Its prior, uniform over orders, is the order prior that
    ``phi ~ Normal(0, 1)`` induces in :func:`hcl_model`; it is constant and left out, and the
    sampler moves ``rank`` by Metropolis steps (:mod:`bayes_hcl.nuts`).
    """
    mask = hard_order_mask(rank)
    _linear_sem(
        y, x, offset, observed, None, lambda d: (mask, None), types, config, masked_prior=True
    )


def _masked_weight_correction(w, prior_w: SpikeAndSlab, mask, spike_scale: float):
    """Log density change that gives every edge the order forbids a ``Normal(0, spike)`` law.

    Such a weight never meets the data, so any proper law for it leaves the posterior of
    everything else unchanged; a plain Gaussian instead of the spike-and-slab mixture spares
    NUTS hundreds of dimensions with a two-scale (funnel-like) geometry.
    """
    aux = dist.Normal(0.0, spike_scale).log_prob(w) - prior_w.log_prob(w)
    return jnp.sum(jnp.where(mask > 0, 0.0, aux))


def _linear_sem(
    y,
    x,
    offset,
    observed,
    active,
    order_fn,
    types,
    config: ModelConfig,
    subsample_size=None,
    masked_prior: bool = False,
):
    """Sites and likelihood shared by both forms of the model; ``order_fn(d)`` gives the
    edge mask and, for a soft mask, the node potentials whose cyclic Jacobian it needs."""
    n, d = y.shape
    k = config.max_clusters
    log_pi = masked_log_weights(_cluster_log_weights(config), active)
    mask, phi = order_fn(d)
    a, b = _edge_prior(config, d)
    rho = numpyro.sample("rho", dist.Beta(a, b).expand([d, d]).to_event(2))
    mu = numpyro.sample("mu", dist.Normal(0.0, config.mechanism_scale).expand([d, d]).to_event(2))
    prior_w = SpikeAndSlab(rho, mu, config.spike_scale, config.slab_scale)
    w = numpyro.sample("W", prior_w.expand([k, d, d]).to_event(3))
    if masked_prior:
        numpyro.factor("masked_W", _masked_weight_correction(w, prior_w, mask, config.spike_scale))
    intercepts, noise = _cluster_shifts(config, k, d)
    noise_shape = _noise_shape(config, d)
    weights = w * mask
    with numpyro.plate("obs", n, subsample_size=subsample_size) as idx:
        comp = component_loglik(
            y[idx],
            x[idx],
            types,
            offset[idx] if jnp.ndim(offset) == 2 else offset,
            weights,
            intercepts,
            noise,
            phi,
            noise_shape,
            config.noise_family,
            None if observed is None else observed[idx],
        )
        numpyro.factor("loglik", logsumexp(comp + log_pi, axis=-1))


def draw_quantities(
    latents, y, x, offset, observed, active=None, *, types: tuple[int, ...], config: ModelConfig
):
    """Quantities of one posterior draw, read with the draw's hard causal order.

    Returns
    -------
    dict
        ``log_weights`` ``(K,)``, ``membership`` ``(n, K)`` (responsibilities),
        ``log_lik`` ``(n,)`` (marginal over clusters), ``inclusion`` ``(K, d, d)``
        (slab responsibility times the hard order mask), ``weights`` ``(K, d, d)`` (weights
        under the hard order), ``b`` and ``sigma`` ``(K, d)`` (intercepts and noise scales),
        ``intercept_shift`` and ``noise_shift`` ``(K, d)`` (probability that the cluster
        shifts the variable's intercept / noise scale away from the universal value); with
        a noise mixture, ``noise_weights``, ``noise_locs`` and ``noise_scales`` ``(d, M)``
        (the standardised noise law of every node, see :func:`noise_mixture`).
    """
    k = config.max_clusters
    log_pi = jnp.zeros(1) if k == 1 else stick_breaking_log_weights(latents["v"])
    log_pi = masked_log_weights(log_pi, active)
    hard = hard_order_mask(latents["phi"])
    prior_w = SpikeAndSlab(latents["rho"], latents["mu"], config.spike_scale, config.slab_scale)
    weights = latents["W"] * hard
    intercepts = latents["b_base"] + latents["b_shift"]
    noise = jnp.exp(latents["log_sigma_base"] + latents["log_sigma_shift"])
    shape = _latent_noise_shape(latents, config)
    comp = component_loglik(
        y, x, types, offset, weights, intercepts, noise, None, shape, config.noise_family, observed
    )
    comp = comp + log_pi
    b_prior, s_prior = _shift_priors(config)
    log_lik = logsumexp(comp, axis=-1)
    out = {
        "log_weights": log_pi,
        "membership": jnp.exp(comp - log_lik[:, None]),
        "log_lik": log_lik,
        "inclusion": prior_w.responsibility(latents["W"]) * hard,
        "weights": weights,
        "b": intercepts,
        "sigma": noise,
        "intercept_shift": b_prior.responsibility(latents["b_shift"]),
        "noise_shift": s_prior.responsibility(latents["log_sigma_shift"]),
    }
    if shape is not None:
        log_w, locs, scales = shape
        out |= {"noise_weights": jnp.exp(log_w), "noise_locs": locs, "noise_scales": scales}
    return out
