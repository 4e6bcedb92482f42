"""Synthetic benchmark: bayes_hcl against GES baselines on the same simulated data.

Baselines (need the ``bench`` extra: causal-learn, scikit-learn), run in the same process on
the same standardised data:

* ``ges_pooled``  — GES (BIC) on all rows, ignoring heterogeneity;
* ``gmm_ges``     — Gaussian mixture (full covariance, K by BIC in 1..5), then GES per cluster;
* ``ges_oracle``  — GES per cluster given the *true* labels (a reference ceiling).

Scores: ARI of the partition (with ``ari_ceiling``, the ARI of a classifier that knows every
true parameter: where clusters overlap no method can do better), pooled directed F1 (an
undirected CPDAG edge earns half credit if the true graph has it in either direction; for
bayes_hcl the pooled edge probabilities >= 0.5, and ``f1_cpdag`` with the edges its
identifiability report cannot orient undirected, see
:func:`bayes_hcl.diagnostics.cpdag_adjacency`), mean
per-cluster F1 (clusters matched by the Hungarian assignment), AUPRC of the pooled scores,
and wall time. Run it with ``bayes-hcl bench --suite full`` (or :func:`run_bench`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_hcl import metrics
from bayes_hcl.results.identifiability.rules import cpdag_adjacency
from bayes_hcl.simulate.sem import SimulatedData, simulate

__all__ = [
    "SETTINGS",
    "Setting",
    "identified_scores",
    "run_bench",
    "run_identifiability",
    "run_sachs",
    "run_setting",
]


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


def _standardise(data: SimulatedData | pd.DataFrame) -> np.ndarray:
    """The Gaussian baselines' input: every column z-scored (a categorical one by its level
    code, as a Gaussian-only method would have to take it)."""
    x = data.codes() if isinstance(data, SimulatedData) else data.to_numpy(dtype=float)
    return (x - x.mean(0)) / x.std(0)


def _ges(x: np.ndarray) -> np.ndarray:
    """CPDAG adjacency from causal-learn's GES: ``A[i, j] = 1`` for i -> j, both for i - j."""
    try:
        from causallearn.search.ScoreBased.GES import ges
    except ImportError:  # a user error, reported in one line by the command line
        raise ImportError(
            "the GES baselines need causal-learn: pip install 'bayes_hcl[bench]' "
            "(or pass --no-baselines)"
        ) from None

    g = ges(x, score_func="local_score_BIC")["G"].graph
    return ((g == -1) & (g.T == 1)).astype(int) | ((g == -1) & (g.T == -1)).astype(int)


