"""Log densities of one node given its linear predictor, for every variable type.

Each function takes ``(y, eta, noise_scales)`` broadcast to a common shape and returns the
elementwise log density; :func:`categorical_loglik` works on a block of linear predictors
(one per non-reference level). Type codes are static integers so that the model evaluates
each family on its own nodes only.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from bayes_hcl.vartypes import BINARY, CONTINUOUS, COUNT, NEGBIN

__all__ = [
    "NODE_LOGLIK",
    "categorical_loglik",
    "gaussian_mixture_loglik",
    "laplace_loglik",
    "noise_mixture",
]

# a NumPy scalar, not a JAX array: building one at import would start JAX's backend, which
# jax.distributed.initialize must precede (float32 of the exact value = what JAX computed)
_HALF_LOG_2PI = np.float32(0.5 * math.log(2.0 * math.pi))
_SQRT2 = float(np.sqrt(2.0))


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


def gaussian_mixture_loglik(y, eta, noise_scales, shape):
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


def laplace_loglik(y, eta, noise_scales):
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


NODE_LOGLIK = {
    CONTINUOUS: _gaussian,
    BINARY: _bernoulli,
    COUNT: _poisson,
    NEGBIN: _negative_binomial,
}


def categorical_loglik(y, eta):
    """Multinomial-logit log probability of the observed level of one variable.

    Parameters
    ----------
    y : array ``(..., L - 1)``
        Indicators of the non-reference levels (all zero: the reference level).
    eta : array ``(..., L - 1)``
        Linear predictor (log odds against the reference level) of every non-reference level.

    Returns
    -------
    array ``(...)``
        ``eta[level] - log(1 + sum(exp(eta)))``, with ``eta`` of the reference level 0.
    """
    top = jax.lax.stop_gradient(jnp.maximum(jnp.max(eta, axis=-1), 0.0))
    log_norm = top + jnp.log(jnp.exp(-top) + jnp.exp(eta - top[..., None]).sum(-1))
    return (y * eta).sum(-1) - log_norm
