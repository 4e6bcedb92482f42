"""Log-densities of the simulators' laws, for classifiers that know the true parameters.

The noise laws are those of :func:`bayes_hcl.simulate.draws.unit_noise`, counts are Poisson
or NB2, and a row's log-likelihood under one cluster adds its nodes' terms given their
parents (the factorisation of the SEM along its DAG).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln

__all__ = [
    "cell_state_loglik",
    "count_logpmf",
    "noise_logpdf",
    "parent_values",
    "row_loglik",
]


def noise_logpdf(kind: str | None, eps: np.ndarray) -> np.ndarray:
    """Log density of the unit-variance noise of the given kind.

    Parameters
    ----------
    kind : str or None
        One of :data:`bayes_hcl.simulate.draws.NOISE_KINDS`; ``None`` or an unknown kind
        is Gaussian.
    eps : numpy.ndarray
        Standardised residuals.

    Returns
    -------
    numpy.ndarray
        Log density of every residual (``-1e6`` outside a bounded support).
    """
    if kind == "laplace":
        return -np.log(np.sqrt(2.0)) - np.sqrt(2.0) * np.abs(eps)
    if kind == "uniform":
        return np.where(np.abs(eps) <= np.sqrt(3.0), -np.log(2.0 * np.sqrt(3.0)), -1e6)
    if kind == "exponential":
        return np.where(eps >= -1.0, -(eps + 1.0), -1e6)
    if kind in ("student_t", "student_t3"):
        return _unit_variance_t(eps, 5.0 if kind == "student_t" else 3.0)
    return -0.5 * eps**2 - 0.5 * np.log(2.0 * np.pi)


def _unit_variance_t(eps: np.ndarray, df: float) -> np.ndarray:
    """Log density of Student-t noise with ``df`` degrees of freedom scaled to variance 1."""
    c = np.sqrt(df / (df - 2.0))
    t = eps * c
    log_norm = gammaln(0.5 * (df + 1.0)) - gammaln(0.5 * df) - 0.5 * np.log(df * np.pi)
    return log_norm - 0.5 * (df + 1.0) * np.log1p(t**2 / df) + np.log(c)


def count_logpmf(y: np.ndarray, log_mean: np.ndarray, phi: float) -> np.ndarray:
    """Log pmf of Poisson (``phi = 0``) or NB2 counts with variance ``mu + phi mu^2``.

    Parameters
    ----------
    y : numpy.ndarray
        Counts.
    log_mean : numpy.ndarray
        Log means ``log mu``.
    phi : float
        NB2 overdispersion; ``phi <= 0`` gives Poisson counts.

    Returns
    -------
    numpy.ndarray
        Log pmf of every count.
    """
    if phi <= 0:
        return y * log_mean - np.exp(log_mean) - gammaln(y + 1.0)
    r = 1.0 / phi
    log_total = np.logaddexp(np.log(r), log_mean)
    return (
        gammaln(y + r)
        - gammaln(r)
        - gammaln(y + 1.0)
        + r * (np.log(r) - log_total)
        + y * (log_mean - log_total)
    )


def parent_values(
    values: np.ndarray, types: Sequence[str], level_scores: Sequence[np.ndarray]
) -> np.ndarray:
    """Values as children see them: counts as ``log1p(count)``, levels as their scores.

    Parameters
    ----------
    values : numpy.ndarray
        ``(n, d)`` values, categorical columns as level codes.
    types : sequence of str
        Type of every column.
    level_scores : sequence of numpy.ndarray
        Per column, the level scores (empty for a column that is not categorical).

    Returns
    -------
    numpy.ndarray
        ``(n, d)`` parent values.
    """
    as_parent = values.copy()
    counts = np.array([t == "count" for t in types])
    as_parent[:, counts] = np.log1p(values[:, counts])
    for j, level_score in enumerate(level_scores):
        if level_score.size:
            as_parent[:, j] = level_score[values[:, j].astype(int)]
    return as_parent


def row_loglik(
    values: np.ndarray,
    as_parent: np.ndarray,
    weights: np.ndarray,
    intercepts: np.ndarray,
    scales: np.ndarray,
    types: Sequence[str],
    noise: str | None,
    phi: float = 0.0,
    level_scores: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Log density of every row under one cluster's true SEM.

    Parameters
    ----------
    values : numpy.ndarray
        ``(n, d)`` values, categorical columns as level codes.
    as_parent : numpy.ndarray
        ``(n, d)`` the same values as parents (see :func:`parent_values`).
    weights : numpy.ndarray
        ``(d, d)`` the cluster's edge weights.
    intercepts, scales : numpy.ndarray
        ``(d,)`` the cluster's intercepts and noise scales.
    types : sequence of str
        Type of every column.
    noise : str or None
        Noise law of continuous columns.
    phi : float, optional
        NB2 overdispersion of counts (0: Poisson).
    level_scores : sequence of numpy.ndarray, optional
        Per column, the level scores of a categorical column.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` log-likelihood of every row.
    """
    eta = intercepts + as_parent @ weights
    total = np.zeros(len(values))
    for j, kind in enumerate(types):
        if kind == "continuous":
            eps = (values[:, j] - eta[:, j]) / scales[j]
            total += noise_logpdf(noise, eps) - np.log(scales[j])
        elif kind == "binary":
            total += values[:, j] * eta[:, j] - np.logaddexp(0.0, eta[:, j])
        elif kind == "categorical":
            logits = eta[:, [j]] * level_scores[j][None, :]
            log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
            total += log_p[np.arange(len(values)), values[:, j].astype(int)]
        else:
            log_rate = np.clip(np.log(5.0) + 0.5 * eta[:, j], -5.0, 6.0)
            total += count_logpmf(values[:, j], log_rate, phi)
    return total


def cell_state_loglik(
    counts: np.ndarray,
    size_factors: np.ndarray,
    log_base: np.ndarray,
    phi: np.ndarray,
    weights: np.ndarray,
    shifts: np.ndarray,
) -> np.ndarray:
    """Log-likelihood of every cell under every state of a single-cell-like simulation.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(n, d)`` counts.
    size_factors : numpy.ndarray
        ``(n,)`` size factors.
    log_base : numpy.ndarray
        ``(d,)`` log baseline expression of every gene.
    phi : numpy.ndarray
        ``(d,)`` NB2 overdispersion of every gene.
    weights : numpy.ndarray
        ``(K, d, d)`` regulatory weights per state.
    shifts : numpy.ndarray
        ``(K, d)`` log-scale shifts per state.

    Returns
    -------
    numpy.ndarray
        ``(n, K)`` log-likelihoods.
    """
    z = np.log1p(counts / size_factors[:, None]) - np.log1p(np.exp(log_base))
    out = []
    for w, b in zip(weights, shifts, strict=True):
        eta = np.clip(log_base + b + z @ w, -8.0, 9.0) + np.log(size_factors)[:, None]
        out.append(sum(count_logpmf(counts[:, j], eta[:, j], phi[j]) for j in range(len(phi))))
    return np.stack(out, axis=1)
