"""Convergence of MCMC chains, judged on label-invariant quantities.

Cluster labels are arbitrary, so R-hat of a per-cluster parameter measures label switching as
much as mixing. The quantities checked here mean the same in every chain whatever the labels:
the total log-likelihood, the number of occupied clusters, the agreement (adjusted Rand index)
of each draw's partition with the point partition, and the pooled probability of every edge.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arviz_io import ess_array, rhat_array
from .metrics import adjusted_rand_index

__all__ = ["RHAT_LIMIT", "ConvergenceWarning", "convergence_report", "draw_pooled_edges"]

RHAT_LIMIT = 1.05
MIN_ESS_PER_CHAIN = 25


class ConvergenceWarning(UserWarning):
    """The chains have not converged (or a fit cannot be trusted as run)."""


def draw_pooled_edges(inclusion: np.ndarray, occupied: np.ndarray) -> np.ndarray:
    """Per-draw probability ``(..., d, d)`` that an edge is present in an occupied cluster.

    ``inclusion`` is ``(..., K, d, d)`` and ``occupied`` ``(..., K)`` (booleans).
    """
    absent = np.where(occupied[..., None, None], 1.0 - inclusion, 1.0)
    return 1.0 - absent.prod(axis=-3)


def _stats_array(x: np.ndarray) -> np.ndarray:
    """R-hat, bulk and tail ESS ``(..., 3)`` of every trailing element of ``x`` ``(C, S, ...)``.

    A quantity constant over all draws has nothing left to mix (R-hat 1, ESS = draws); one
    where every chain is stuck at its own constant gets R-hat infinite.
    """
    x = np.asarray(x, dtype=float)
    size, chains = x.shape[0] * x.shape[1], x.shape[0]
    spread = np.ptp(x, axis=(0, 1))
    stuck = np.all(np.ptp(x, axis=1) == 0, axis=0) & (spread > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.stack([rhat_array(x), ess_array(x, "bulk"), ess_array(x, "tail")], axis=-1)
    out[spread == 0] = (1.0, size, size)
    out[stuck] = (np.inf, chains, chains)
    return out


def _stats(x: np.ndarray) -> dict[str, float]:
    r, bulk, tail = _stats_array(x)
    return {"rhat": float(r), "ess_bulk": float(bulk), "ess_tail": float(tail)}


def _edge_stats(pooled: np.ndarray, columns: list[str]) -> tuple[dict[str, Any], np.ndarray]:
    d = pooled.shape[-1]
    table = _stats_array(pooled)
    table[np.eye(d, dtype=bool)] = np.nan
    worst = np.unravel_index(np.nanargmax(table[..., 0]), (d, d)) if d > 1 else (0, 0)
    out = {
        "rhat_max": float(np.nanmax(table[..., 0])) if d > 1 else 1.0,
        "ess_bulk_min": float(np.nanmin(table[..., 1])) if d > 1 else float("nan"),
        "ess_tail_min": float(np.nanmin(table[..., 2])) if d > 1 else float("nan"),
        "worst_edge": f"{columns[worst[0]]} -> {columns[worst[1]]}",
    }
    return out, table


def convergence_report(
    log_lik: np.ndarray,
    membership: np.ndarray,
    inclusion: np.ndarray,
    occupied: np.ndarray,
    labels: np.ndarray,
    columns: list[str],
    sample_stats: dict[str, np.ndarray],
    max_tree_depth: int,
) -> tuple[dict[str, Any], np.ndarray]:
    """R-hat, bulk/tail ESS and sampler statistics of a multi-chain fit, with warnings.

    Parameters
    ----------
    log_lik : ndarray ``(C, S, n)``
        Per-observation log-likelihood of every draw.
    membership : ndarray ``(C, S, n, K)``
    inclusion : ndarray ``(C, S, K, d, d)``
    occupied : ndarray ``(C, S, K)`` of bool
    labels : ndarray ``(n,)``
        Point partition.
    columns : list of str
    sample_stats : dict
        ``diverging`` and ``tree_size`` ``(C, S)``.
    max_tree_depth : int

    Returns
    -------
    tuple
        The report (a JSON-ready dict) and the per-edge table ``(d, d, 3)`` of R-hat, bulk
        and tail ESS of the pooled edge probabilities.
    """
    chains, draws = log_lik.shape[:2]
    partitions = membership.argmax(-1)
    ari = np.array([[adjusted_rand_index(p, labels) for p in chain] for chain in partitions])
    edges, table = _edge_stats(draw_pooled_edges(inclusion, occupied), columns)
    quantities = {
        "log_likelihood": _stats(log_lik.sum(-1)),
        "n_clusters": _stats(occupied.sum(-1).astype(float)),
        "partition_ari": _stats(ari),
    }
    divergences = int(np.asarray(sample_stats["diverging"]).sum())
    depth_hits = float(np.mean(np.asarray(sample_stats["tree_size"]) >= 2**max_tree_depth - 1))
    report = {
        "num_chains": int(chains),
        "num_draws": int(draws),
        "divergences": divergences,
        "tree_depth_saturation": depth_hits,
        "quantities": quantities,
        "edge_probabilities": edges,
    }
    report["warnings"] = _warnings(report, chains)
    report["converged"] = not report["warnings"]
    return report, table


def _warnings(report: dict[str, Any], chains: int) -> list[str]:
    out = []
    rhats = {k: v["rhat"] for k, v in report["quantities"].items()}
    rhats["pooled edge probabilities"] = report["edge_probabilities"]["rhat_max"]
    bad = {k: v for k, v in rhats.items() if not v <= RHAT_LIMIT}  # NaN counts as bad
    if bad:
        listed = ", ".join(f"{k} {v:.2f}" for k, v in bad.items())
        out.append(
            f"chains disagree (R-hat > {RHAT_LIMIT}: {listed}; worst edge "
            f"{report['edge_probabilities']['worst_edge']}): they sit in different modes or "
            "have not mixed; run more warm-up and draws, or compare the chains' orders"
        )
    ess_min = min(v["ess_bulk"] for v in report["quantities"].values())
    if chains > 1 and ess_min < MIN_ESS_PER_CHAIN * chains:
        out.append(
            f"effective sample size is low ({ess_min:.0f} for a label-invariant quantity); "
            "increase num_samples before trusting the tails"
        )
    if report["divergences"]:
        out.append(
            f"{report['divergences']} divergent transitions: the posterior has regions NUTS "
            "cannot integrate; raise nuts.target_accept_prob (e.g. 0.95)"
        )
    if report["tree_depth_saturation"] > 0.5:
        out.append(
            f"{report['tree_depth_saturation']:.0%} of transitions hit the maximum tree depth: "
            "mixing is slow; raise nuts.max_tree_depth or run longer"
        )
    return out
