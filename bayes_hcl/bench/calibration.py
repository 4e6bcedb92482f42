"""Benchmarks of the posterior's calibration and of NUTS's speed (``bayes-hcl bench``).

* ``--suite exact``: one cluster, Gaussian, d = 3 and 4: max absolute difference between the
  exact edge probabilities (:mod:`bayes_hcl.bench.exact`) and those of NUTS and of SVI.
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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_hcl import metrics
from bayes_hcl.bench.exact import exact_edge_probabilities
from bayes_hcl.config import Config, ModelConfig, load_config
from bayes_hcl.data.prepared import PreparedData
from bayes_hcl.simulate import SimulatedData

if TYPE_CHECKING:
    from bayes_hcl.results import HCLResult

__all__ = [
    "chain_data",
    "draw_from_prior",
    "expected_calibration_error",
    "reliability_table",
    "run_calibration",
    "run_exact",
    "run_nuts_speed",
]


def _draw_weights(m: ModelConfig, d: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Edge weights of every ordered pair and their slab indicators (``rho ~ Beta``)."""
    mean = min(m.edge_density / d, 0.5)
    rho = rng.beta(mean * m.edge_prior_strength, (1 - mean) * m.edge_prior_strength, (d, d))
    mu = rng.normal(0.0, m.mechanism_scale, (d, d))
    slab = rng.uniform(size=(d, d)) < rho
    w = np.where(
        slab, mu + m.slab_scale * rng.normal(size=(d, d)), m.spike_scale * rng.normal(size=(d, d))
    )
    return w, slab


def _draw_shifted(
    base: np.ndarray, slab_sd: float, m: ModelConfig, rng: np.random.Generator
) -> np.ndarray:
    """``base`` plus a spike-and-slab shift per variable (slab with ``shift_prior``)."""
    on = rng.uniform(size=base.shape[0]) < m.shift_prior
    return base + np.where(on, slab_sd, m.shift_spike_scale) * rng.normal(size=base.shape[0])


