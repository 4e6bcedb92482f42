"""The NumPyro model of ``docs/model.md``, and the per-draw quantities derived from it.

Everything is vectorised over observations, clusters and nodes: one ``einsum`` builds the
linear predictors of every node in every cluster, and the per-type log densities are selected
with ``jnp.where``. The cluster indicator is marginalised with a log-sum-exp, so the model has
only continuous latent sites and works with any autoguide and with NUTS.

Array conventions: ``y`` and ``x`` are ``(n, d)``; ``W[k, i, j]`` is the weight of ``i -> j`` in
cluster ``k``; an edge ``i -> j`` is allowed when ``phi[i] < phi[j]`` (node potentials give the
causal order shared by all clusters).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import logsumexp

from bayes_hcl.config import ModelConfig
from bayes_hcl.model.factorial import (
    factor_quantities,
    joint_log_weights,
    mixture_log_weights,
    slot_count,
    to_joint,
)
from bayes_hcl.model.likelihoods import (
    NODE_LOGLIK,
    categorical_loglik,
    gaussian_mixture_loglik,
    laplace_loglik,
    noise_mixture,
    skew_t_loglik,
    skew_t_mode_offset,
    student_t_loglik,
)
from bayes_hcl.model.order_masks import (
    cyclic_jacobian,
    hard_order_mask,
    mixed_order_mask,
    straight_through_mask,
)
from bayes_hcl.model.priors import (
    GroupSpikeAndSlab,
    SpikeAndSlab,
    block_sum,
    expand_to_columns,
    stick_breaking_log_weights,
)
from bayes_hcl.vartypes import CATEGORICAL, CONTINUOUS

__all__ = [
    "DF_PRIOR",
    "N_DATA_ARGS",
    "SKEW_PRIOR_SCALE",
    "component_loglik",
    "draw_quantities",
    "hcl_model",
    "masked_log_weights",
    "node_types",
    "noise_df_prior",
    "ordered_model",
]

#: Data arrays every form of the model takes first: ``y, x, offset, observed``.
N_DATA_ARGS = 4


def node_types(types: tuple[int, ...], node_of: tuple[int, ...] | None) -> tuple[int, ...]:
    """Type code of every variable from those of the model columns (a categorical
    variable's columns all have code ``CATEGORICAL``)."""
    if node_of is None:
        return tuple(types)
    first = np.unique(np.asarray(node_of), return_index=True)[1]
    return tuple(int(types[a]) for a in first)


def _categorical_blocks(codes: np.ndarray, node_of: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of every categorical variable's columns (contiguous by
    construction: a variable's columns are adjacent)."""
    columns = np.flatnonzero(codes == CATEGORICAL)
    blocks = [columns[node_of[columns] == v] for v in np.unique(node_of[columns])]
    return [(int(b[0]), int(b[-1]) + 1) for b in blocks]


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
    node_of=None,
    noise_df=None,
    noise_log_skew=None,
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
        Standardised noise mixture of every node
        (:func:`~bayes_hcl.model.likelihoods.noise_mixture`); continuous nodes then have
        Gaussian-mixture noise instead of Gaussian noise.
    noise_family : {"gaussian", "laplace", "student_t", "skew_t"}
        Noise law of continuous nodes without a mixture; ``noise_scales`` is the sd of a
        Gaussian or Laplace law and the scale of a (skew) Student-t one.
    observed : array ``(n, d)``, optional
        1 where a cell is observed, 0 where it is missing (its term is left out).
    node_of : tuple of int, optional
        Static variable of every column when the columns are model columns rather than
        variables: a categorical variable has one ``CATEGORICAL`` (code 4) column per
        non-reference level, scored jointly by
        :func:`~bayes_hcl.model.likelihoods.categorical_loglik`;
        ``phi`` is then per variable.
    noise_df : array ``(d,)``, optional
        Degrees of freedom of every column's Student-t noise, needed with
        ``noise_family="student_t"`` or ``"skew_t"``.
    noise_log_skew : array ``(d,)``, optional
        Log skewness ``log gamma`` of every column's two-piece Student-t noise
        (:func:`~bayes_hcl.model.likelihoods.skew_t_loglik`), needed with ``"skew_t"``.
    """
    base = offset[:, None, :] if jnp.ndim(offset) == 2 else offset
    if noise_family == "skew_t" and noise_shape is None:
        intercepts = _modes(intercepts, noise_scales, noise_df, noise_log_skew, types)
    eta = base + intercepts[None] + jnp.einsum("np,kpj->nkj", x, weights)
    codes = np.asarray(types)
    if node_of is not None and phi is not None:
        phi = phi[np.asarray(node_of)]
    total = cyclic_jacobian(weights, np.flatnonzero(codes == CONTINUOUS), phi)[None]
    if node_of is not None:
        # static slices, one per categorical variable: a gather of padded blocks and its
        # scatter-add gradient cost a third of the SVI step rate on the CPU
        for start, stop in _categorical_blocks(codes, np.asarray(node_of)):
            ll = categorical_loglik(y[:, None, start:stop], eta[..., start:stop])
            total = total + (ll if observed is None else ll * observed[:, None, start])
    for code, node_loglik in NODE_LOGLIK.items():
        idx = np.flatnonzero(codes == code)
        if not idx.size:
            continue
        args = (y[:, None, idx], eta[..., idx], noise_scales[None, :, idx])
        if code == CONTINUOUS and noise_shape is not None:
            ll = gaussian_mixture_loglik(*args, tuple(a[idx] for a in noise_shape))
        elif code == CONTINUOUS and noise_family == "laplace":
            ll = laplace_loglik(*args)
        elif code == CONTINUOUS and noise_family == "student_t":
            ll = student_t_loglik(*args, noise_df[idx])
        elif code == CONTINUOUS and noise_family == "skew_t":
            ll = skew_t_loglik(*args, noise_df[idx], noise_log_skew[idx])
        else:
            ll = node_loglik(*args)
        if observed is not None:
            ll = ll * observed[:, None, idx]
        total = total + ll.sum(-1)
    return total


def _modes(intercepts, noise_scales, noise_df, noise_log_skew, types):
    """Intercepts ``(K, d)`` moved from the skew-t noise's mean to its mode on the
    continuous nodes (:func:`~bayes_hcl.model.likelihoods.skew_t_mode_offset`)."""
    continuous = jnp.asarray(np.asarray(types) == CONTINUOUS)
    offset = skew_t_mode_offset(noise_scales, noise_df, noise_log_skew)
    return intercepts - jnp.where(continuous, offset, 0.0)


def _edge_prior(cfg: ModelConfig, d: int) -> tuple[float, float]:
    mean = min(cfg.edge_density / d, 0.5)
    return mean * cfg.edge_prior_strength, (1.0 - mean) * cfg.edge_prior_strength


def _cluster_log_weights(cfg: ModelConfig) -> jnp.ndarray:
    k, m = cfg.max_clusters, cfg.latent_factors
    if k == 1:
        return jnp.zeros(1)
    if m > 1:
        # one truncated DP per latent factor; the joint states' weights are their products
        alpha = numpyro.sample(
            "alpha", dist.Gamma(cfg.dp_shape, cfg.dp_rate).expand([m]).to_event(1)
        )
        v = numpyro.sample("v", dist.Beta(1.0, alpha[:, None]).expand([m, k - 1]).to_event(2))
        return joint_log_weights(v, m, k)
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
    """Intercepts and noise scales ``(K, d)``: a universal value plus a sparse cluster shift
    (with several latent factors: the sum of the shifts of every factor's state).

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
    shift_b, shift_s = to_joint(shift_b, config, "sum"), to_joint(shift_s, config, "sum")
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


#: Prior of a Student-t node's degrees of freedom, ``df ~ Gamma(2, 0.1)`` (mean 20; Juarez &
#: Steel 2010, the default of brms): its tail reaches the Gaussian (df -> inf), so Gaussian
#: data lose little, and its density vanishes at 0, so the tails cannot become arbitrarily
#: heavy without evidence (``P(df < 1) = 0.005``, where the noise has no mean).
DF_PRIOR = (2.0, 0.1)


def noise_df_prior():
    """Prior of one node's Student-t degrees of freedom."""
    return dist.Gamma(*DF_PRIOR)


#: Prior sd of a skew-t node's log skewness ``log gamma``: one sd is a scale ratio of
#: ``gamma^2 = 7.4`` between the two sides, enough for the skew of exponential noise.
SKEW_PRIOR_SCALE = 1.0


def _noise_tails(config: ModelConfig, d: int) -> tuple:
    """Universal per-node degrees of freedom and log skewness of (skew) Student-t noise
    (``None`` where the family has none)."""
    df = skew = None
    if config.noise_family in ("student_t", "skew_t"):
        df = numpyro.sample("noise_df", noise_df_prior().expand([d]).to_event(1))
    if config.noise_family == "skew_t":
        skew = numpyro.sample(
            "noise_log_skew", dist.Normal(0.0, SKEW_PRIOR_SCALE).expand([d]).to_event(1)
        )
    return df, skew


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
    row_weight=None,
    *,
    types: tuple[int, ...],
    config: ModelConfig,
    straight_through: bool = False,
    node_of: tuple[int, ...] | None = None,
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
    row_weight : float or array ``(n,)``, optional
        Weight of every row's log-likelihood: ``n_total / batch_size`` for a minibatch (an
        unbiased estimate of the full data's), 0 for padding rows; ``None``: every row once.
    types : tuple of int
        Static type code of every node.
    config : ModelConfig
        Hyperparameters (static).
    straight_through : bool
        Use the hard order in the likelihood for every edge, with the soft mask's gradient. By
        default only edges that touch a binary, count or categorical node do so
        (:func:`~bayes_hcl.model.order_masks.mixed_order_mask`).
    node_of : tuple of int, optional
        Variable of every model column when some variable is categorical (its one-hot block
        of non-reference levels): the columns of ``y``, ``x``, ``offset``, ``observed`` and
        ``types`` are then model columns, the order and the edge indicators are per variable,
        and each block of weights shares one indicator (:class:`GroupSpikeAndSlab`).
    """
    variable_types = node_types(types, node_of)

    def soft_order(d):
        phi = numpyro.sample("phi", dist.Normal(0.0, 1.0).expand([d]).to_event(1))
        if straight_through:
            return straight_through_mask(phi, temperature), None
        return mixed_order_mask(phi, temperature, variable_types), phi

    _linear_sem(
        y, x, offset, observed, active, soft_order, types, config, row_weight, node_of=node_of
    )


def ordered_model(y, x, offset, observed, rank, *, types: tuple[int, ...], config: ModelConfig):
    """The model of :func:`hcl_model` given the causal order as node ranks (for NUTS).

    ``rank`` is a permutation of ``0..d-1``; edges follow it exactly (a DAG in every cluster),
    so no Jacobian is needed. Its prior, uniform over orders, is the order prior that
    ``phi ~ Normal(0, 1)`` induces in :func:`hcl_model`; it is constant and left out, and the
    sampler moves ``rank`` by Metropolis steps (:mod:`bayes_hcl.inference.nuts.driver`).
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
    row_weight=None,
    masked_prior: bool = False,
    node_of=None,
):
    """Sites and likelihood shared by both forms of the model; ``order_fn(d)`` gives the
    edge mask and, for a soft mask, the node potentials whose cyclic Jacobian it needs."""
    n, width = y.shape
    d = width if node_of is None else max(node_of) + 1
    k = slot_count(config)
    log_pi = masked_log_weights(_cluster_log_weights(config), active)
    mask, phi = order_fn(d)
    a, b = _edge_prior(config, d)
    rho = numpyro.sample("rho", dist.Beta(a, b).expand([d, d]).to_event(2))
    mu = numpyro.sample(
        "mu", dist.Normal(0.0, config.mechanism_scale).expand([width, width]).to_event(2)
    )
    prior_w = _weight_prior(config, rho, mu, node_of)
    if node_of is None:
        w = numpyro.sample("W", prior_w.expand([k, d, d]).to_event(3))
    else:
        w = numpyro.sample("W", prior_w)
    if masked_prior:
        numpyro.factor("masked_W", _masked_weight_correction(w, prior_w, mask, config.spike_scale))
    intercepts, noise = _cluster_shifts(config, k, width)
    noise_shape = _noise_shape(config, width)
    noise_df, noise_log_skew = _noise_tails(config, width)
    weights = to_joint(w, config, "mean") * expand_to_columns(mask, node_of)
    with numpyro.plate("obs", n):
        comp = component_loglik(
            y,
            x,
            types,
            offset,
            weights,
            intercepts,
            noise,
            phi,
            noise_shape,
            config.noise_family,
            observed,
            node_of,
            noise_df,
            noise_log_skew,
        )
        log_lik = logsumexp(comp + log_pi, axis=-1)
        numpyro.factor("loglik", log_lik if row_weight is None else row_weight * log_lik)


def _weight_prior(config: ModelConfig, rho, mu, node_of):
    """Edge-weight prior: per weight, or per block of a categorical variable's weights."""
    if node_of is None:
        return SpikeAndSlab(rho, mu, config.spike_scale, config.slab_scale)
    return GroupSpikeAndSlab(
        rho, mu, config.spike_scale, config.slab_scale, node_of, slot_count(config)
    )


def _per_variable(q: dict, node_of) -> dict:
    """Column quantities of a draw reduced to one value per variable.

    An edge weight between blocks is the root mean square of the block (a single weight
    where both variables have one column); a categorical variable's intercept and noise
    scale are those of its first non-reference level and its shift probabilities the
    largest over its levels.
    """
    idx = np.asarray(node_of)
    d = int(idx.max()) + 1
    first = np.unique(idx, return_index=True)[1]
    size = np.bincount(idx)
    block = jnp.asarray(np.outer(size, size), jnp.float32)
    w = q["weights"]
    total, square = block_sum(w, node_of), block_sum(w**2, node_of)
    out = dict(q)
    out["weights"] = jnp.where(block == 1, total, jnp.sqrt(square / block))
    for name in ("b", "sigma", "noise_shift"):
        out[name] = q[name][:, first]
    out["intercept_shift"] = jax.ops.segment_max(q["intercept_shift"].T, idx, d).T
    if "factor_intercept_shift" in q:
        slots = q["factor_intercept_shift"]
        flat = slots.reshape(-1, slots.shape[-1])
        out["factor_intercept_shift"] = jax.ops.segment_max(flat.T, idx, d).T.reshape(
            (*slots.shape[:-1], d)
        )
        out["factor_noise_shift"] = q["factor_noise_shift"][..., first]
    for name in ("noise_weights", "noise_locs", "noise_scales", "df", "log_skew"):
        if name in q:
            out[name] = q[name][first]
    return out


def draw_quantities(
    latents,
    y,
    x,
    offset,
    observed,
    active=None,
    *,
    types: tuple[int, ...],
    config: ModelConfig,
    node_of: tuple[int, ...] | None = None,
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
        (the standardised noise law of every node, see
        :func:`~bayes_hcl.model.likelihoods.noise_mixture`); with Student-t noise,
        ``df`` ``(d,)`` (every node's degrees of freedom), and with skew-t noise
        ``log_skew`` ``(d,)`` (``log gamma``). With ``node_of`` (categorical
        variables), every quantity is per variable: a block edge's weight is the root mean
        square of its block, a categorical variable's ``b``, ``sigma`` and ``noise_shift``
        those of its first non-reference level and its ``intercept_shift`` the largest over
        its levels.
    """
    k, m = config.max_clusters, config.latent_factors
    log_pi = masked_log_weights(mixture_log_weights(latents, config), active)
    hard = hard_order_mask(latents["phi"])
    prior_w = _weight_prior(config, latents["rho"], latents["mu"], node_of)
    joint_w = to_joint(latents["W"], config, "mean")
    weights = joint_w * expand_to_columns(hard, node_of)
    intercepts = latents["b_base"] + to_joint(latents["b_shift"], config, "sum")
    noise = jnp.exp(latents["log_sigma_base"] + to_joint(latents["log_sigma_shift"], config, "sum"))
    shape = _latent_noise_shape(latents, config)
    comp = component_loglik(
        y,
        x,
        types,
        offset,
        weights,
        intercepts,
        noise,
        None,
        shape,
        config.noise_family,
        observed,
        node_of,
        latents.get("noise_df"),
        latents.get("noise_log_skew"),
    )
    comp = comp + log_pi
    b_prior, s_prior = _shift_priors(config)
    log_lik = logsumexp(comp, axis=-1)
    out = {
        "log_weights": log_pi,
        "membership": jnp.exp(comp - log_lik[:, None]),
        "log_lik": log_lik,
        "inclusion": prior_w.responsibility(joint_w) * hard,
        "weights": weights,
        "b": intercepts,
        "sigma": noise,
        "intercept_shift": b_prior.responsibility(latents["b_shift"]),
        "noise_shift": s_prior.responsibility(latents["log_sigma_shift"]),
    }
    if m > 1:
        out |= factor_quantities(out, m, k)
    if shape is not None:
        log_w, locs, scales = shape
        out |= {"noise_weights": jnp.exp(log_w), "noise_locs": locs, "noise_scales": scales}
    # the tails under their own names: the latent sites are per model column
    for site, name in (("noise_df", "df"), ("noise_log_skew", "log_skew")):
        if site in latents:
            out[name] = latents[site]
    return out if node_of is None else _per_variable(out, node_of)
