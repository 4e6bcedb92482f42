"""Benchmark on single-cell-like counts: the ``single_cell`` preset against baselines.

Data from :func:`bayes_hcl.simulate.cells.simulate_single_cell` (default 2,000 cells, 20
genes, 3 states). Methods, all run in the same process on the same counts:

* ``bayes_hcl[single_cell]`` — NB2 counts, size factors from each cell's library size (its
  total over the whole transcriptome, a column), as with real data;
* ``bayes_hcl[single_cell, panel totals]`` — size factors from the totals over the 20
  modelled genes only (preset default ``"total"``): noisy, and biased by the states' shifts;
* ``bayes_hcl[single_cell, true s]`` — given the true size factors (the reference);
* ``bayes_hcl[poisson]`` — the default preset on the raw counts (Poisson, no size factors);
* ``lognorm+bayes_hcl`` — the baseline the field uses: counts divided by the size factor,
  ``log1p``, then the Gaussian model (preset ``gaussian``);
* ``lognorm+gmm_ges`` — the same log-normalised data, Gaussian mixture then GES per cluster
  (needs the ``bench`` extra).

Scores: ARI of the states (and its ceiling, the ARI of a classifier that knows every true
parameter), pooled directed F1 at P >= 0.5 and AUPRC against the union of the states'
graphs, and shift-target recovery at P >= 0.5 (true positives, false positives, the number of
true targets). Run it with ``bayes-hcl bench --suite single-cell [--repeats R]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bayes_hcl import metrics
from bayes_hcl.bench.baselines import gmm_labels, per_cluster_ges, pooled_graph, standardise
from bayes_hcl.simulate import SimulatedData, simulate_single_cell

__all__ = ["log_normalise", "run_single_cell"]


def log_normalise(counts: pd.DataFrame, library: np.ndarray | None = None) -> pd.DataFrame:
    """``log1p(count / s)`` with ``s`` each cell's library size (default: its total over the
    columns) scaled to geometric mean 1."""
    totals = counts.sum(axis=1).to_numpy(dtype=float) if library is None else library
    size = totals / np.exp(np.log(totals).mean())
    return np.log1p(counts.div(size, axis=0))


#: A method's function: no arguments, returns its labels, graph, scores, shifts and time.
Method = Callable[[], dict[str, Any]]


def _bayes_hcl_row(
    data: pd.DataFrame, preset: str, seed: int, size_factors: str | None = None
) -> dict[str, Any]:
    """Fit bayes_hcl with ``preset``: its clusters, pooled graph, shift targets and time."""
    from bayes_hcl.api import fit

    start = time.perf_counter()
    result = fit(data, model=preset, seed=seed, size_factors=size_factors, progress=False)
    pooled = result.edge_probabilities().to_numpy()
    shifted = set(result.shift_targets(0.5).variable)
    return {
        "labels": result.clusters(),
        "adjacency": (pooled >= 0.5).astype(int),
        "scores": pooled,
        "shifted": shifted,
        "wall_s": time.perf_counter() - start,
    }


def _gmm_ges_row(data: pd.DataFrame, seed: int) -> dict[str, Any]:
    """Gaussian mixture then GES per cluster on ``data`` (no shift targets)."""
    start = time.perf_counter()
    x = standardise(data)
    labels = gmm_labels(x, seed)
    pooled = pooled_graph(per_cluster_ges(x, labels))
    return {
        "labels": labels,
        "adjacency": pooled,
        "scores": pooled.astype(float),
        "shifted": None,
        "wall_s": time.perf_counter() - start,
    }


def _methods(sim: SimulatedData, seed: int, baselines: bool) -> dict[str, Method]:
    """The methods of the suite, by name, in the order they run."""
    lognorm = log_normalise(sim.data, sim.library_size.astype(float))
    runs: dict[str, Method] = {
        "bayes_hcl[single_cell]": lambda: _bayes_hcl_row(
            sim.data.assign(library=sim.library_size), "single_cell", seed, "library"
        ),
        "bayes_hcl[single_cell, panel totals]": lambda: _bayes_hcl_row(
            sim.data, "single_cell", seed
        ),
        "bayes_hcl[single_cell, true s]": lambda: _bayes_hcl_row(
            sim.data.assign(size_factor=sim.size_factors), "single_cell", seed, "size_factor"
        ),
        "bayes_hcl[poisson]": lambda: _bayes_hcl_row(sim.data, "hcl", seed),
        "lognorm+bayes_hcl": lambda: _bayes_hcl_row(lognorm, "gaussian", seed),
    }
    if baselines:
        runs["lognorm+gmm_ges"] = lambda: _gmm_ges_row(lognorm, seed)
    return runs


def _score(
    sim: SimulatedData, method: str, seed: int, out: dict[str, Any], ceiling: float
) -> dict[str, Any]:
    """One method's row: ARI, F1 and AUPRC of the pooled graph, shift targets found."""
    truth, targets = sim.pooled_adjacency, set(sim.shift_targets)
    shifted = out["shifted"]
    return {
        "method": method,
        "seed": seed,
        "k_found": len(np.unique(out["labels"])),
        "ari": metrics.adjusted_rand_index(sim.labels, out["labels"]),
        "ari_ceiling": ceiling,
        "f1": metrics.edge_scores(truth, out["adjacency"])["f1"],
        "auprc": metrics.auprc(truth, out["scores"]),
        "shift_tp": np.nan if shifted is None else len(shifted & targets),
        "shift_fp": np.nan if shifted is None else len(shifted - targets),
        "n_targets": len(targets),
        "wall_s": out["wall_s"],
    }


def _progress_line(row: dict[str, Any]) -> str:
    """One finished method: ARI (and ceiling), F1, AUPRC, shift targets, wall time."""
    return (
        f"{row['method']:<24} seed {row['seed']} ARI {row['ari']:.3f} (ceiling "
        f"{row['ari_ceiling']:.3f}) F1 {row['f1']:.3f} AUPRC {row['auprc']:.3f} shifts "
        f"{row['shift_tp']}/{row['n_targets']} (+{row['shift_fp']} false) {row['wall_s']:.0f}s"
    )


def run_single_cell(
    seed: int = 0,
    baselines: bool = True,
    log: Callable[[str], None] | None = None,
    **simulation: Any,
) -> pd.DataFrame:
    """Score every method on one simulated data set; one row per method.

    Parameters
    ----------
    seed : int
        Seed of the simulation and of every fit.
    baselines : bool
        Also run ``lognorm+gmm_ges`` (needs causal-learn and scikit-learn).
    log : callable, optional
        Called with one line per finished method.
    **simulation
        Passed to :func:`~bayes_hcl.simulate.cells.simulate_single_cell`.

    Returns
    -------
    pandas.DataFrame
        Columns ``method, seed, k_found, ari, ari_ceiling, f1, auprc, shift_tp, shift_fp,
        n_targets, wall_s``.
    """
    sim = simulate_single_cell(seed=seed, **simulation)
    runs = _methods(sim, seed, baselines)
    ceiling = metrics.adjusted_rand_index(sim.labels, sim.bayes_labels())
    rows = []
    for method, run in runs.items():
        rows.append(_score(sim, method, seed, run(), ceiling))
        if log:
            log(_progress_line(rows[-1]))
    return pd.DataFrame(rows)
