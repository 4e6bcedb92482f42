"""Synthetic benchmark: bayes_hcl against GES baselines on the same simulated data.

Baselines (need the ``bench`` extra: causal-learn, scikit-learn; see
``bayes_hcl.bench.baselines``), run in the same process on the same standardised data:

* ``ges_pooled``  — GES (BIC) on all rows, ignoring heterogeneity;
* ``gmm_ges``     — Gaussian mixture (full covariance, K by BIC in 1..5), then GES per cluster;
* ``ges_oracle``  — GES per cluster given the *true* labels (a reference ceiling).

Scores: ARI of the partition (with ``ari_ceiling``, the ARI of a classifier that knows every
true parameter: what the true parameters give on this sample, matched by a good fit within
sampling noise and exceeded by chance on a finite sample), pooled directed F1 (an
undirected CPDAG edge earns half credit if the true graph has it in either direction; for
bayes_hcl the pooled edge probabilities >= 0.5, and ``f1_cpdag`` with the edges its
identifiability report cannot orient undirected, see
:func:`bayes_hcl.results.identifiability.rules.cpdag_adjacency`), mean
per-cluster F1 (clusters matched by the Hungarian assignment), AUPRC of the pooled scores,
and wall time. Run it with ``bayes-hcl bench --suite full`` (or :func:`run_bench`, which runs
any suite of the table in ``bayes_hcl.bench.registry``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_hcl import metrics
from bayes_hcl.bench.baselines import gmm_labels, per_cluster_ges, pooled_graph, standardise
from bayes_hcl.bench.registry import SUITES, SuiteOptions, get_suite
from bayes_hcl.bench.sachs import run_sachs  # the real-data suite, documented with these
from bayes_hcl.results import HCLResult
from bayes_hcl.results.identifiability import IdentifiabilityReport
from bayes_hcl.results.identifiability.rules import cpdag_adjacency
from bayes_hcl.simulate import SimulatedData, simulate

__all__ = [
    "SETTINGS",
    "SUITES",
    "Setting",
    "identified_scores",
    "median_table",
    "run_bench",
    "run_identifiability",
    "run_sachs",
    "run_setting",
    "run_settings",
]

#: A method's function: no arguments, returns its scores.
Method = Callable[[], dict[str, Any]]
#: Formats a finished row (and its seed) into one progress line.
RowLine = Callable[[dict[str, Any], int], str]


@dataclass(frozen=True)
class Setting:
    """One simulated setting of the suite."""

    name: str
    d: int
    n_clusters: int
    n_per_cluster: int = 500
    kwargs: dict[str, Any] = field(default_factory=dict)
    presets: tuple[str, ...] = ("hcl",)

    def data(self, seed: int) -> SimulatedData:
        """The simulated data of this setting for one seed."""
        return simulate(
            self.n_per_cluster, d=self.d, n_clusters=self.n_clusters, seed=seed, **self.kwargs
        )


MECHANISM_ONLY = {"mean_shift": 0.0, "noise_shift": 0.0, "weight_change": 0.6}
#: Issue #6's mixed setting: 30 % binary, 20 % counts, 10 % categorical (3 levels).
MIXED_CATEGORICAL = {"binary_fraction": 0.3, "count_fraction": 0.2, "categorical_fraction": 0.1}
MIXED = [
    Setting("d10-K2-mixed", 10, 2, kwargs={"binary_fraction": 0.3, "count_fraction": 0.2}),
    Setting("d10-K2-mixed-categorical", 10, 2, kwargs=MIXED_CATEGORICAL),
]
SETTINGS: dict[str, list[Setting]] = {
    "quick": [Setting("d5-K2", 5, 2, 300)],
    "full": [
        *(Setting(f"d{d}-K{k}", d, k) for d in (5, 10, 20) for k in (1, 2, 3)),
        Setting("d10-K2-mechanism-only", 10, 2, kwargs=MECHANISM_ONLY),
        Setting(
            "d10-K2-non-gaussian", 10, 2, kwargs={"noise": "exponential"}, presets=("hcl", "robust")
        ),
        *MIXED,
    ],
    "mixed": MIXED,
}


def _scores(
    sim: SimulatedData,
    labels: np.ndarray,
    graphs: dict[int, np.ndarray],
    pooled_scores: np.ndarray,
) -> dict[str, Any]:
    """ARI, clusters found, pooled and per-cluster F1, AUPRC of one method's answer."""
    truth = {k: sim.adjacency[k] for k in range(sim.adjacency.shape[0])}
    pooled = pooled_graph(graphs)
    per = metrics.per_cluster_edge_scores(truth, graphs, sim.labels, labels)
    return {
        "ari": metrics.adjusted_rand_index(sim.labels, labels),
        "k_found": len(graphs),
        "f1": metrics.edge_scores(sim.pooled_adjacency, pooled)["f1"],
        "cluster_f1": float(per.f1.mean()),
        "auprc": metrics.auprc(sim.pooled_adjacency, pooled_scores),
    }


