"""Exact draws of Pólya-Gamma ``PG(1, c)`` variables, vectorised (Polson, Scott & Windle 2013).

A Bernoulli-logit likelihood is a Gaussian one given a ``PG(1, eta)`` variable ``omega``:
``p(y | eta) = 1/2 exp(kappa eta) E[exp(-omega eta^2 / 2)]`` with ``kappa = y - 1/2``, and
``omega | eta ~ PG(1, eta)``. Given ``omega``, the child's regression is the Gaussian one of
the pseudo-response ``kappa / omega`` with precision ``omega``, so the collapsed updates of
the continuous nodes apply to it unchanged.

:func:`polya_gamma` is Devroye's alternating-series rejection sampler as Polson, Scott and
Windle give it (``PG(1, c) = J*(1, |c| / 2) / 4``; truncation point 0.64, proposal a mixture of
a truncated exponential and a truncated inverse Gaussian). The accept test is the series
itself, summed in log-ratio form to float precision (it alternates with terms that shrink by
a factor ``exp(-3)`` or faster at the truncation point, so eight terms decide every case the
first decisive partial sum of the sequential algorithm would). Every element runs its own
sequence of proposals: a ``lax.while_loop`` keeps each element's step (choose the
proposal's branch; retry the inverse-Gaussian draw; the outer test) until all are accepted,
which takes a handful of rounds (the outer acceptance exceeds 0.99).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr

__all__ = ["polya_gamma", "polya_gamma_mean"]

TRUNCATION = 0.64
SERIES_TERMS = 8
_PI2 = float(np.pi**2)


def polya_gamma_mean(c: jnp.ndarray) -> jnp.ndarray:
    """``E[PG(1, c)] = tanh(c / 2) / (2 c)`` (``1/4`` at ``c = 0``)."""
    c = jnp.abs(c)
    safe = jnp.where(c < 1e-4, 1.0, c)
    return jnp.where(c < 1e-4, 0.25 - c**2 / 48.0, jnp.tanh(safe / 2.0) / (2.0 * safe))


def _exponential_mass(z):
    """Probability of the truncated-exponential part of the proposal (``mass_texpon``)."""
    t = TRUNCATION
    fz = _PI2 / 8.0 + 0.5 * z * z
    b = (t * z - 1.0) / np.sqrt(t)
    a = -(t * z + 1.0) / np.sqrt(t)
    x0 = jnp.log(fz) + fz * t
    log_q_over_p = np.log(4.0 / np.pi) + jnp.logaddexp(x0 - z + log_ndtr(b), x0 + z + log_ndtr(a))
    return jax.nn.sigmoid(-log_q_over_p)


def _series_accepts(x, u):
    """Devroye's test ``u * a_0(x) <= sum_n (-1)^n a_n(x)`` in ratio form ``a_n / a_0``."""
    n = jnp.arange(SERIES_TERMS, dtype=x.dtype)
    half = n + 0.5
    excess = half**2 - 0.25  # ((n + 1/2)^2 - 1/4)
    xs = x[..., None]
    right = -excess * (_PI2 / 2.0) * xs  # x > t
    left = -2.0 * excess / jnp.maximum(xs, 1e-30)  # x <= t
    log_ratio = jnp.log(2.0 * half) + jnp.where(xs > TRUNCATION, right, left)
    sign = jnp.where(n % 2 == 0, 1.0, -1.0)
    return u <= (sign * jnp.exp(log_ratio)).sum(-1)


def _inverse_gaussian_attempt(rng_key, z):
    """One attempt at an inverse-Gaussian ``IG(1/z, 1)`` draw truncated to ``(0, t)``:
    ``(draw, success)``. For ``1/z > t`` the draw is ``t / (1 + t E)^2`` (a truncated
    ``1 / chi^2_1``, with the exponential pair test) kept with probability
    ``exp(-z^2 x / 2)``; otherwise an untruncated draw kept when below ``t``."""
    t = TRUNCATION
    k1, k2, k3, k4, k5 = jax.random.split(rng_key, 5)
    shape = z.shape
    # small z (mean beyond the truncation)
    e1, e2 = jax.random.exponential(k1, shape), jax.random.exponential(k2, shape)
    chi = t / (1.0 + t * e1) ** 2
    small_ok = (e1 * e1 <= 2.0 * e2 / t) & (
        jax.random.uniform(k3, shape) <= jnp.exp(-0.5 * z * z * chi)
    )
    # large z: Michael, Schucany & Haas
    mu = 1.0 / jnp.maximum(z, 1e-12)
    y = jax.random.normal(k4, shape) ** 2
    mu_y = mu * y
    root = mu + 0.5 * mu * mu_y - 0.5 * mu * jnp.sqrt(4.0 * mu_y + mu_y * mu_y)
    root = jnp.maximum(root, 1e-30)
    ig = jnp.where(jax.random.uniform(k5, shape) > mu / (mu + root), mu * mu / root, root)
    small = z < 1.0 / t
    return jnp.where(small, chi, ig), jnp.where(small, small_ok, ig < t)


def polya_gamma(rng_key, c: jnp.ndarray) -> jnp.ndarray:
    """Exact draws of ``PG(1, c)``, one per element of ``c`` (any shape).

    Parameters
    ----------
    rng_key : jax.random.PRNGKey
    c : array
        Tilting parameters (a Bernoulli-logit child's linear predictors).

    Returns
    -------
    array
        Independent ``omega ~ PG(1, c)``, of ``c``'s shape and dtype.
    """
    z = 0.5 * jnp.abs(c)
    fz = _PI2 / 8.0 + 0.5 * z * z
    mass = _exponential_mass(z)
    # per element: 0 choose the branch, 1 retry the inverse-Gaussian draw, 2 accepted
    choose, retry, accepted = 0, 1, 2

    def round_(carry):
        key, step, value = carry
        key, k_branch, k_exp, k_ig, k_test = jax.random.split(key, 5)
        exp_draw = TRUNCATION + jax.random.exponential(k_exp, z.shape, z.dtype) / fz
        take_exp = (step == choose) & (jax.random.uniform(k_branch, z.shape) < mass)
        ig_draw, ig_ok = _inverse_gaussian_attempt(k_ig, z)
        wants_ig = (step == retry) | ((step == choose) & ~take_exp)
        candidate = take_exp | (wants_ig & ig_ok)
        x = jnp.where(take_exp, exp_draw, ig_draw)
        passed = candidate & _series_accepts(x, jax.random.uniform(k_test, z.shape))
        value = jnp.where(passed, x, value)
        step = jnp.where(
            step == accepted,
            accepted,
            jnp.where(passed, accepted, jnp.where(wants_ig & ~ig_ok, retry, choose)),
        )
        return key, step, value

    start = (rng_key, jnp.zeros(z.shape, jnp.int32), jnp.zeros_like(z))
    _, _, value = jax.lax.while_loop(lambda c: jnp.any(c[1] != accepted), round_, start)
    return 0.25 * value
