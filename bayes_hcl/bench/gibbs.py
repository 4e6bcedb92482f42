"""The ``gibbs`` suite: the Gibbs sampler against exact enumeration, on the two-variable
mechanism-change design, and its speed and convergence at n = 2000, d = 10.

* ``gibbs-exact.csv``: max ``|P - P_exact|`` of Gibbs and of SVI on one-cluster chains
  (d = 3, 4; :mod:`bayes_hcl.bench.exact`), per seed.
* ``gibbs-mechanism.csv``: two variables, two populations of 1,000 rows in which only the
  effect's mechanism changes (``B = 1.5 A + 0.5 e`` and ``B = -1.5 A + e``); per seed and
  method, the pooled ``P(A -> B)``, ``P(B -> A)``, ``P(no edge)`` and the identifiability
  verdict with its evidence.
* ``gibbs-speed.csv``: one fit per method (SVI, Gibbs) of two simulated populations
  (n = 2000, d = 10) in this process, the first fit of its shape (compilation included):
  wall time, R-hat and bulk ESS of the label-invariant quantities, ESS per second, ARI
  against the truth and its ceiling, and pooled edge F1.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from bayes_hcl import metrics
from bayes_hcl.api import fit
from bayes_hcl.bench.calibration import chain_data
from bayes_hcl.bench.exact import exact_edge_probabilities
from bayes_hcl.bench.registry import SuiteOptions
from bayes_hcl.config import load_config
from bayes_hcl.simulate import simulate

__all__ = [
    "gibbs_suite",
    "mechanism_change_data",
    "run_gibbs_exact",
    "run_gibbs_speed",
    "run_mechanism_change",
]


def run_gibbs_exact(seeds: tuple[int, ...] = (0, 1, 2), n: int = 100) -> pd.DataFrame:
    """Max ``|P - P_exact|`` of Gibbs (4 chains x 1000 draws) and SVI, d = 3 and 4."""
    config = load_config(
        "hcl",
        model_overrides={"max_clusters": 1, "noise_family": "gaussian"},
        svi_overrides={"num_steps": 400, "num_restarts": 3},
        gibbs_overrides={"num_warmup": 200, "num_samples": 1000, "num_chains": 4},
    )
    rows = []
    for d in (3, 4):
        for seed in seeds:
            data = chain_data(d, n, seed)
            truth = exact_edge_probabilities(data.y, config.model)
            start = time.perf_counter()
            result = fit(data, model=config, method="gibbs", seed=seed, progress=False)
            wall = time.perf_counter() - start
            svi = fit(data, model=config, method="svi", seed=seed, progress=False)
            conv = result.convergence()["edge_probabilities"]
            rows.append(
                {
                    "d": d,
                    "seed": seed,
                    "gibbs_max_abs_error": _max_error(result, truth),
                    "svi_max_abs_error": _max_error(svi, truth),
                    "gibbs_rhat_max": conv["rhat_max"],
                    "gibbs_ess_bulk_min": conv["ess_bulk_min"],
                    "gibbs_wall_s": wall,
                }
            )
    return pd.DataFrame(rows)


def _max_error(result, truth: np.ndarray) -> float:
    return float(np.abs(result.edge_probabilities().to_numpy() - truth).max())


def mechanism_change_data(seed: int, n: int = 1000) -> pd.DataFrame:
    """Two populations in which only the effect's mechanism changes (A -> B identifiable)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(2, n))
    b = np.stack([1.5 * a[0] + 0.5 * rng.normal(size=n), -1.5 * a[1] + rng.normal(size=n)])
    return pd.DataFrame({"A": a.ravel(), "B": b.ravel()})