def _method_name(preset: str) -> str:
    """``bayes_hcl`` for the default preset, ``bayes_hcl[preset]`` for another."""
    return "bayes_hcl" if preset == "hcl" else f"bayes_hcl[{preset}]"


def _pooled_f1s(sim: SimulatedData, result: HCLResult, pooled: np.ndarray) -> dict[str, float]:
    """bayes_hcl's pooled F1 at P >= 0.5, and with its unorientable edges undirected.

    The pooled graph of bayes_hcl comes from the pooled probabilities (not a union of
    per-cluster graphs); ``f1_cpdag`` undirects what the identifiability report cannot orient.
    """
    cpdag = cpdag_adjacency(pooled, result.identifiability(), list(sim.data.columns))
    return {
        "f1": metrics.edge_scores(sim.pooled_adjacency, pooled >= 0.5)["f1"],
        "f1_cpdag": metrics.edge_scores(sim.pooled_adjacency, cpdag)["f1"],
    }


def _run_bayes_hcl(sim: SimulatedData, seed: int, preset: str = "hcl") -> dict[str, Any]:
    """Fit bayes_hcl with ``preset`` and score its clusters, graphs and report."""
    from bayes_hcl.api import fit

    result = fit(sim.data, model=preset, seed=seed, progress=False)
    labels = result.clusters()
    graphs = {
        k: (result.edge_probabilities(k).to_numpy() >= 0.5).astype(int)
        for k in result.occupied_clusters()
    }
    pooled = result.edge_probabilities().to_numpy()
    out = _scores(sim, labels, graphs, pooled)
    out.update(_pooled_f1s(sim, result, pooled))
    out["p_k_true"] = float(result.n_clusters().get(sim.adjacency.shape[0], 0.0))
    out.update(identified_scores(sim, result.identifiability()))
    timings = result.meta["timings"]
    out.update(compile_s=timings["compile_s"], steps_per_s=timings["steps_per_s"])
    return out


def identified_scores(sim: SimulatedData, report: IdentifiabilityReport) -> dict[str, Any]:
    """How the edges the report calls ``identified`` compare with the true pooled graph.

    ``ident_correct``: the true graph has the edge in the stated direction;
    ``ident_reversed``: it has it the other way; ``ident_absent``: the pair is not adjacent
    in any cluster. Also the count per status, the reasons used and the heterogeneity
    verdict.
    """
    truth = sim.pooled_adjacency
    index = {name: k for k, name in enumerate(sim.data.columns)}
    out = {"ident_correct": 0, "ident_reversed": 0, "ident_absent": 0}
    reasons: dict[str, int] = {}
    for entry in report["edges"]:
        if entry["status"] != "identified":
            continue
        i, j = index[entry["cause"]], index[entry["effect"]]
        key = "correct" if truth[i, j] else "reversed" if truth[j, i] else "absent"
        out[f"ident_{key}"] += 1
        reasons[entry["reason"]] = reasons.get(entry["reason"], 0) + 1
    counts = report.counts
    out.update(
        n_identified=counts["identified"],
        n_ambiguous=counts["orientation ambiguous"],
        n_true_adjacent=int(np.triu(truth | truth.T).sum()),
        reasons=";".join(f"{k}:{v}" for k, v in sorted(reasons.items())),
        heterogeneity=report["clusters"]["heterogeneity"],
    )
    return out