def _sample_sem(
    b: np.ndarray,
    sigma: np.ndarray,
    weights: np.ndarray,
    order: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` rows of the linear-Gaussian SEM, variables drawn in causal ``order``."""
    x = np.zeros((n, b.shape[0]))
    for j in order:
        x[:, j] = b[j] + x @ weights[:, j] + sigma[j] * rng.normal(size=n)
    return x


def draw_from_prior(
    config: Config, d: int, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One dataset from the one-cluster model's prior: data ``(n, d)`` and the true DAG.

    Follows :func:`bayes_hcl.model.program.ordered_model` with ``max_clusters = 1`` site by site:
    a uniform order, ``rho ~ Beta``, slab indicators, weights, intercept and noise with their
    spike-and-slab shifts.
    """
    m = config.model
    w, slab = _draw_weights(m, d, rng)
    order = rng.permutation(d)
    rank = np.argsort(order)
    allowed = rank[:, None] < rank[None, :]
    b = _draw_shifted(rng.normal(0.0, 1.0, d), m.intercept_scale, m, rng)
    log_sigma = _draw_shifted(
        rng.normal(m.noise_loc, m.noise_scale, d), m.noise_shift_scale, m, rng
    )
    x = _sample_sem(b, np.exp(log_sigma), w * allowed, order, n, rng)
    return x, (slab & allowed).astype(int)


def _raw_data(x: np.ndarray) -> PreparedData:
    """``x`` as the model's input on its own scale: continuous, not standardised."""
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
    """NUTS's and its SVI start's ``P(i -> j)`` ``(d, d)`` on ``data``."""
    from bayes_hcl.inference.nuts.driver import fit_nuts

    fit = fit_nuts(data, config, seed=seed, progress=False)
    nuts = fit.draws["inclusion"].mean((0, 1)).max(0)
    svi = fit.svi.draws["inclusion"].mean(0).max(0)
    return nuts, svi


def _calibration_config() -> Config:
    """One cluster; short SVI and 2 NUTS chains (300 warm-up, 500 draws) per dataset."""
    return load_config(
        "hcl",
        model_overrides={"max_clusters": 1, "noise_family": "gaussian"},
        svi_overrides={"num_steps": 500, "num_restarts": 3},
        nuts_overrides={"num_warmup": 300, "num_samples": 500, "num_chains": 2},
    )


def _prior_predictions(
    config: Config,
    num_datasets: int,
    d: int,
    n: int,
    seed: int,
    log: Callable[[str], None],
    start: float,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """NUTS's and SVI's ``P(i -> j)`` of every off-diagonal pair, and the drawn truth."""
    rng = np.random.default_rng(seed)
    off_diagonal = ~np.eye(d, dtype=bool)
    preds: dict[str, list[np.ndarray]] = {"nuts": [], "svi": []}
    truth = []
    for r in range(num_datasets):
        x, dag = draw_from_prior(config, d, n, rng)
        nuts, svi = _fit_probabilities(_raw_data(x), config, seed + r)
        preds["nuts"].append(nuts[off_diagonal])
        preds["svi"].append(svi[off_diagonal])
        truth.append(dag[off_diagonal])
        log(f"dataset {r + 1}/{num_datasets}: {time.perf_counter() - start:.0f} s")
    return {method: np.concatenate(v) for method, v in preds.items()}, np.concatenate(truth)


def run_calibration(
    num_datasets: int = 50,
    d: int = 4,
    n: int = 100,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> tuple[pd.DataFrame, dict]:
    """Fit NUTS (and its SVI start) to datasets drawn from the prior; return the reliability
    tables of both and a dict of ECEs, timings and settings."""
    config = _calibration_config()
    start = time.perf_counter()
    preds, observed = _prior_predictions(config, num_datasets, d, n, seed, log, start)
    tables = [
        reliability_table(values, observed).assign(method=method)
        for method, values in preds.items()
    ]
    figures = {
        f"ece_{method}": expected_calibration_error(values, observed)
        for method, values in preds.items()
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


def _exact_config() -> Config:
    """One cluster; short SVI and 4 NUTS chains (500 warm-up, 1000 draws)."""
    return load_config(
        "hcl",
        model_overrides={"max_clusters": 1, "noise_family": "gaussian"},
        svi_overrides={"num_steps": 400, "num_restarts": 3},
        nuts_overrides={"num_warmup": 500, "num_samples": 1000, "num_chains": 4},
    )


def _exact_row(config: Config, d: int, seed: int, n: int) -> dict[str, float]:
    """Max ``|P - P_exact|`` of NUTS and SVI on one chain, and the samplers' wall time."""
    data = chain_data(d, n, seed)
    truth = exact_edge_probabilities(data.y, config.model)
    start = time.perf_counter()
    nuts, svi = _fit_probabilities(data, config, seed)
    return {
        "d": d,
        "seed": seed,
        "nuts_max_abs_error": float(np.abs(nuts - truth).max()),
        "svi_max_abs_error": float(np.abs(svi - truth).max()),
        "wall_s": time.perf_counter() - start,
    }


def run_exact(seeds: tuple[int, ...] = (0, 1, 2), n: int = 100) -> pd.DataFrame:
    """Max ``|P - P_exact|`` of NUTS and SVI on one-cluster chains, d = 3 and 4, per seed."""
    config = _exact_config()
    return pd.DataFrame([_exact_row(config, d, seed, n) for d in (3, 4) for seed in seeds])


def _nuts_speed_figures(result: HCLResult, sim: SimulatedData, wall: float) -> dict[str, Any]:
    """Wall time, timings, ESS (per second of sampling), R-hat and tree sizes of a NUTS fit."""
    conv = result.convergence()
    timings = result.meta["timings"]
    edges = conv["edge_probabilities"]
    return {
        "n": int(sim.data.shape[0]),
        "d": int(sim.data.shape[1]),
        "num_chains": conv["num_chains"],
        "num_draws": conv["num_draws"],
        "wall_s": wall,
        **{k: float(v) for k, v in timings.items()},
        "ess_bulk_min_edges": edges["ess_bulk_min"],
        "ess_per_s_edges": edges["ess_bulk_min"] / timings["sample_s"],
        "ess_bulk_loglik": conv["quantities"]["log_likelihood"]["ess_bulk"],
        "rhat_max_edges": edges["rhat_max"],
        "divergences": conv["divergences"],
        "tree_depth_saturation": conv["tree_depth_saturation"],
        "mean_tree_size": float(result.idata.sample_stats["tree_size"].mean()),
        "ari": float(metrics.adjusted_rand_index(sim.labels, result.clusters())),
    }


def run_nuts_speed(
    n_per_cluster: int = 1000, d: int = 10, seed: int = 0, log: Callable[[str], None] = print
) -> dict:
    """NUTS with the preset's chains on simulated data: wall time, ESS/s of the pooled edges."""
    from bayes_hcl.api import fit
    from bayes_hcl.simulate import simulate

    sim = simulate(n_per_cluster, d=d, n_clusters=2, seed=seed)
    start = time.perf_counter()
    result = fit(sim.data, method="nuts", seed=seed, progress=False)
    out = _nuts_speed_figures(result, sim, time.perf_counter() - start)
    log(str(out))
    return out
