"""Benchmarks of the posterior's calibration and of NUTS's speed (``bayes-hcl bench``).

* ``--suite exact``: one cluster, Gaussian, d = 3 and 4: max absolute difference between the
  exact edge probabilities (:mod:`bayes_hcl.exact`) and those of NUTS and of SVI.
* ``--suite calibration``: datasets drawn from the model's own prior (one cluster by default,
  data on the model's scale, no standardisation), each fitted by NUTS; every ordered pair's
  predicted ``P(i -> j)`` against whether the drawn DAG has the edge. Writes the reliability
  table and the expected calibration error (ECE, 10 equal-width bins) of NUTS and SVI.
* ``--suite nuts-speed``: 4 chains x (500 warm-up + 500 draws) on n = 2000, d = 10: wall
  time and ESS per second of the pooled edge probabilities.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from bayes_hcl.config import Config, load_config
from bayes_hcl.data.prepared import PreparedData

__all__ = [
    "chain_data",
    "draw_from_prior",
    "expected_calibration_error",
    "reliability_table",
    "run_calibration",
    "run_exact",
    "run_nuts_speed",
]


def draw_from_prior(config: Config, d: int, n: int, rng: np.random.Generator):
    """One dataset from the one-cluster model's prior: data ``(n, d)`` and the true DAG.

    Follows :func:`bayes_hcl.model.ordered_model` with ``max_clusters = 1`` site by site:
    a uniform order, ``rho ~ Beta``, slab indicators, weights, intercept and noise with their
    spike-and-slab shifts.
    """
    m = config.model
    mean = min(m.edge_density / d, 0.5)
    rho = rng.beta(mean * m.edge_prior_strength, (1 - mean) * m.edge_prior_strength, (d, d))
    mu = rng.normal(0.0, m.mechanism_scale, (d, d))
    slab = rng.uniform(size=(d, d)) < rho
    w = np.where(
        slab, mu + m.slab_scale * rng.normal(size=(d, d)), m.spike_scale * rng.normal(size=(d, d))
    )
    order = rng.permutation(d)
    rank = np.argsort(order)
    allowed = rank[:, None] < rank[None, :]

    def shifted(base, slab_sd):
        on = rng.uniform(size=d) < m.shift_prior
        return base + np.where(on, slab_sd, m.shift_spike_scale) * rng.normal(size=d)

    b = shifted(rng.normal(0.0, 1.0, d), m.intercept_scale)
    sigma = np.exp(shifted(rng.normal(m.noise_loc, m.noise_scale, d), m.noise_shift_scale))
    weights = w * allowed
    x = np.zeros((n, d))
    for j in order:
        x[:, j] = b[j] + x @ weights[:, j] + sigma[j] * rng.normal(size=n)
    return x, (slab & allowed).astype(int)


def _raw_data(x: np.ndarray) -> PreparedData:
    d = x.shape[1]
    zeros, ones = np.zeros(d), np.ones(d)
    return PreparedData(
        columns=tuple(f"X{j}" for j in range(d)),
        types=("continuous",) * d,
        y=x,
        x=x,
        center=zeros,
        scale=ones,
        offset=zeros,
    )


def reliability_table(predicted: np.ndarray, observed: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Predicted probability against observed frequency in equal-width bins."""
    predicted, observed = np.asarray(predicted, float), np.asarray(observed, float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(predicted, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        sel = idx == b
        rows.append(
            {
                "bin_low": edges[b],
                "bin_high": edges[b + 1],
                "count": int(sel.sum()),
                "mean_predicted": float(predicted[sel].mean()) if sel.any() else np.nan,
                "observed_frequency": float(observed[sel].mean()) if sel.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def expected_calibration_error(
    predicted: np.ndarray, observed: np.ndarray, bins: int = 10
) -> float:
    """``sum_b (n_b / N) |mean predicted_b - observed frequency_b|`` over non-empty bins."""
    table = reliability_table(predicted, observed, bins)
    table = table[table["count"] > 0]
    gap = (table.mean_predicted - table.observed_frequency).abs()
    return float((table["count"] * gap).sum() / table["count"].sum())


def _fit_probabilities(
    data: PreparedData, config: Config, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    from bayes_hcl.inference.nuts.driver import fit_nuts

    fit = fit_nuts(data, config, seed=seed, progress=False)
    nuts = fit.draws["inclusion"].mean((0, 1)).max(0)
    svi = fit.svi.draws["inclusion"].mean(0).max(0)
    return nuts, svi


def run_calibration(
    num_datasets: int = 50,
    d: int = 4,
    n: int = 100,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> tuple[pd.DataFrame, dict]:
    """Fit NUTS (and its SVI start) to datasets drawn from the prior; return the reliability
    tables of both and a dict of ECEs, timings and settings."""
    config = load_config(
        "hcl",
        model_overrides={"max_clusters": 1},
        svi_overrides={"num_steps": 500, "num_restarts": 3},
        nuts_overrides={"num_warmup": 300, "num_samples": 500, "num_chains": 2},
    )
    rng = np.random.default_rng(seed)
    off_diagonal = ~np.eye(d, dtype=bool)
    preds = {"nuts": [], "svi": []}
    truth = []
    start = time.perf_counter()
    for r in range(num_datasets):
        x, dag = draw_from_prior(config, d, n, rng)
        nuts, svi = _fit_probabilities(_raw_data(x), config, seed + r)
        preds["nuts"].append(nuts[off_diagonal])
        preds["svi"].append(svi[off_diagonal])
        truth.append(dag[off_diagonal])
        log(f"dataset {r + 1}/{num_datasets}: {time.perf_counter() - start:.0f} s")
    observed = np.concatenate(truth)
    tables = []
    for method, values in preds.items():
        table = reliability_table(np.concatenate(values), observed)
        tables.append(table.assign(method=method))
    figures = {
        f"ece_{method}": expected_calibration_error(np.concatenate(v), observed)
        for method, v in preds.items()
    }
    figures |= {
        "num_datasets": num_datasets,
        "d": d,
        "n": n,
        "predictions": int(observed.size),
        "edge_rate": float(observed.mean()),
        "wall_s": time.perf_counter() - start,
        "config": dataclasses.asdict(config),
    }
    return pd.concat(tables, ignore_index=True), figures


def chain_data(d: int, n: int = 100, seed: int = 0) -> PreparedData:
    """A standardised linear-Gaussian chain X0 -> X1 -> ... (plus X1 -> X3 when d = 4): the
    one-cluster data of the exact check."""
    from bayes_hcl.data.prepared import prepare

    rng = np.random.default_rng(seed)
    x = np.zeros((n, d))
    for j in range(d):
        x[:, j] = rng.normal(size=n) + (0.6 * x[:, j - 1] if j else 0.0)
    if d == 4:
        x[:, 3] += 0.5 * x[:, 1]
    return prepare(pd.DataFrame(x, columns=[f"X{j}" for j in range(d)]))


def run_exact(seeds: tuple[int, ...] = (0, 1, 2), n: int = 100) -> pd.DataFrame:
    """Max ``|P - P_exact|`` of NUTS and SVI on one-cluster chains, d = 3 and 4, per seed."""
    from bayes_hcl.bench.exact import exact_edge_probabilities

    config = load_config(
        "hcl",
        model_overrides={"max_clusters": 1},
        svi_overrides={"num_steps": 400, "num_restarts": 3},
        nuts_overrides={"num_warmup": 500, "num_samples": 1000, "num_chains": 4},
    )
    rows = []
    for d in (3, 4):
        for seed in seeds:
            data = chain_data(d, n, seed)
            truth = exact_edge_probabilities(data.y, config.model)
            start = time.perf_counter()
            nuts, svi = _fit_probabilities(data, config, seed)
            rows.append(
                {
                    "d": d,
                    "seed": seed,
                    "nuts_max_abs_error": float(np.abs(nuts - truth).max()),
                    "svi_max_abs_error": float(np.abs(svi - truth).max()),
                    "wall_s": time.perf_counter() - start,
                }
            )
    return pd.DataFrame(rows)


def run_nuts_speed(
    n_per_cluster: int = 1000, d: int = 10, seed: int = 0, log: Callable[[str], None] = print
) -> dict:
    """NUTS with the preset's chains on simulated data: wall time, ESS/s of the pooled edges."""
    from bayes_hcl.api import fit
    from bayes_hcl.simulate.sem import simulate

    sim = simulate(n_per_cluster, d=d, n_clusters=2, seed=seed)
    start = time.perf_counter()
    result = fit(sim.data, method="nuts", seed=seed, progress=False)
    wall = time.perf_counter() - start
    conv = result.convergence()
    timings = result.meta["timings"]
    sample_s = timings["sample_s"]
    out = {
        "n": int(sim.data.shape[0]),
        "d": d,
        "num_chains": conv["num_chains"],
        "num_draws": conv["num_draws"],
        "wall_s": wall,
        **{k: float(v) for k, v in timings.items()},
        "ess_bulk_min_edges": conv["edge_probabilities"]["ess_bulk_min"],
        "ess_per_s_edges": conv["edge_probabilities"]["ess_bulk_min"] / sample_s,
        "ess_bulk_loglik": conv["quantities"]["log_likelihood"]["ess_bulk"],
        "rhat_max_edges": conv["edge_probabilities"]["rhat_max"],
        "divergences": conv["divergences"],
        "tree_depth_saturation": conv["tree_depth_saturation"],
        "mean_tree_size": float(result.idata.sample_stats["tree_size"].mean()),
        "ari": float(
            __import__("bayes_hcl").metrics.adjusted_rand_index(sim.labels, result.clusters())
        ),
    }
    log(str(out))
    return out
