"""How a fit's cost grows with rows, variables and clusters, and how it compares with GES.

Every setting is fitted in a fresh Python process with JAX's persistent compilation cache off,
so each row holds what a first run costs: wall time of ``fit``, compile time, steady SVI
steps per second, the order search's time, and the process's peak resident memory. The
recovery of the simulated truth (ARI, pooled F1, AUPRC) is recorded beside it, so a faster
setting cannot hide a worse answer. ``run_ges_ratio`` times pooled GES (causal-learn) and
bayes_hcl on the same data in one process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from bayes_hcl.bench.baselines import ges, standardise

__all__ = [
    "MINIBATCH_GRID",
    "SCALING_GRID",
    "cost_model",
    "run_ges_ratio",
    "run_minibatch",
    "run_scaling",
    "run_speed",
]

#: ``(rows per cluster, variables, max_clusters)`` of the scaling suite (two clusters each).
SCALING_GRID: tuple[tuple[int, int, int], ...] = (
    (1000, 10, 8),
    (2500, 10, 8),
    (5000, 10, 8),
    (1000, 20, 8),
    (1000, 50, 8),
    (5000, 50, 8),
    (1000, 100, 8),
    (1000, 10, 4),
    (1000, 10, 16),
)

#: ``(rows per cluster, variables, max_clusters, batch_size)`` of the minibatch suite: the
#: issue's n = 10⁶ fit (automatic batch), a full-batch/minibatch pair at n = 20,000, and
#: n = 10,000, d = 50 by minibatches (``None``: the preset's automatic choice).
MINIBATCH_GRID: tuple[tuple[int, int, int, int | None], ...] = (
    (500_000, 10, 8, None),
    (10_000, 10, 8, None),
    (10_000, 10, 8, 2048),
    (5_000, 50, 8, 2048),
)

_SCALING_FIT = """
import json, resource, time
start = time.perf_counter()
import numpy as np
from bayes_hcl import metrics
from bayes_hcl.api import fit
from bayes_hcl.simulate import simulate
sim = simulate({n}, d={d}, n_clusters=2, seed={seed})
begin = time.perf_counter()
result = fit(sim.data, seed={seed}, max_clusters={k}, batch_size={batch}, progress=False)
end = time.perf_counter()
probs = result.edge_probabilities().to_numpy()
summary = result.summary()
after = time.perf_counter()
print(json.dumps({{
    "wall_s": end - begin,
    "process_s": end - start,
    "summary_s": after - end,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    "batch_size": result.meta["batch_size"],
    "ari": metrics.adjusted_rand_index(sim.labels, result.clusters()),
    **{{k: v for k, v in metrics.edge_scores(sim.pooled_adjacency, probs >= 0.5).items()
        if k in ("f1", "precision", "recall")}},
    "auprc": metrics.auprc(sim.pooled_adjacency, probs),
    **result.meta["timings"],
}}))
"""


def _fresh_fit(
    n_per_cluster: int, d: int, k: int, seed: int, batch_size: int | None = None
) -> dict:
    """One scaling fit in a fresh Python process with the persistent compilation cache off."""
    env = {**os.environ, "BAYES_HCL_CACHE_DIR": "off", "CI": "true"}
    code = _SCALING_FIT.format(n=n_per_cluster, d=d, k=k, seed=seed, batch=batch_size)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"scaling fit n={2 * n_per_cluster} d={d} K={k} failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _scaling_line(row: dict[str, Any]) -> str:
    """Progress of one scaling fit: time, compile, speed, search, memory and recovery."""
    return (
        f"n={row['n']:<6} d={row['d']:<4} K={row['max_clusters']:<3} wall {row['wall_s']:.1f}s "
        f"compile {row['compile_s']:.1f}s {row['steps_per_s']:.0f} steps/s "
        f"search {row['order_search_s']:.1f}s peak {row['peak_rss_mb']:.0f} MB "
        f"ARI {row['ari']:.2f} F1 {row['f1']:.2f}"
    )


def _minibatch_line(row: dict[str, Any]) -> str:
    """Progress of one minibatch fit: batch, times, speed, memory and recovery."""
    return (
        f"n={row['n']:<8} d={row['d']:<3} batch={row['batch_size']:<5} wall "
        f"{row['wall_s']:.1f}s SVI {row['run_s']:.1f}s ({row['steps_per_s']:.0f} "
        f"steps/s) search {row['order_search_s']:.1f}s draws {row['draws_s']:.1f}s "
        f"peak {row['peak_rss_mb']:.0f} MB ARI {row['ari']:.2f} F1 {row['f1']:.2f}"
    )


def _fresh_fits(
    grid: tuple[tuple[int, int, int, int | None], ...],
    repeats: int,
    log: Callable[[str], None] | None,
    line: Callable[[dict[str, Any]], str],
) -> pd.DataFrame:
    """A fresh-process fit per ``(rows per cluster, d, K, batch)`` and seed; one row each."""
    rows = []
    for n_per_cluster, d, k, batch in grid:
        for seed in range(max(repeats, 1)):
            row = {"n": 2 * n_per_cluster, "d": d, "max_clusters": k, "seed": seed}
            row |= _fresh_fit(n_per_cluster, d, k, seed, batch)
            rows.append(row)
            if log:
                log(line(row))
    return pd.DataFrame(rows)


def run_scaling(
    repeats: int = 1,
    grid: tuple[tuple[int, int, int], ...] = SCALING_GRID,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Cold fits over ``grid`` (seeds ``0..repeats-1``); one row per fit.

    Columns: ``n``, ``d``, ``max_clusters``, ``seed``, ``wall_s`` (the ``fit`` call),
    ``process_s`` (with interpreter start and imports), ``compile_s``, ``run_s``,
    ``steps_per_s`` (SVI steps of one restart per second), ``restart_steps_per_s``,
    ``order_search_s``, ``peak_rss_mb`` (the process's peak resident memory), ``ari``,
    ``f1`` and ``auprc``. Per-step cost should grow like ``n · K · d²`` (the linear
    predictors of every row, cluster and variable); :func:`cost_model` fits that.
    """
    cells = tuple((n, d, k, None) for n, d, k in grid)
    return _fresh_fits(cells, repeats, log, _scaling_line)


