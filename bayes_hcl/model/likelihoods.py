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
    "skew_t_loglik",
    "skew_t_mode_offset",
    "student_t_loglik",
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


def student_t_loglik(y, eta, noise_scales, df):
    """Student-t log density with ``df`` degrees of freedom and scale ``noise_scales``.

    The scale, not the sd, is the noise parameter (as in NumPyro's ``StudentT``): the sd
    ``sigma * sqrt(df / (df - 2))`` has no finite value for ``df <= 2`` and its
    parameterisation is singular at ``df = 2``. ``df -> inf`` is the Gaussian with sd
    ``sigma``. ``df`` broadcasts against the last (node) axis.
    """
    return skew_t_loglik(y, eta, noise_scales, df, None)


def skew_t_loglik(y, eta, noise_scales, df, log_skew):
    """Fernandez & Steel (1998) two-piece Student-t: scale ``sigma * gamma`` right of the
    mode ``eta`` and ``sigma / gamma`` left of it, with ``gamma = exp(log_skew)``.

    ``log_skew = 0`` (or ``None``) is the symmetric :func:`student_t_loglik`, and with
    ``df -> inf`` the Gaussian, so the law contains both; ``log_skew > 0`` skews right.
    ``df`` and ``log_skew`` broadcast against the last (node) axis. The model's linear
    predictor is the law's mean: it passes ``eta`` less :func:`skew_t_mode_offset`.
    """
    # constants per cluster and node first: every parameter's gradient is then one
    # reduction over the rows, taken in the hand-written backward pass of _two_piece_tail
    df = df * jnp.ones_like(noise_scales)
    precision = 1.0 / (df * noise_scales**2)
    norm = _half_gamma_ratio(df) - 0.5 * jnp.log(df * jnp.pi) - jnp.log(noise_scales)
    right = left = precision
    if log_skew is not None:
        log_skew = log_skew * jnp.ones_like(noise_scales)
        # 2 / (gamma + 1 / gamma) = 1 / cosh(log gamma)
        norm = norm - (jnp.logaddexp(log_skew, -log_skew) - jnp.log(2.0))
        right = precision * jnp.exp(-2.0 * log_skew)
        left = precision * jnp.exp(2.0 * log_skew)
    shape = jnp.broadcast_shapes(jnp.shape(y), jnp.shape(eta), jnp.shape(right))
    eta = jnp.broadcast_to(eta, shape)
    return norm + _two_piece_tail(y, eta, right, left, -0.5 * (df + 1.0))


def skew_t_mode_offset(noise_scales, df, log_skew):
    """How far the mean of the two-piece law of :func:`skew_t_loglik` lies above its mode:
    ``sigma * E|T_df| * (gamma - 1 / gamma)`` (``E|T|`` taken at ``df = 1.001`` for
    ``df <= 1``, where the law has no mean).

    The model subtracts it from the intercepts, so that the intercepts are means, as under
    Gaussian noise, and do not trade off against the skew as a mode would (which a
    mean-field guide fits badly, and which split one population in two). Taken from the
    intercepts, its gradient costs nothing per row.
    """
    return noise_scales * _mean_abs_t(df) * 2.0 * jnp.sinh(log_skew)


def _mean_abs_t(df):
    """``E|T|`` of a standard Student-t with ``df > 1`` degrees of freedom (``df`` near 1
    held at 1.001, where the mean is already 600 scales away)."""
    df = jnp.maximum(df, 1.001)
    log_m = jnp.log(2.0) + 0.5 * jnp.log(df) + _half_gamma_ratio(df) - 0.5 * jnp.log(jnp.pi)
    return jnp.exp(log_m - jnp.log(df - 1.0))


def _half_gamma_ratio(df):
    """``log Gamma((df + 1) / 2) - log Gamma(df / 2)``, without float32's cancellation.

    Above ``df = 200`` the two log-gammas agree to most of their digits, so the difference
    comes from its asymptotic series ``log x / 2 - 1 / (8 x) + 1 / (192 x^3)``, ``x = df / 2``
    (error below 1e-9 there); each branch sees only arguments in its range, so neither
    gradient is NaN.
    """
    x_small = 0.5 * jnp.minimum(df, 200.0)
    x_large = 0.5 * jnp.maximum(df, 200.0)
    direct = gammaln(x_small + 0.5) - gammaln(x_small)
    series = 0.5 * jnp.log(x_large) - 1.0 / (8.0 * x_large) + 1.0 / (192.0 * x_large**3)
    return jnp.where(df > 200.0, series, direct)


def _unbroadcast(x, shape):
    """Sum ``x`` over the axes where ``shape`` has size 1 (the transpose of a broadcast)."""
    axes = tuple(i for i, (a, b) in enumerate(zip(x.shape, shape, strict=True)) if b == 1 < a)
    return x.sum(axes, keepdims=True) if axes else x


@jax.custom_vjp
def _two_piece_tail(y, eta, right, left, power):
    """``power * log1p(a r^2)`` with ``r = y - eta`` and ``a`` = ``right`` where ``r >= 0``,
    else ``left``. Its backward pass is written out: JAX's own takes one pass over the
    ``(n, K, d)`` elements per term and made the skew-t fit three times slower per step
    than the Gaussian one; this one is within a quarter of it."""
    r = y - eta
    return power * jnp.log1p(jnp.where(r >= 0, right, left) * r * r)


def _two_piece_tail_fwd(y, eta, right, left, power):
    return _two_piece_tail(y, eta, right, left, power), (y, eta, right, left, power)


def _two_piece_tail_bwd(saved, grad):
    y, eta, right, left, power = saved
    r = y - eta
    upper = r >= 0
    a = jnp.where(upper, right, left)
    r2 = r * r
    u = a * r2
    w = grad * power / (1.0 + u)
    d_a = w * r2
    d_r = 2.0 * w * a * r
    return (
        _unbroadcast(d_r, jnp.shape(y)),
        -d_r,
        _unbroadcast(jnp.where(upper, d_a, 0.0), jnp.shape(right)),
        _unbroadcast(jnp.where(upper, 0.0, d_a), jnp.shape(left)),
        _unbroadcast(grad * jnp.log1p(u), jnp.shape(power)),
    )


_two_piece_tail.defvjp(_two_piece_tail_fwd, _two_piece_tail_bwd)


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
