"""The fitted noise law of every continuous variable, and whether it is non-Gaussian.

Under the default ``skew_t`` noise (and ``student_t``) every continuous variable has its own
degrees of freedom ``nu_j`` and log skewness ``log gamma_j``. A variable's law counts as
non-Gaussian when, with posterior probability at least 0.95, its skewness or excess kurtosis
passes the thresholds of the identifiability report's residual check (``|skewness| > 0.2`` or
``excess kurtosis > 0.4``): only a fit with such a law may orient an edge by non-Gaussian
noise, so a skew-t fit of Gaussian data (``nu`` large, ``gamma`` near 1) claims no more than
a Gaussian fit does.

The moments of a Fernandez & Steel (1998) two-piece law with ``gamma`` and a symmetric base
law ``f`` are ``E[X^r] = M_r (gamma^(r+1) + (-1)^r gamma^-(r+1)) / (gamma + 1/gamma)``, with
``M_r = E|T|^r`` the base law's absolute moments; for Student-t ``T`` with ``nu > r``,
``M_r = nu^(r/2) Gamma((r+1)/2) Gamma((nu-r)/2) / (sqrt(pi) Gamma(nu/2))``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln

__all__ = [
    "NON_GAUSSIAN_KURTOSIS",
    "NON_GAUSSIAN_PROBABILITY",
    "NON_GAUSSIAN_SKEWNESS",
    "noise_law_table",
    "two_piece_t_moments",
]

#: Thresholds of a non-Gaussian law: those of the report's residual check.
NON_GAUSSIAN_SKEWNESS = 0.2
NON_GAUSSIAN_KURTOSIS = 0.4
#: Posterior probability of those thresholds being passed that makes a law non-Gaussian: the
#: analogue of the residual check's significance (Jarque-Bera p < 0.001).
NON_GAUSSIAN_PROBABILITY = 0.95


def _absolute_moment(df: np.ndarray, r: int) -> np.ndarray:
    """``E|T|^r`` of a standard Student-t with ``df`` degrees of freedom (inf where ``df <= r``)."""
    df = np.asarray(df, dtype=float)
    safe = np.where(df > r, df, r + 1.0)
    log_m = (
        0.5 * r * np.log(safe)
        + gammaln(0.5 * (r + 1))
        + gammaln(0.5 * (safe - r))
        - 0.5 * np.log(np.pi)
        - gammaln(0.5 * safe)
    )
    return np.where(df > r, np.exp(log_m), np.inf)


def two_piece_t_moments(df, log_skew) -> tuple[np.ndarray, np.ndarray]:
    """Skewness and excess kurtosis of the two-piece Student-t law.

    Parameters
    ----------
    df, log_skew : array_like
        Degrees of freedom (``inf``: the Gaussian) and ``log gamma``, broadcast together.

    Returns
    -------
    tuple of ndarray
        Skewness (NaN where ``df <= 3``) and excess kurtosis (``inf`` where ``df <= 4``).
    """
    df, log_skew = np.broadcast_arrays(np.asarray(df, float), np.asarray(log_skew, float))
    g = np.exp(log_skew)
    gaussian = np.isinf(df)
    # Gaussian absolute moments E|Z|^r for r = 1..4
    gauss_m = {1: np.sqrt(2 / np.pi), 2: 1.0, 3: 2 * np.sqrt(2 / np.pi), 4: 3.0}
    raw = {}
    with np.errstate(invalid="ignore", over="ignore"):
        for r in (1, 2, 3, 4):
            m = np.where(gaussian, gauss_m[r], _absolute_moment(np.where(gaussian, 5.0, df), r))
            raw[r] = m * (g ** (r + 1) + (-1) ** r * g ** -(r + 1)) / (g + 1 / g)
        mean = raw[1]
        var = raw[2] - mean**2
        third = raw[3] - 3 * mean * raw[2] + 2 * mean**3
        fourth = raw[4] - 4 * mean * raw[3] + 6 * mean**2 * raw[2] - 3 * mean**4
        skewness = np.where(df > 3, third / var**1.5, np.nan)
        kurtosis = np.where(df > 4, fourth / var**2 - 3.0, np.inf)
    return skewness, kurtosis


def noise_law_table(
    columns: list[str],
    continuous: np.ndarray,
    family: str,
    df_draws: np.ndarray | None,
    log_skew_draws: np.ndarray | None,
) -> pd.DataFrame:
    """Per continuous variable: its fitted noise law, and whether it is non-Gaussian.

    Parameters
    ----------
    columns : list of str
        Variable names.
    continuous : ndarray of bool ``(d,)``
        Which variables are continuous (the others have no noise law here).
    family : str
        ``model.noise_family`` of the fit.
    df_draws, log_skew_draws : ndarray ``(S, d)``, optional
        Posterior draws of ``nu_j`` and ``log gamma_j`` (``None`` where the family has none).

    Returns
    -------
    pandas.DataFrame
        ``variable, family, df, df_low, df_high, log_skew, skewness, excess_kurtosis,
        p_non_gaussian, non_gaussian``: posterior median and 5 %-95 % interval of ``nu``,
        median ``log gamma``, the moments of the law at those medians, the posterior
        probability that the law passes the thresholds, and the verdict (that probability
        >= :data:`NON_GAUSSIAN_PROBABILITY`). Under Gaussian noise ``df`` is ``inf``; under
        ``laplace`` the moments are the Laplace's (0 and 3) and under a noise mixture they
        are NaN, with ``non_gaussian`` true for both, as those laws are non-Gaussian by
        construction.
    """
    idx = np.flatnonzero(continuous)
    d = len(idx)
    df_s = np.full((1, d), np.inf) if df_draws is None else np.asarray(df_draws)[:, idx]
    skew_s = np.zeros((1, d)) if log_skew_draws is None else np.asarray(log_skew_draws)[:, idx]
    df, skew = np.median(df_s, 0), np.median(skew_s, 0)
    if family == "laplace":
        skewness, kurtosis, p_flag = np.zeros(d), np.full(d, 3.0), np.ones(d)
    elif family in ("gaussian", "student_t", "skew_t"):
        skewness, kurtosis = two_piece_t_moments(df, skew)
        p_flag = _non_gaussian(*two_piece_t_moments(*np.broadcast_arrays(df_s, skew_s))).mean(0)
    else:
        skewness, kurtosis, p_flag = np.full(d, np.nan), np.full(d, np.nan), np.ones(d)
    return pd.DataFrame(
        {
            "variable": [columns[j] for j in idx],
            "family": family,
            "df": df,
            "df_low": df if df_draws is None else np.quantile(df_s, 0.05, axis=0),
            "df_high": df if df_draws is None else np.quantile(df_s, 0.95, axis=0),
            "log_skew": skew,
            "skewness": skewness,
            "excess_kurtosis": kurtosis,
            "p_non_gaussian": p_flag,
            "non_gaussian": p_flag >= NON_GAUSSIAN_PROBABILITY,
        }
    )


def _non_gaussian(skewness: np.ndarray, kurtosis: np.ndarray) -> np.ndarray:
    """Whether a law's moments pass the thresholds (undefined skewness: tails too heavy)."""
    with np.errstate(invalid="ignore"):
        return (
            np.isnan(skewness)
            | (np.abs(skewness) > NON_GAUSSIAN_SKEWNESS)
            | (kurtosis > NON_GAUSSIAN_KURTOSIS)
        )