def _run_baseline(name: str, sim: SimulatedData, seed: int) -> dict[str, Any]:
    """One GES baseline (``ges_pooled``, ``gmm_ges`` or ``ges_oracle``), scored."""
    x = standardise(sim)
    if name == "ges_pooled":
        labels = np.zeros(len(x), dtype=int)
    elif name == "gmm_ges":
        labels = gmm_labels(x, seed)
    else:
        labels = sim.labels
    graphs = per_cluster_ges(x, labels)
    return _scores(sim, labels, graphs, pooled_graph(graphs).astype(float))


def _methods(
    setting: Setting, sim: SimulatedData, seed: int, baselines: bool
) -> list[tuple[str, Method]]:
    """The methods run on one data set: a bayes_hcl fit per preset, then the baselines."""
    methods: list[tuple[str, Method]] = [
        (_method_name(preset), lambda preset=preset: _run_bayes_hcl(sim, seed, preset))
        for preset in setting.presets
    ]
    if baselines:
        methods += [
            (m, lambda m=m: _run_baseline(m, sim, seed))
            for m in ("ges_pooled", "gmm_ges", "ges_oracle")
        ]
    return methods


def run_setting(setting: Setting, seed: int, baselines: bool = True) -> list[dict]:
    """Every method on one simulated data set; one row of scores per method."""
    sim = setting.data(seed)
    methods = _methods(setting, sim, seed, baselines)
    # a reference, not a bound: the ARI of a classifier that knows every true parameter on this
    # sample (a fit matches it within sampling noise and can exceed it by chance)
    ceiling = metrics.adjusted_rand_index(sim.labels, sim.bayes_labels())
    rows = []
    for method, run in methods:
        start = time.perf_counter()
        scores = run()
        wall = time.perf_counter() - start
        row = {"setting": setting.name, "seed": seed, "method": method, "wall_s": wall}
        rows.append({**row, **scores, "ari_ceiling": ceiling})
    return rows


def _scores_line(row: dict[str, Any], seed: int) -> str:
    """The progress line of a scored row: ARI (and its ceiling), F1s and wall time."""
    return (
        f"{row['setting']:<24} seed {seed} {row['method']:<10} ARI "
        f"{row['ari']:.3f} (ceiling {row['ari_ceiling']:.3f}) F1 {row['f1']:.3f}"
        f" cluster-F1 {row['cluster_f1']:.3f} {row['wall_s']:.1f}s"
    )


def run_settings(
    settings: list[Setting],
    repeats: int = 1,
    baselines: bool = True,
    log: Callable[[str], None] | None = None,
    line: RowLine = _scores_line,
) -> list[dict[str, Any]]:
    """:func:`run_setting` over ``settings`` and seeds ``0..repeats-1``.

    Parameters
    ----------
    settings : list of Setting
        The settings, run in order.
    repeats : int
        Seeds per setting.
    baselines : bool
        Run the GES baselines (needs the ``bench`` extra).
    log : callable, optional
        Called with ``line(row, seed)`` for every finished method.
    line : callable
        Formats a row into its progress line (default: ARI, F1s and wall time).

    Returns
    -------
    list of dict
        One row per setting, seed and method.
    """
    rows = []
    for setting in settings:
        for seed in range(repeats):
            for row in run_setting(setting, seed, baselines):
                rows.append(row)
                if log:
                    log(line(row, seed))
    return rows


