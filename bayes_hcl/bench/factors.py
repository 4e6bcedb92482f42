"""Benchmark of several latent factors (issue #9): recovery and runtime.

``bayes-hcl bench --suite factors``: data with two independent hidden factors (two states
each) changing disjoint sets of three variables out of ten, n = 2000
(:func:`bayes_hcl.simulate.factors.simulate_factors`), fitted with two latent factors
(preset ``factorial``) and with the one-factor default (preset ``hcl``, up to 8 clusters).
Each inferred factor is matched to a true one (Hungarian on the adjusted Rand index); the
rows report per-factor ARI (with the ARI of a classifier that knows every true parameter:
the ceiling), the Jaccard index of inferred and true shifted-variable sets, pooled directed
F1 and the runtime. ``run_factor_runtime`` times fits with m = 1, 2, 3 factors on one data
set.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from bayes_hcl import metrics
from bayes_hcl.api import fit
from bayes_hcl.results import HCLResult
from bayes_hcl.results.factors import FactorReadout
from bayes_hcl.simulate import FactorData, simulate_factors

__all__ = ["factor_scores", "run_factor_runtime", "run_factors"]

#: Intercept shift sizes (noise-scale units) of the benchmark's two settings.
MEAN_SHIFTS = (2.0, 3.0)


def _ceilings(sim: FactorData) -> list[float]:
    """Per true factor: the ARI of the states a classifier knowing the truth assigns."""
    states = sim.settings["states"]
    best = np.stack(np.unravel_index(sim.bayes_labels(), states), axis=1)
    return [
        metrics.adjusted_rand_index(sim.factor_labels[:, f], best[:, f]) for f in range(len(states))
    ]


def _match_scores(readout: FactorReadout, sim: FactorData) -> tuple[np.ndarray, np.ndarray]:
    """ARI of the states and Jaccard index of the shifted sets, true x inferred factor."""
    m_true, m_fit = sim.factor_labels.shape[1], readout.n_factors
    ari = np.zeros((m_true, m_fit))
    jaccard = np.zeros((m_true, m_fit))
    for f in range(m_fit):
        states = readout.states(f)
        found = set(readout.shifted(f))
        for g in range(m_true):
            ari[g, f] = metrics.adjusted_rand_index(sim.factor_labels[:, g], states)
            truth = set(sim.factor_targets[g])
            jaccard[g, f] = len(found & truth) / max(len(found | truth), 1)
    return ari, jaccard


def _matched(ari: np.ndarray, jaccard: np.ndarray) -> dict[str, float]:
    """``ari_<g>`` and ``jaccard_<g>`` of each true factor's Hungarian match (0: none)."""
    rows, cols = linear_sum_assignment(-ari)
    out: dict[str, float] = {}
    for g in range(ari.shape[0]):
        hit = cols[rows == g]
        out[f"ari_{g}"] = float(ari[g, hit[0]]) if hit.size else 0.0
        out[f"jaccard_{g}"] = float(jaccard[g, hit[0]]) if hit.size else 0.0
    return out


def factor_scores(result: HCLResult, sim: FactorData) -> dict[str, float]:
    """Scores of a fit against the truth: every true factor matched to an inferred one.

    Keys ``ari_<f>`` and ``jaccard_<f>`` per true factor ``f`` (an unmatched true factor
    scores 0), ``f1``/``precision``/``recall`` of the pooled graph at 0.5, ``n_clusters``
    (joint states of the point partition) and ``n_factors_found``.
    """
    readout = result.factors
    out = _matched(*_match_scores(readout, sim))
    est = (result.edge_probabilities().to_numpy() > 0.5).astype(int)
    edges = metrics.edge_scores(sim.pooled_adjacency, est)
    out |= {k: edges[k] for k in ("f1", "precision", "recall")}
    out["n_clusters"] = len(result.occupied_clusters())
    occupied = [len(readout.occupied_states(f)) > 1 for f in range(readout.n_factors)]
    out["n_factors_found"] = sum(occupied)
    return out


def _one(sim: FactorData, preset: str, seed: int) -> dict:
    """Fit ``preset`` to ``sim``: runtime and :func:`factor_scores`."""
    start = time.perf_counter()
    result = fit(sim.data, model=preset, seed=seed, progress=False)
    wall = time.perf_counter() - start
    timings = result.meta["timings"]
    return {
        "model": preset,
        "latent_factors": result.config.model.latent_factors,
        "wall_s": wall,
        "compile_s": timings["compile_s"],
        "steps_per_s": timings["steps_per_s"],
        **factor_scores(result, sim),
    }


def _factors_line(row: dict) -> str:
    """Progress of one fit: per-factor ARI (and ceiling), Jaccard, F1, clusters, time."""
    return (
        f"shift {row['mean_shift']} seed {row['seed']} {row['model']:<9} ARI "
        f"{row['ari_0']:.3f}/{row['ari_1']:.3f} (ceiling {row['ari_ceiling_0']:.3f}/"
        f"{row['ari_ceiling_1']:.3f}) Jaccard {row['jaccard_0']:.2f}/{row['jaccard_1']:.2f} "
        f"F1 {row['f1']:.3f} clusters {row['n_clusters']} {row['wall_s']:.1f}s"
    )


def run_factors(
    repeats: int = 3,
    mean_shifts: tuple[float, ...] = MEAN_SHIFTS,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Two-factor data (seeds ``0..repeats-1``) fitted by presets ``factorial`` and ``hcl``."""
    rows = []
    for shift in mean_shifts:
        for seed in range(max(repeats, 1)):
            sim = simulate_factors(2000, 10, (2, 2), 3, mean_shift=shift, seed=seed)
            ceilings = _ceilings(sim)
            for preset in ("factorial", "hcl"):
                row = {"mean_shift": shift, "seed": seed, **_one(sim, preset, seed)}
                row |= {f"ari_ceiling_{g}": c for g, c in enumerate(ceilings)}
                rows.append(row)
                if log:
                    log(_factors_line(row))
    return pd.DataFrame(rows)


def _runtime_row(sim: FactorData, seed: int, m: int, k: int) -> dict:
    """One fit with ``m`` factors of ``k`` states: wall, compile, step rate and scores."""
    start = time.perf_counter()
    result = fit(sim.data, seed=seed, latent_factors=m, max_clusters=k, progress=False)
    timings = result.meta["timings"]
    return {
        "latent_factors": m,
        "states": k,
        "joint_states": k**m,
        "wall_s": time.perf_counter() - start,
        "compile_s": timings["compile_s"],
        "steps_per_s": timings["steps_per_s"],
        **factor_scores(result, sim),
    }


def run_factor_runtime(seed: int = 0, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Fits with m = 1 (8 clusters), 2 (3 states each) and 3 (2 and 3 states each) factors
    on one three-factor data set (n = 2000, d = 10): wall, compile and SVI step rate."""
    sim = simulate_factors(2000, 10, (2, 2, 2), 3, mean_shift=3.0, seed=seed)
    rows = []
    for m, k in ((1, 8), (2, 3), (3, 2), (3, 3)):
        row = _runtime_row(sim, seed, m, k)
        rows.append(row)
        if log:
            log(
                f"m={m} K={k} ({k**m} joint) wall {row['wall_s']:.1f}s compile "
                f"{row['compile_s']:.1f}s {row['steps_per_s']:.0f} steps/s"
            )
    return pd.DataFrame(rows)
