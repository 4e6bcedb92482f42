"""A mean-field Gaussian guide written for the model's known latent sites.

Equivalent to ``AutoNormal`` (independent Normals in the unconstrained space of every site),
but with no prototype trace to set up eagerly: ``svi.init`` runs inside ``jit``/``vmap``, so
restarts initialise in one compiled program, and the starting point of every restart is chosen
here (see :func:`initial_params`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import biject_to, constraints

from bayes_hcl.config import ModelConfig

__all__ = [
    "MIXTURE_SITES",
    "NOISE_SITES",
    "guide_median",
    "guide_sample",
    "initial_noise_locs",
    "initial_params",
    "latent_sites",
    "mean_field_guide",
]

#: Per-node sites of the noise mixture's components, ``(d, M)``.
MIXTURE_SITES = ("noise_logits", "noise_locs", "noise_log_scales")
#: Per-node sites of the noise law beyond the Gaussian (their node axis is the first): the
#: noise mixture's components, or the (skew) Student-t degrees of freedom and log skewness.
NOISE_SITES = (*MIXTURE_SITES, "noise_df", "noise_log_skew")
#: Student-t degrees of freedom at the start of a fit: near-Gaussian, so that the tails
#: thicken only where the data ask for it.
_INITIAL_DF = 30.0


def latent_sites(
    config: ModelConfig, d: int, width: int | None = None
) -> dict[str, tuple[tuple[int, ...], object]]:
    """Shape and support of every latent site of :func:`bayes_hcl.model.hcl_model`.

    ``d`` is the number of variables and ``width`` that of model columns (more than ``d``
    when a categorical variable has a column per non-reference level; default ``d``). With
    ``m = latent_factors > 1``, the cluster sites have one entry per factor and state
    (``m * K``, see :mod:`bayes_hcl.model.factorial`) and ``alpha``, ``v`` one row per factor.
    """
    k, m = config.max_clusters, config.latent_factors
    w = d if width is None else width
    sites = {
        "phi": ((d,), constraints.real),
        "rho": ((d, d), constraints.unit_interval),
        "mu": ((w, w), constraints.real),
        "W": ((m * k, w, w), constraints.real),
        "b_base": ((w,), constraints.real),
        "b_shift": ((m * k, w), constraints.real),
        "log_sigma_base": ((w,), constraints.real),
        "log_sigma_shift": ((m * k, w), constraints.real),
    }
    if k > 1:
        factor = () if m == 1 else (m,)
        sites = {
            "alpha": (factor, constraints.positive),
            "v": ((*factor, k - 1), constraints.unit_interval),
        } | sites
    m = config.noise_components
    if m > 1:
        sites |= {name: ((w, m), constraints.real) for name in MIXTURE_SITES}
    if config.noise_family in ("student_t", "skew_t"):
        sites["noise_df"] = ((w,), constraints.positive)
    if config.noise_family == "skew_t":
        sites["noise_log_skew"] = ((w,), constraints.real)
    return sites


def initial_noise_locs(config: ModelConfig, d: int) -> dict[str, jnp.ndarray]:
    """Starting guide locations (unconstrained) of the noise-law sites (empty for Gaussian
    noise).

    Distinct component locations break the symmetry between components (equal ones would
    receive equal gradients forever); the start is a near-Gaussian, unimodal mixture. (Skew)
    Student-t noise starts near-Gaussian too (``df = 30``, no skew).
    """
    m = config.noise_components
    if config.noise_family in ("student_t", "skew_t"):
        start = {"noise_df": jnp.full((d,), jnp.log(_INITIAL_DF))}
        if config.noise_family == "skew_t":
            start["noise_log_skew"] = jnp.zeros(d)
        return start
    if m == 1:
        return {}
    return {
        "noise_logits": jnp.zeros((d, m)),
        "noise_locs": jnp.tile(jnp.linspace(-0.5, 0.5, m), (d, 1)),
        "noise_log_scales": jnp.full((d, m), jnp.log(0.6)),
    }


def mean_field_guide(
    y,
    x,
    offset,
    observed,
    temperature,
    active=None,
    row_weight=None,
    *,
    config: ModelConfig,
    nodes: int | None = None,
    **_,
):
    """Independent Normal in the unconstrained space of each latent site (``nodes``: the
    number of variables when the data's columns are model columns)."""
    width = y.shape[1]
    for name, (shape, support) in latent_sites(config, nodes or width, width).items():
        loc = numpyro.param(f"{name}_loc", jnp.zeros(shape))
        scale = numpyro.param(
            f"{name}_scale", jnp.full(shape, 0.1), constraint=constraints.positive
        )
        base = dist.Normal(loc, scale).to_event(len(shape))
        if support is not constraints.real:
            base = dist.TransformedDistribution(base, biject_to(support))
        numpyro.sample(name, base)


def guide_median(
    params: dict, config: ModelConfig, d: int, width: int | None = None
) -> dict[str, jnp.ndarray]:
    """Constrained medians (the transformed locations) of every site."""
    return {
        name: biject_to(support)(params[f"{name}_loc"])
        for name, (_, support) in latent_sites(config, d, width).items()
    }


def guide_sample(
    key, params: dict, config: ModelConfig, d: int, width: int | None = None
) -> dict[str, jnp.ndarray]:
    """One draw of every latent site from the guide."""
    sites = latent_sites(config, d, width)
    keys = jax.random.split(key, len(sites))
    out = {}
    for k, (name, (shape, support)) in zip(keys, sites.items(), strict=True):
        eps = jax.random.normal(k, shape)
        out[name] = biject_to(support)(params[f"{name}_loc"] + params[f"{name}_scale"] * eps)
    return out


def initial_params(
    key, x, config: ModelConfig, order_scale: float, nodes: int | None = None
) -> dict[str, jnp.ndarray]:
    """Guide parameters (constrained) at the start of one restart.

    Each restart gets its own random causal order (node potentials, with a wide guide scale so
    early steps see many orders) and its own cluster centres (intercepts at randomly chosen
    rows, k-means++ style without the weighting); mixture weights start equal so every cluster
    can claim data; edges start absent (in the spike). ``x`` has one column per model column;
    ``nodes`` is the number of variables (default: one per column).
    """
    n, width = x.shape
    d = nodes or width
    k, m = config.max_clusters, config.latent_factors
    slots = m * k
    k_phi, k_rows, k_w = jax.random.split(key, 3)
    rows = jax.random.choice(k_rows, n, shape=(slots,), replace=slots > n)
    mean = min(config.edge_density / d, 0.5)
    locs = {
        "phi": jax.random.normal(k_phi, (d,)),
        "rho": jnp.full((d, d), jnp.log(mean / (1.0 - mean))),
        "mu": jnp.zeros((width, width)),
        "W": 0.01 * jax.random.normal(k_w, (slots, width, width)),
        "b_base": jnp.zeros(width),
        # several factors: each joint state's intercepts sum m random rows' shares
        "b_shift": x[rows] / m if k > 1 else jnp.zeros((slots, width)),
        "log_sigma_base": jnp.full(width, jnp.log(0.5)),
        "log_sigma_shift": jnp.zeros((slots, width)),
        **initial_noise_locs(config, width),
    }
    if k > 1:
        # v_k = 1 / (K - k) gives equal weights 1 / K; its logit is -log(K - k - 1)
        remaining = jnp.arange(k, 1, -1, dtype=jnp.float32)
        factor = () if m == 1 else (m,)
        locs["alpha"] = jnp.zeros(factor)
        locs["v"] = jnp.broadcast_to(-jnp.log(remaining - 1.0), (*factor, k - 1))
    params = {f"{name}_loc": value for name, value in locs.items()}
    for name, (shape, _) in latent_sites(config, d, width).items():
        params[f"{name}_scale"] = jnp.full(shape, 0.1)
    params["phi_scale"] = jnp.full((d,), order_scale)
    return params