def _per_cluster_ges(x: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    return {int(k): _ges(x[labels == k]) for k in np.unique(labels) if (labels == k).sum() > 5}


def _gmm_labels(x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.mixture import GaussianMixture

    fits = [
        GaussianMixture(k, covariance_type="full", random_state=seed, n_init=3).fit(x)
        for k in range(1, 6)
    ]
    best = min(fits, key=lambda g: g.bic(x))
    return best.predict(x)


def _scores(sim: SimulatedData, labels, graphs: dict, pooled_scores: np.ndarray) -> dict:
    truth = {k: sim.adjacency[k] for k in range(sim.adjacency.shape[0])}
    pooled = np.clip(sum(graphs.values()), 0, 1)
    per = metrics.per_cluster_edge_scores(truth, graphs, sim.labels, labels)
    return {
        "ari": metrics.adjusted_rand_index(sim.labels, labels),
        "k_found": len(graphs),
        "f1": metrics.edge_scores(sim.pooled_adjacency, pooled)["f1"],
        "cluster_f1": float(per.f1.mean()),
        "auprc": metrics.auprc(sim.pooled_adjacency, pooled_scores),
    }


def _run_bayes_hcl(sim: SimulatedData, seed: int, preset: str = "hcl") -> dict:
    from bayes_hcl.api import fit

    result = fit(sim.data, model=preset, seed=seed, progress=False)
    labels = result.clusters()
    graphs = {
        k: (result.edge_probabilities(k).to_numpy() >= 0.5).astype(int)
        for k in result.occupied_clusters()
    }
    pooled = result.edge_probabilities().to_numpy()
    out = _scores(sim, labels, graphs, pooled)
    # the pooled graph of bayes_hcl comes from the pooled probabilities (not a union of
    # per-cluster graphs); f1_cpdag undirects what the identifiability report cannot orient
    out["f1"] = metrics.edge_scores(sim.pooled_adjacency, pooled >= 0.5)["f1"]
    cpdag = cpdag_adjacency(pooled, result.identifiability(), list(sim.data.columns))
    out["f1_cpdag"] = metrics.edge_scores(sim.pooled_adjacency, cpdag)["f1"]
    out["p_k_true"] = float(result.n_clusters().get(sim.adjacency.shape[0], 0.0))
    out.update(identified_scores(sim, result.identifiability()))
    timings = result.meta["timings"]
    out.update(compile_s=timings["compile_s"], steps_per_s=timings["steps_per_s"])
    return out


def identified_scores(sim: SimulatedData, report) -> dict[str, Any]:
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


def run_identifiability(repeats: int = 3, log: Callable[[str], None] | None = None) -> tuple:
    """The full suite's settings (bayes_hcl only): are the identified orientations right?

    Returns the per-fit rows and a summary: over all fits, the fraction of identified edges
    that are true edges in the stated direction (``precision``) and, among identified edges
    that are true adjacencies, the fraction oriented correctly (``orientation_accuracy``).
    """
    rows = []
    for setting in SETTINGS["full"]:
        for seed in range(repeats):
            for row in run_setting(setting, seed, baselines=False):
                rows.append(row)
                if log:
                    log(
                        f"{row['setting']:<24} seed {seed} {row['method']:<20} identified "
                        f"{row['n_identified']:>2} (correct {row['ident_correct']}, reversed "
                        f"{row['ident_reversed']}, absent {row['ident_absent']}) of "
                        f"{row['n_true_adjacent']} true; {row['heterogeneity']}"
                    )
    raw = pd.DataFrame(rows)
    total = raw[["ident_correct", "ident_reversed", "ident_absent"]].sum()
    called = int(total.sum())
    summary = {
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
    return raw, summary


def run_sachs(seed: int = 0, presets: tuple[str, ...] = ("hcl",), baselines: bool = True):
    """bayes_hcl and the baselines on the bundled Sachs data (log scale, conditions hidden).

    Per method: ARI of the clusters against the 9 conditions, pooled directed F1 (GES's
    undirected edges earn half credit) and AUPRC against the 17-edge consensus, and for
    bayes_hcl how many of the 6 intervention targets are among the shift targets
    (P >= 0.5, out of how many variables it calls shifted) and the heterogeneity verdict.
    """
    from bayes_hcl.api import fit
    from bayes_hcl.data.datasets import load_sachs

    sachs = load_sachs(log=True)
    truth = sachs.consensus_adjacency()
    conditions = sachs.conditions.cat.codes.to_numpy()
    known = set(sachs.intervention_targets)
    rows = []

    def score(method, labels, adjacency, scores, start, **extra):
        rows.append(
            {
                "method": method,
                "seed": seed,
                "ari": metrics.adjusted_rand_index(conditions, labels),
                "k_found": len(np.unique(labels)),
                "f1": metrics.edge_scores(truth, adjacency)["f1"],
                "auprc": metrics.auprc(truth, scores),
                "wall_s": time.perf_counter() - start,
                **extra,
            }
        )

    for preset in presets:
        start = time.perf_counter()
        result = fit(sachs.data, model=preset, seed=seed, progress=False)
        pooled = result.edge_probabilities().to_numpy()
        shifted = set(result.shift_targets(0.5).variable)
        score(
            "bayes_hcl" if preset == "hcl" else f"bayes_hcl[{preset}]",
            result.clusters(),
            (pooled >= 0.5).astype(int),
            pooled,
            start,
            targets_found=len(shifted & known),
            n_shifted=len(shifted),
            heterogeneity=result.identifiability()["clusters"]["heterogeneity"],
        )
    if baselines:
        x = _standardise(sachs.data)
        for name in ("ges_pooled", "gmm_ges"):
            start = time.perf_counter()
            labels = np.zeros(len(x), dtype=int) if name == "ges_pooled" else _gmm_labels(x, seed)
            graphs = _per_cluster_ges(x, labels)
            pooled = np.clip(sum(graphs.values()), 0, 1)
            score(name, labels, pooled, pooled.astype(float), start)
    return pd.DataFrame(rows)


def _run_baseline(name: str, sim: SimulatedData, seed: int) -> dict:
    x = _standardise(sim)
    if name == "ges_pooled":
        labels = np.zeros(len(x), dtype=int)
    elif name == "gmm_ges":
        labels = _gmm_labels(x, seed)
    else:
        labels = sim.labels
    graphs = _per_cluster_ges(x, labels)
    pooled = np.clip(sum(graphs.values()), 0, 1)
    return _scores(sim, labels, graphs, pooled.astype(float))


def run_setting(setting: Setting, seed: int, baselines: bool = True) -> list[dict]:
    """Every method on one simulated data set; one row of scores per method."""
    sim = setting.data(seed)
    methods: list[tuple[str, Callable[[], dict]]] = [
        (
            "bayes_hcl" if preset == "hcl" else f"bayes_hcl[{preset}]",
            lambda preset=preset: _run_bayes_hcl(sim, seed, preset),
        )
        for preset in setting.presets
    ]
    if baselines:
        methods += [
            (m, lambda m=m: _run_baseline(m, sim, seed))
            for m in ("ges_pooled", "gmm_ges", "ges_oracle")
        ]
    # the best ARI any method can reach: a classifier that knows every true parameter
    ceiling = metrics.adjusted_rand_index(sim.labels, sim.bayes_labels())
    rows = []
    for method, run in methods:
        start = time.perf_counter()
        scores = run()
        rows.append(
            {
                "setting": setting.name,
                "seed": seed,
                "method": method,
                "wall_s": time.perf_counter() - start,
                **scores,
                "ari_ceiling": ceiling,
            }
        )
    return rows


def run_bench(
    suite: str = "quick",
    out: Path | None = None,
    repeats: int = 1,
    baselines: bool = True,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Run a suite, write ``results.csv``/``results.json`` into ``out``, return the medians.

    Parameters
    ----------
    suite : {"quick", "full", "mixed", "speed", "scaling", "minibatch", "ges-ratio", \
            "identifiability", "sachs", "single-cell", "factors", "exact", "calibration", \
            "nuts-speed"}
        Which list of :data:`SETTINGS` (``"mixed"``: the two mixed-type settings of
        ``"full"``), ``"identifiability"`` for
        :func:`run_identifiability` (the full settings, bayes_hcl only, scored on the
        orientations the report calls identified), ``"single-cell"`` for
        :func:`bayes_hcl.bench_cells.run_single_cell` (seeds ``0..repeats-1``), ``"sachs"`` for
        :func:`run_sachs` (presets
        ``hcl`` and ``heavy_tailed`` and the baselines on the Sachs data, seeds
        ``0..repeats-1``), ``"scaling"`` for
        :func:`bayes_hcl.bench_scaling.run_scaling` (cold fits over n, d and K; seeds
        ``0..repeats-1``), ``"minibatch"`` for :func:`bayes_hcl.bench_scaling.run_minibatch`
        (cold fits by minibatch SVI up to n = 10⁶, beside a full-batch fit), ``"ges-ratio"``
        for :func:`bayes_hcl.bench_scaling.run_ges_ratio` (bayes_hcl against pooled GES,
        d = 20, n = 3000), or ``"speed"`` for
        :func:`bayes_hcl.bench_scaling.run_speed` (n = 2000,
        d = 10; ``repeats`` (at least 3) cold fits in fresh processes, then warm refits),
        ``"factors"`` for :func:`bayes_hcl.bench_factors.run_factors` (two latent factors
        against the one-factor model; seeds ``0..repeats-1``) and
        :func:`bayes_hcl.bench_factors.run_factor_runtime`, or
        one of the posterior suites of :mod:`bayes_hcl.calibration` (``repeats``: seeds for
        ``exact`` and ``nuts-speed``; for ``calibration`` datasets = 50 x ``repeats``).
    out : Path, optional
        Folder for the raw rows (one per setting, seed and method).
    repeats : int
        Seeds per setting; the returned table holds medians over them.
    baselines : bool
        Run the GES baselines (needs the ``bench`` extra).
    log : callable, optional
        Called with a line per finished method (progress).
    """
    if suite in POSTERIOR_SUITES:
        return _run_posterior_suite(suite, out, repeats, log or print)
    if suite == "identifiability":
        raw, totals = run_identifiability(max(repeats, 1), log)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            raw.to_csv(out / "identifiability.csv", index=False)
            (out / "identifiability.json").write_text(json.dumps(totals, indent=2))
        (log or print)(json.dumps(totals))
        return raw
    if suite == "sachs":
        table = pd.concat(
            [run_sachs(s, ("hcl", "heavy_tailed"), baselines) for s in range(max(repeats, 1))]
        )
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            table.to_csv(out / "sachs.csv", index=False)
        return table
    if suite == "single-cell":
        from bayes_hcl.bench.cells import run_single_cell

        table = pd.concat([run_single_cell(s, baselines, log) for s in range(max(repeats, 1))])
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            table.to_csv(out / "single_cell.csv", index=False)
        return table
    if suite in ("scaling", "ges-ratio", "minibatch"):
        from bayes_hcl.bench.scaling import cost_model, run_ges_ratio, run_minibatch, run_scaling

        if suite == "ges-ratio":
            table = run_ges_ratio()
        else:
            run = run_scaling if suite == "scaling" else run_minibatch
            table = run(repeats, log=log or print)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            table.to_csv(out / f"{suite}.csv", index=False)
            if suite == "scaling":
                cost_model(table).to_csv(out / "cost_model.csv", index=False)
        return table
    if suite == "factors":
        from bayes_hcl.bench.factors import run_factor_runtime, run_factors

        table = run_factors(max(repeats, 1), log=log or print)
        runtime = run_factor_runtime(log=log or print)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            table.to_csv(out / "factors.csv", index=False)
            runtime.to_csv(out / "factors_runtime.csv", index=False)
        return table
    if suite == "speed":
        from bayes_hcl.bench.scaling import run_speed

        table = run_speed(repeats=max(repeats, 3))
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            table.to_csv(out / "speed.csv", index=False)
        return table
    if suite not in SETTINGS:
        raise ValueError(f"unknown suite {suite!r}; choose one of {SUITES}")
    rows = []
    for setting in SETTINGS[suite]:
        for seed in range(repeats):
            for row in run_setting(setting, seed, baselines):
                rows.append(row)
                if log:
                    log(
                        f"{row['setting']:<24} seed {seed} {row['method']:<10} ARI "
                        f"{row['ari']:.3f} (ceiling {row['ari_ceiling']:.3f}) F1 {row['f1']:.3f}"
                        f" cluster-F1 {row['cluster_f1']:.3f} {row['wall_s']:.1f}s"
                    )
    raw = pd.DataFrame(rows)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        raw.to_csv(out / "results.csv", index=False)
        (out / "results.json").write_text(json.dumps(rows, indent=2, default=float))
    numeric = raw.drop(columns=["seed"]).groupby(["setting", "method"], sort=False)
    return numeric.median(numeric_only=True).reset_index()


POSTERIOR_SUITES = ("exact", "calibration", "nuts-speed")
#: Every suite :func:`run_bench` runs (the command line offers the same list).
SUITES = (
    "quick",
    "full",
    "mixed",
    "speed",
    "scaling",
    "minibatch",
    "ges-ratio",
    "identifiability",
    "factors",
    "sachs",
    "single-cell",
    *POSTERIOR_SUITES,
)


def _run_posterior_suite(suite: str, out: Path | None, repeats: int, log) -> pd.DataFrame:
    """The calibration and NUTS suites of :mod:`bayes_hcl.calibration`, written to ``out``."""
    from bayes_hcl.bench import calibration

    extra: dict[str, Any] = {}
    if suite == "exact":
        table = calibration.run_exact(seeds=tuple(range(max(repeats, 1))))
    elif suite == "calibration":
        table, extra = calibration.run_calibration(num_datasets=50 * max(repeats, 1), log=log)
    else:
        table = pd.DataFrame(
            [calibration.run_nuts_speed(seed=s, log=log) for s in range(max(repeats, 1))]
        )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / f"{suite}.csv", index=False)
        if extra:
            (out / f"{suite}.json").write_text(json.dumps(extra, indent=2, default=float))
    if extra:
        log(json.dumps({k: v for k, v in extra.items() if k != "config"}, default=float))
    return table