def median_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Medians over seeds of every numeric column, per setting and method.

    Parameters
    ----------
    raw : pandas.DataFrame
        Rows of :func:`run_settings`.

    Returns
    -------
    pandas.DataFrame
        One row per setting and method, in the order they ran.
    """
    numeric = raw.drop(columns=["seed"]).groupby(["setting", "method"], sort=False)
    return numeric.median(numeric_only=True).reset_index()


def _identified_line(row: dict[str, Any], seed: int) -> str:
    """The progress line of the identifiability suite: identified edges against the truth."""
    return (
        f"{row['setting']:<24} seed {seed} {row['method']:<20} identified "
        f"{row['n_identified']:>2} (correct {row['ident_correct']}, reversed "
        f"{row['ident_reversed']}, absent {row['ident_absent']}) of "
        f"{row['n_true_adjacent']} true; {row['heterogeneity']}"
    )


def _identified_summary(raw: pd.DataFrame) -> dict[str, Any]:
    """Totals over all fits of the identified edges: correct, reversed, absent, precision."""
    total = raw[["ident_correct", "ident_reversed", "ident_absent"]].sum()
    called = int(total.sum())
    return {
        "fits": len(raw),
        "identified": called,
        "correct": int(total.ident_correct),
        "reversed": int(total.ident_reversed),
        "absent": int(total.ident_absent),
        "precision": float(total.ident_correct / called) if called else float("nan"),
        "orientation_accuracy": float(
            total.ident_correct / max(1, total.ident_correct + total.ident_reversed)
        ),
        "true_adjacencies": int(raw.n_true_adjacent.sum()),
    }


def run_identifiability(repeats: int = 3, log: Callable[[str], None] | None = None) -> tuple:
    """The full suite's settings (bayes_hcl only): are the identified orientations right?

    Returns the per-fit rows and a summary: over all fits, the fraction of identified edges
    that are true edges in the stated direction (``precision``) and, among identified edges
    that are true adjacencies, the fraction oriented correctly (``orientation_accuracy``).
    """
    rows = run_settings(SETTINGS["full"], repeats, False, log, _identified_line)
    raw = pd.DataFrame(rows)
    return raw, _identified_summary(raw)


def run_bench(
    suite: str = "quick",
    out: Path | None = None,
    repeats: int = 1,
    baselines: bool = True,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Run a suite, write ``results.csv``/``results.json`` into ``out``, return the medians.

    The suite is looked up in the suite table (``bayes_hcl.bench.registry.SUITE_TABLE``);
    its runner (in ``bayes_hcl.bench.runners``) runs it and writes its files.

    Parameters
    ----------
    suite : {"quick", "full", "mixed", "speed", "scaling", "minibatch", "ges-ratio", \
            "identifiability", "sachs", "single-cell", "factors", "exact", "calibration", \
            "nuts-speed"}
        Which list of :data:`SETTINGS` (``"mixed"``: the two mixed-type settings of
        ``"full"``), ``"identifiability"`` for
        :func:`run_identifiability` (the full settings, bayes_hcl only, scored on the
        orientations the report calls identified), ``"single-cell"`` for
        :func:`bayes_hcl.bench.cells.run_single_cell` (seeds ``0..repeats-1``), ``"sachs"`` for
        :func:`run_sachs` (presets
        ``hcl`` and ``heavy_tailed`` and the baselines on the Sachs data, seeds
        ``0..repeats-1``), ``"scaling"`` for
        :func:`bayes_hcl.bench.scaling.run_scaling` (cold fits over n, d and K; seeds
        ``0..repeats-1``), ``"minibatch"`` for :func:`bayes_hcl.bench.scaling.run_minibatch`
        (cold fits by minibatch SVI up to n = 10⁶, beside a full-batch fit), ``"ges-ratio"``
        for :func:`bayes_hcl.bench.scaling.run_ges_ratio` (bayes_hcl against pooled GES,
        d = 20, n = 3000), or ``"speed"`` for
        :func:`bayes_hcl.bench.scaling.run_speed` (n = 2000,
        d = 10; ``repeats`` (at least 3) cold fits in fresh processes, then warm refits),
        ``"factors"`` for :func:`bayes_hcl.bench.factors.run_factors` (two latent factors
        against the one-factor model; seeds ``0..repeats-1``) and
        :func:`bayes_hcl.bench.factors.run_factor_runtime`, or
        one of the posterior suites of :mod:`bayes_hcl.bench.calibration` (``repeats``: seeds for
        ``exact`` and ``nuts-speed``; for ``calibration`` datasets = 50 x ``repeats``).
    out : Path, optional
        Folder for the raw rows (one per setting, seed and method).
    repeats : int
        Seeds per setting; the returned table holds medians over them.
    baselines : bool
        Run the GES baselines (needs the ``bench`` extra).
    log : callable, optional
        Called with a line per finished method (progress).

    Returns
    -------
    pandas.DataFrame
        The medians per setting and method for ``quick``, ``full`` and ``mixed``; the rows of
        the other suites.

    Raises
    ------
    ConfigError
        ``suite`` is not in the table (one line listing the suites).
    """
    runner = get_suite(suite).load()
    return runner(SuiteOptions(suite, out, repeats, baselines, log))
