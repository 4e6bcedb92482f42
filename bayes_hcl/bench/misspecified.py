"""Benchmark on misspecified data: does a noise law invent clusters? (issue #23)

Data from :func:`bayes_hcl.simulate.simulate` (d = 10, 1,000 rows per population) with noise
that is not Gaussian: Laplace, skewed (centred exponential), Student-t with 3 df, and Gaussian
noise with 1.5 % of the rows carrying one gross outlier (a cell moved by 8 sd), beside the
Gaussian reference. Each law is drawn with two populations and with one (2,000 rows).

Every data set is fitted with the default preset under each noise family of
:data:`FAMILIES` (``model.noise_family``), in one process, so that the wall times compare.
Scores: the clusters shown (``k_found``) and P(K = true K), the ARI against the true labels
and its ceiling (the ARI of a classifier that knows every true parameter; with outliers, the
ceiling of the clean data), pooled directed F1 at P >= 0.5 and AUPRC, and the wall time of the
fit (the first fit of a family also compiles it; :func:`median_walls` leaves those out).
Run it with ``bayes-hcl bench --suite misspecified [--repeats R]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bayes_hcl import metrics
from bayes_hcl.bench.registry import SuiteOptions
from bayes_hcl.simulate import SimulatedData, simulate

__all__ = [
    "FAMILIES",
    "LAWS",
    "contaminate",
    "median_walls",
    "misspecified_suite",
    "run_misspecified",
]

#: Noise families every data set is fitted with: the old default and the robust laws.
FAMILIES = ("gaussian", "student_t", "skew_t")
#: The simulated noise laws (``outliers``: Gaussian noise plus gross outliers).
LAWS = ("gaussian", "laplace", "exponential", "student_t3", "outliers")
OUTLIER_FRACTION = 0.015
OUTLIER_SIZE = 8.0


def contaminate(
    data: pd.DataFrame, fraction: float, size: float, rng: np.random.Generator
) -> pd.DataFrame:
    """Gross outliers: in ``fraction`` of the rows, one random cell moves by ``size`` sd.

    Parameters
    ----------
    data : DataFrame
        Continuous columns.
    fraction : float
        Share of rows that receive an outlier.
    size : float
        How far the cell moves, in standard deviations of its column (random sign).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    DataFrame
        A copy of ``data`` with the outliers.
    """
    values = data.to_numpy(dtype=float).copy()
    n, d = values.shape
    rows = rng.choice(n, size=max(1, round(fraction * n)), replace=False)
    cols = rng.integers(0, d, size=rows.size)
    signs = rng.choice([-1.0, 1.0], size=rows.size)
    values[rows, cols] += signs * size * values.std(axis=0)[cols]
    return pd.DataFrame(values, columns=data.columns, index=data.index)


def _data(law: str, n_clusters: int, seed: int) -> tuple[SimulatedData, pd.DataFrame]:
    noise = "gaussian" if law == "outliers" else law
    sim = simulate(2000 // n_clusters, d=10, n_clusters=n_clusters, noise=noise, seed=seed)
    if law != "outliers":
        return sim, sim.data
    rng = np.random.default_rng(seed + 7919)
    return sim, contaminate(sim.data, OUTLIER_FRACTION, OUTLIER_SIZE, rng)


def _fit_row(sim: SimulatedData, data: pd.DataFrame, family: str, seed: int) -> dict[str, Any]:
    from bayes_hcl.api import fit

    start = time.perf_counter()
    result = fit(data, seed=seed, progress=False, model_options={"noise_family": family})
    wall = time.perf_counter() - start
    true_k = sim.adjacency.shape[0]
    pooled = result.edge_probabilities().to_numpy()
    return {
        "family": family,
        "k_found": len(result.occupied_clusters()),
        "p_k_true": float(result.n_clusters().get(true_k, 0.0)),
        "ari": metrics.adjusted_rand_index(sim.labels, result.clusters()),
        "f1": metrics.edge_scores(sim.pooled_adjacency, pooled >= 0.5)["f1"],
        "auprc": metrics.auprc(sim.pooled_adjacency, pooled),
        "wall_s": wall,
    }


def run_misspecified(
    seeds: int = 1,
    laws: tuple[str, ...] = LAWS,
    families: tuple[str, ...] = FAMILIES,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Fit every law x populations x family x seed; one row per fit.

    Parameters
    ----------
    seeds : int
        Seeds per data set (0 .. seeds - 1; the seed of the data and of the fit).
    laws, families : tuple of str
        Noise laws of the data (:data:`LAWS`) and noise families of the fits
        (:data:`FAMILIES`).
    log : callable, optional
        Called with one line per finished fit.

    Returns
    -------
    DataFrame
        Columns ``law, true_k, seed, family, k_found, p_k_true, ari, ari_ceiling, f1,
        auprc, wall_s``.
    """
    rows = []
    for seed in range(seeds):
        for n_clusters in (2, 1):
            for law in laws:
                sim, data = _data(law, n_clusters, seed)
                ceiling = metrics.adjusted_rand_index(sim.labels, sim.bayes_labels())
                for family in families:
                    row = {"law": law, "true_k": n_clusters, "seed": seed}
                    row |= _fit_row(sim, data, family, seed) | {"ari_ceiling": ceiling}
                    rows.append(row)
                    if log is not None:
                        log(_line(row))
    return pd.DataFrame(rows)


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['law']:<11} K={row['true_k']} seed {row['seed']} {row['family']:<9} "
        f"K^={row['k_found']} P(K={row['true_k']}) {row['p_k_true']:.2f} ARI {row['ari']:.3f} "
        f"(ceiling {row['ari_ceiling']:.3f}) F1 {row['f1']:.3f} AUPRC {row['auprc']:.3f} "
        f"{row['wall_s']:.1f} s"
    )


def median_walls(table: pd.DataFrame) -> pd.DataFrame:
    """Median wall time per family and its median ratio to the Gaussian family's fit of the
    same data, leaving out the first data set (where every family compiles its program; all
    data sets share one shape, so no other fit compiles)."""
    keys = ["seed", "true_k", "law"]
    walls = table.pivot_table(index=keys, columns="family", values="wall_s", sort=False)
    walls = walls.iloc[1:]
    out = pd.DataFrame({"median_wall_s": walls.median()})
    if "gaussian" in walls:
        out["ratio_to_gaussian"] = walls.div(walls["gaussian"], axis=0).median()
    return out.rename_axis("family").reset_index()


def misspecified_suite(options: SuiteOptions) -> pd.DataFrame:
    """``misspecified``: writes ``misspecified.csv`` (one row per fit) and
    ``misspecified_speed.csv`` (:func:`median_walls`); prints the speed table."""
    table = run_misspecified(options.seeds, log=options.echo)
    speed = median_walls(table)
    options.write_csv("misspecified.csv", table)
    options.write_csv("misspecified_speed.csv", speed)
    options.echo(speed.to_string(index=False))
    return table