def run_minibatch(
    repeats: int = 1,
    grid: tuple[tuple[int, int, int, int | None], ...] = MINIBATCH_GRID,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Cold fits over ``grid`` in fresh processes (seeds ``0..repeats-1``): the columns of
    :func:`run_scaling` plus ``batch_size`` (0: the full batch) and ``summary_s`` (the
    time of ``result.summary()`` after the fit)."""
    return _fresh_fits(grid, repeats, log, _minibatch_line)


def cost_model(table: pd.DataFrame) -> pd.DataFrame:
    """Seconds per SVI step against ``n · K · d²``, per setting (median over seeds).

    ``us_per_unit`` is the step time divided by ``n · K · d²`` in microseconds: constant
    where the linear predictor dominates, larger where fixed per-step costs do.
    """
    per_fit = table.assign(step_ms=1e3 / table["steps_per_s"])
    keys = ["n", "d", "max_clusters"]
    med = per_fit.groupby(keys, as_index=False)["step_ms"].median()
    units = med["n"] * med["max_clusters"] * med["d"] ** 2
    med["us_per_unit"] = 1e3 * med["step_ms"] / units
    return med[["n", "d", "max_clusters", "step_ms", "us_per_unit"]]


def run_ges_ratio(
    n_per_cluster: int = 1500, d: int = 20, repeats: int = 3, seed: int = 0
) -> pd.DataFrame:
    """bayes_hcl against pooled GES (causal-learn, BIC) on the same data, in one process.

    bayes_hcl's first fit compiles (its time is recorded as ``compile``); the next
    ``repeats`` fits use new seeds on the same shape. GES runs ``repeats`` times.
    """
    from bayes_hcl.api import fit
    from bayes_hcl.simulate import simulate

    sim = simulate(n_per_cluster, d=d, n_clusters=2, seed=seed)
    x = standardise(sim)
    rows = []
    for r in range(repeats + 1):
        start = time.perf_counter()
        fit(sim.data, seed=r, progress=False)
        kind = "bayes_hcl (first fit, compiles)" if r == 0 else "bayes_hcl"
        rows.append({"method": kind, "run": r, "wall_s": time.perf_counter() - start})
    for r in range(repeats):
        start = time.perf_counter()
        ges(x)
        rows.append({"method": "ges_pooled", "run": r, "wall_s": time.perf_counter() - start})
    return pd.DataFrame(rows)


_COLD_FIT = """
import json, sys, time
start = time.perf_counter()
from bayes_hcl.api import fit
from bayes_hcl.simulate import simulate
sim = simulate({n}, d={d}, n_clusters=2, seed=0)
begin = time.perf_counter()
result = fit(sim.data, seed={seed}, progress=False)
end = time.perf_counter()
print(json.dumps({{"wall_s": end - begin, "process_s": end - start, **result.meta["timings"]}}))
"""


def _cold_fit(n_per_cluster: int, d: int, seed: int) -> dict:
    """One fit in a fresh Python process with the persistent compilation cache off."""
    env = {**os.environ, "BAYES_HCL_CACHE_DIR": "off", "CI": "true"}
    code = _COLD_FIT.format(n=n_per_cluster, d=d, seed=seed)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_speed(n_per_cluster: int = 1000, d: int = 10, repeats: int = 3) -> pd.DataFrame:
    """End-to-end ``fit`` time on one shape (two clusters of ``n_per_cluster`` rows).

    ``cold`` rows: a fit in a fresh Python process with JAX's persistent compilation cache
    off, so every program compiles (``process_s`` adds interpreter start and imports).
    ``warm`` rows: new seeds on the same shape in this process, which must not compile again.
    Each row has the fit's wall time, compile and run times, and the steady-state SVI speed
    (steps of one restart per second, and restart-steps per second); report medians.
    """
    from bayes_hcl.api import fit
    from bayes_hcl.simulate import simulate

    rows = [{"fit": "cold", "seed": s, **_cold_fit(n_per_cluster, d, s)} for s in range(repeats)]
    sim = simulate(n_per_cluster, d=d, n_clusters=2, seed=0)
    for seed in range(repeats + 1):
        start = time.perf_counter()
        result = fit(sim.data, seed=seed, progress=False)
        if seed == 0:
            continue  # this process's own first fit compiles (or reads the cache)
        rows.append(
            {"fit": "warm", "seed": seed, "wall_s": time.perf_counter() - start}
            | result.meta["timings"]
        )
    keep = ["fit", "seed", "wall_s", "process_s", "compile_s", "run_s", "order_search_s"]
    keep += ["steps_per_s", "restart_steps_per_s"]
    return pd.DataFrame(rows).reindex(columns=keep)
