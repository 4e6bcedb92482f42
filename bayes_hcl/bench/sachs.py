"""Benchmark on real data: bayes_hcl and the GES baselines on the Sachs flow-cytometry data.

The data are read on the log scale with their 9 experimental conditions hidden from every
method; the conditions are the reference partition, the 17-edge consensus network the
reference graph and the 6 intervention targets the reference shifts. Run it with
``bayes-hcl bench --suite sachs [--repeats R]``.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from bayes_hcl import metrics
from bayes_hcl.bench.baselines import gmm_labels, per_cluster_ges, pooled_graph, standardise

__all__ = ["run_sachs"]


class _Truth(NamedTuple):
    """What the Sachs data know: conditions, consensus graph and intervention targets."""

    data: pd.DataFrame
    conditions: np.ndarray
    adjacency: np.ndarray
    targets: set[str]


def _load_truth() -> _Truth:
    """The Sachs data (log scale) with their conditions, consensus graph and targets."""
    from bayes_hcl.data.datasets import load_sachs

    sachs = load_sachs(log=True)
    return _Truth(
        data=sachs.data,
        conditions=sachs.conditions.cat.codes.to_numpy(),
        adjacency=sachs.consensus_adjacency(),
        targets=set(sachs.intervention_targets),
    )


def _row(
    truth: _Truth,
    method: str,
    seed: int,
    labels: np.ndarray,
    adjacency: np.ndarray,
    scores: np.ndarray,
    start: float,
    **extra: Any,
) -> dict[str, Any]:
    """One method's scores against the conditions and the consensus graph."""
    return {
        "method": method,
        "seed": seed,
        "ari": metrics.adjusted_rand_index(truth.conditions, labels),
        "k_found": len(np.unique(labels)),
        "f1": metrics.edge_scores(truth.adjacency, adjacency)["f1"],
        "auprc": metrics.auprc(truth.adjacency, scores),
        "wall_s": time.perf_counter() - start,
        **extra,
    }


def _fit_row(truth: _Truth, preset: str, seed: int) -> dict[str, Any]:
    """bayes_hcl with ``preset``: scores, intervention targets found and the verdict."""
    from bayes_hcl.api import fit

    start = time.perf_counter()
    result = fit(truth.data, model=preset, seed=seed, progress=False)
    pooled = result.edge_probabilities().to_numpy()
    shifts = result.shift_targets()
    shifted = set(shifts.variable[shifts.p_shift_exceeds >= 0.5])
    return _row(
        truth,
        "bayes_hcl" if preset == "hcl" else f"bayes_hcl[{preset}]",
        seed,
        result.clusters(),
        (pooled >= 0.5).astype(int),
        pooled,
        start,
        targets_found=len(shifted & truth.targets),
        n_shifted=len(shifted),
        non_targets_shifted=len(shifted - truth.targets),
        # shifts of any size (P(shift != 0) >= 0.5), the readout before min_shift
        n_shifted_any_size=int((shifts.p_shift >= 0.5).sum()),
        heterogeneity=result.identifiability()["clusters"]["heterogeneity"],
    )


def _baseline_rows(truth: _Truth, seed: int) -> list[dict[str, Any]]:
    """``ges_pooled`` (one cluster) and ``gmm_ges`` on the standardised data."""
    x = standardise(truth.data)
    rows = []
    for name in ("ges_pooled", "gmm_ges"):
        start = time.perf_counter()
        labels = np.zeros(len(x), dtype=int) if name == "ges_pooled" else gmm_labels(x, seed)
        pooled = pooled_graph(per_cluster_ges(x, labels))
        rows.append(_row(truth, name, seed, labels, pooled, pooled.astype(float), start))
    return rows


def run_sachs(
    seed: int = 0, presets: tuple[str, ...] = ("hcl",), baselines: bool = True
) -> pd.DataFrame:
    """bayes_hcl and the baselines on the bundled Sachs data (log scale, conditions hidden).

    Per method: ARI of the clusters against the 9 conditions, pooled directed F1 (GES's
    undirected edges earn half credit) and AUPRC against the 17-edge consensus, and for
    bayes_hcl how many of the 6 intervention targets are among the shift targets
    (``p_shift_exceeds >= 0.5``, out of how many variables it calls shifted, how many of
    them are not targets, and how many have a shift of any size) and the heterogeneity
    verdict.
    """
    truth = _load_truth()
    rows = [_fit_row(truth, preset, seed) for preset in presets]
    if baselines:
        rows += _baseline_rows(truth, seed)
    return pd.DataFrame(rows)
