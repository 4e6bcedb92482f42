"""Effects: posterior means and HDIs of the edge weights, with and without the edge present.

A weight draw is *model averaged*: in a draw where the edge sits in the spike (or the order
forbids it) the weight is near or exactly zero, so the unconditional mean of a weak edge is
pulled towards zero and can lie outside its own HDI. The *conditional* summaries weight every
draw by the probability that the edge is present in it (the slab responsibility the model
reports per draw, zero where the order forbids the edge): since ``p(w | present) ∝ p(w)
P(present | w)``, the weighted draws are draws of the weight given that the edge is present.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "EFFECT_COLUMNS",
    "conditional_weights",
    "effect_table",
    "hdi",
    "weighted_hdi",
]

#: Columns of :func:`effect_table` (``HCLResult.effects()``, ``effects.csv``).
EFFECT_COLUMNS = (
    "cluster",
    "parent",
    "child",
    "p_in_cluster",
    "mean_if_present",
    "hdi_low_if_present",
    "hdi_high_if_present",
    "mean",
    "sd",
    "hdi_low",
    "hdi_high",
    "mean_if_present_original",
    "hdi_low_if_present_original",
    "hdi_high_if_present_original",
    "mean_original",
    "hdi_low_original",
    "hdi_high_original",
)


def hdi(samples: np.ndarray, prob: float = 0.94) -> tuple[np.ndarray, np.ndarray]:
    """Highest-density interval over the first axis (shortest window holding ``prob``)."""
    x = np.sort(samples, axis=0)
    s = x.shape[0]
    width = max(int(np.ceil(prob * s)), 1)
    if width >= s:
        return x[0], x[-1]
    spans = x[width - 1 :] - x[: s - width + 1]
    start = spans.argmin(0)
    low = np.take_along_axis(x, start[None], 0)[0]
    high = np.take_along_axis(x, (start + width - 1)[None], 0)[0]
    return low, high


def weighted_hdi(samples: np.ndarray, weights: np.ndarray, prob: float = 0.94) -> tuple:
    """Shortest interval holding ``prob`` of the weight of weighted draws ``(S,)``.

    With equal weights it is :func:`hdi`. Returns ``(nan, nan)`` when every weight is zero.
    """
    total = weights.sum()
    if not total > 0:
        return np.nan, np.nan
    order = np.argsort(samples)
    x, w = samples[order], weights[order] / total
    cum = np.concatenate([[0.0], np.cumsum(w)])
    # for each start i, the first end e with cum[e + 1] - cum[i] >= prob
    ends = np.searchsorted(cum, cum[:-1] + prob - 1e-12, side="left") - 1
    valid = ends < len(x)
    starts = np.nonzero(valid)[0]
    if not len(starts):
        return x[0], x[-1]
    widths = x[ends[valid]] - x[starts]
    best = int(np.argmin(widths))
    return x[starts[best]], x[ends[valid][best]]


def conditional_weights(weights: np.ndarray, inclusion: np.ndarray) -> np.ndarray:
    """Posterior mean weight given that the edge is present, over the first (draw) axis.

    ``sum_s p_s w_s / sum_s p_s`` with ``p_s`` the draw's probability that the edge is
    present; NaN where no draw gives the edge any probability.
    """
    mass = inclusion.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass > 0, (inclusion * weights).sum(0) / mass, np.nan)


def effect_table(
    weights: np.ndarray,
    inclusion: np.ndarray,
    clusters: Sequence[int],
    columns: Sequence[str],
    unit_factor: np.ndarray,
    min_probability: float = 0.05,
    prob: float = 0.94,
) -> pd.DataFrame:
    """Tidy effects of every pair in every listed cluster with ``p_in_cluster`` above a floor.

    Parameters
    ----------
    weights, inclusion : ndarray ``(S, K, d, d)``
        Standardised weight draws (model averaged) and the per-draw probability that each
        edge is present in each cluster.
    clusters : sequence of int
        The clusters to list (the shown clusters).
    columns : sequence of str
        Variable names.
    unit_factor : ndarray ``(d, d)``
        Multiplies a standardised effect ``i -> j`` into the data's own units.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`EFFECT_COLUMNS`, sorted by cluster and decreasing ``p_in_cluster``:
        ``p_in_cluster`` the probability that the edge is present in that cluster;
        ``*_if_present`` the mean and HDI given that it is present (module docstring);
        ``mean``, ``sd``, ``hdi_*`` the model-averaged ones (absent draws count as zero);
        ``*_original`` the same in the data's own units.
    """
    rows = []
    for k in clusters:
        w, incl = weights[:, k], inclusion[:, k]
        p = incl.mean(0)
        low, high = hdi(w, prob)
        mean, sd = w.mean(0), w.std(0)
        cond = conditional_weights(w, incl)
        for i, j in zip(*np.nonzero(p >= min_probability), strict=True):
            c_low, c_high = weighted_hdi(w[:, i, j], incl[:, i, j], prob)
            stats = (cond[i, j], c_low, c_high, mean[i, j], sd[i, j], low[i, j], high[i, j])
            f = unit_factor[i, j]
            original = (v * f for v in (*stats[:4], *stats[5:]))
            rows.append((k, columns[i], columns[j], p[i, j], *stats, *original))
    frame = pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))
    order = ["cluster", "p_in_cluster"]
    return frame.sort_values(order, ascending=[True, False], ignore_index=True)