def run_mechanism_change(seeds: tuple[int, ...] = (0, 1, 2)) -> pd.DataFrame:
    """Per seed and method: pooled edge probabilities and the verdict on the A, B pair."""
    rows = []
    for seed in seeds:
        frame = mechanism_change_data(seed)
        for method in ("svi", "gibbs"):
            start = time.perf_counter()
            # both methods fit the Gaussian model, the one the sampler takes
            result = fit(frame, method=method, seed=seed, noise="gaussian", progress=False)
            p = result.edge_probabilities()
            (entry,) = [e for e in result.identifiability()["edges"] if e["cause"] in "AB"]
            forward = entry["cause"] == "A"
            rows.append(
                {
                    "seed": seed,
                    "method": method,
                    "p_a_to_b": float(p.loc["A", "B"]),
                    "p_b_to_a": float(p.loc["B", "A"]),
                    "p_none": float(entry["p_none"]),
                    "status": entry["status"],
                    "reason": entry["reason"],
                    "evidence_for_a_to_b": _signed(entry["delta_evidence"], forward),
                    "n_clusters_mode": int(result.n_clusters().idxmax()),
                    "wall_s": time.perf_counter() - start,
                }
            )
    return pd.DataFrame(rows)


def _signed(value, forward: bool) -> float:
    if value is None:
        return float("nan")
    return float(value) if forward else -float(value)


def run_gibbs_speed(seed: int = 0) -> pd.DataFrame:
    """SVI and Gibbs fits of two populations, n = 2000, d = 10 (compilation included)."""
    sim = simulate(1000, d=10, n_clusters=2, seed=seed)
    truth = (np.asarray(sim.adjacency).sum(0) > 0).astype(int)
    ceiling = metrics.adjusted_rand_index(sim.labels, sim.bayes_labels())
    rows = []
    for method in ("svi", "gibbs"):
        start = time.perf_counter()
        result = fit(sim.data, method=method, seed=seed, noise="gaussian", progress=False)
        rows.append(_speed_row(result, sim, truth, ceiling, time.perf_counter() - start))
    return pd.DataFrame(rows)


def _speed_row(result, sim, truth: np.ndarray, ceiling: float, wall: float) -> dict[str, Any]:
    pooled = result.edge_probabilities().to_numpy()
    row = {
        "method": result.method,
        "seed": result.seed,
        "wall_s": wall,
        "sample_s": result.meta["timings"].get("sample_s", np.nan),
        "ari": metrics.adjusted_rand_index(sim.labels, result.clusters()),
        "ari_ceiling": ceiling,
        "edge_f1": metrics.edge_scores(truth, (pooled >= 0.5).astype(int))["f1"],
        "n_clusters_mode": int(result.n_clusters().idxmax()),
    }
    conv = result.convergence()
    if result.method != "svi":
        quantities = conv["quantities"]
        ess = min(q["ess_bulk"] for q in quantities.values())
        row.update(
            rhat_log_likelihood=quantities["log_likelihood"]["rhat"],
            rhat_edges_max=conv["edge_probabilities"]["rhat_max"],
            ess_bulk_min=min(ess, conv["edge_probabilities"]["ess_bulk_min"]),
            ess_per_s=min(ess, conv["edge_probabilities"]["ess_bulk_min"]) / wall,
        )
    return row


def gibbs_suite(options: SuiteOptions) -> pd.DataFrame:
    """``gibbs``: seeds ``0..repeats-1``; writes ``gibbs-exact.csv``, ``gibbs-mechanism.csv``
    and ``gibbs-speed.csv`` (seed 0) and returns the exact table."""
    seeds = tuple(range(options.seeds))
    exact = run_gibbs_exact(seeds)
    options.write_csv("gibbs-exact.csv", exact)
    options.echo(exact.to_string(index=False))
    mechanism = run_mechanism_change(seeds)
    options.write_csv("gibbs-mechanism.csv", mechanism)
    options.echo(mechanism.to_string(index=False))
    speed = run_gibbs_speed()
    options.write_csv("gibbs-speed.csv", speed)
    options.echo(speed.to_string(index=False))
    return exact
