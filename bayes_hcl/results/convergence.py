"""Convergence of MCMC chains, judged on label-invariant quantities.

Cluster labels are arbitrary, so R-hat of a per-cluster parameter measures label switching as
much as mixing. The quantities checked here mean the same in every chain whatever the labels:
the total log-likelihood, the number of occupied clusters, the agreement (adjusted Rand index)
of each draw's partition with the point partition, and the pooled probability of every edge.
When they disagree, :func:`chain_orders` shows each chain's causal order and the pairs of
variables that chains hold in opposite orders.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from bayes_hcl.metrics import adjusted_rand_index
from bayes_hcl.results.io.arviz_io import ess_array, rhat_array
from bayes_hcl.results.shown import shown_occupancy

__all__ = [
    "CHAIN_ORDERS_ADVICE",
    "RHAT_LIMIT",
    "chain_orders",
    "convergence_report",
    "draw_pooled_edges",
    "free_run_weights",
    "run_agreement",
]

RHAT_LIMIT = 1.05
MIN_ESS_PER_CHAIN = 25
#: What the warning on disagreeing chains recommends (the same text in ``summary.json``).
CHAIN_ORDERS_ADVICE = (
    "compare the chains' causal orders with result.chain_orders() (after the command line: "
    "bayes_hcl.load_result('OUT/posterior.nc').chain_orders())"
)


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
        Per-draw occupied clusters, all of them: the number of clusters counts every one
        (as ``HCLResult.n_clusters()`` does), the pooled edge probabilities only those the
        point partition shows.
    labels : ndarray ``(n,)``
        Point partition (its clusters are the shown ones).
    columns : list of str
    sample_stats : dict
        ``diverging`` and ``tree_size`` ``(C, S)`` (NUTS; absent for Gibbs).
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
    shown = shown_occupancy(occupied, np.unique(labels))
    edges, table = _edge_stats(draw_pooled_edges(inclusion, shown), columns)
    quantities = {
        "log_likelihood": _stats(log_lik.sum(-1)),
        "n_clusters": _stats(occupied.sum(-1).astype(float)),
        "partition_ari": _stats(ari),
    }
    # a Gibbs sampler has no trajectories: neither divergences nor tree depths
    divergences = int(np.asarray(sample_stats.get("diverging", 0)).sum())
    tree_size = sample_stats.get("tree_size")
    depth_hits = (
        0.0 if tree_size is None else float(np.mean(np.asarray(tree_size) >= 2**max_tree_depth - 1))
    )
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
        stuck = (
            " (R-hat inf: every chain holds that quantity at its own constant value; for an "
            "edge, the chains put its two ends in opposite orders in every draw)"
            if any(np.isinf(v) for v in bad.values())
            else ""
        )
        # the orders explain disagreeing edges and likelihoods, not a flickering spare cluster
        orders = {"pooled edge probabilities", "log_likelihood"} & set(bad)
        advice = f"{CHAIN_ORDERS_ADVICE}, and run" if orders else "run"
        out.append(
            f"chains disagree (R-hat > {RHAT_LIMIT}: {listed}; worst edge "
            f"{report['edge_probabilities']['worst_edge']}){stuck}: they sit in different modes "
            f"or have not mixed; {advice} more warm-up and draws"
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


# -- the causal order of each chain ---------------------------------------------------------------
ORDER_COLUMNS = (
    "draws",
    "modal_order",
    "share",
    "n_orders",
    "mean_log_likelihood",
    "agrees",
    "opposed_pairs",
)


def chain_orders(
    phi: np.ndarray,
    log_lik: np.ndarray | None,
    columns: list[str],
    runs: np.ndarray | None = None,
    label: str = "chain",
) -> pd.DataFrame:
    """Each chain's (or SVI restart's) modal causal order, and whether the others share it.

    A draw's causal order lists the variables by increasing node potential ``phi`` (an edge
    ``i -> j`` needs ``phi[i] < phi[j]``), written ``"X0 < X3 < X1"``: causes first.

    Parameters
    ----------
    phi : ndarray ``(C, S, d)``
        Node potentials of every draw (NUTS: the ranks).
    log_lik : ndarray ``(C, S)``, optional
        Total log-likelihood of every draw; ``None`` (a minibatch fit, which keeps none)
        gives NaN.
    columns : list of str
        Variable names.
    runs : ndarray ``(C, S)`` of int, optional
        The run each draw belongs to (an SVI fit: the restart it was drawn from); default:
        its chain. Runs with no draw have no row.
    label : str, default "chain"
        Name of the first column (``"chain"`` or ``"restart"``).

    Returns
    -------
    pandas.DataFrame
        One row per run: ``label``; ``draws``; ``modal_order``, the order the run visits
        most often; ``share``, the fraction of the run's draws in that order; ``n_orders``,
        the distinct orders the run visits; ``mean_log_likelihood``; ``agrees``, whether
        at least half of the other runs have the same modal order (``<NA>`` with one run);
        ``opposed_pairs``, the pairs the run puts in one order in every draw
        while another run puts them in the opposite order in every draw (``"X7 < X0"``,
        as this run has them; ``""`` if none). Such a pair holds R-hat at infinity for the
        edge between them: no chain ever crosses to the other's orientation. Ties between
        orders go to the first in lexicographic order of the variables' positions.
    """
    phi = np.asarray(phi, dtype=float)
    chains, draws, d = phi.shape
    flat = phi.reshape(chains * draws, d)
    orders = np.argsort(flat, axis=-1, kind="stable")
    distinct, code = np.unique(orders, axis=0, return_inverse=True)
    code = np.asarray(code).reshape(-1)
    if runs is None:
        runs = np.repeat(np.arange(chains), draws)
    runs = np.asarray(runs).reshape(-1)
    if log_lik is None:
        lik = np.full(chains * draws, np.nan)
    else:
        lik = np.asarray(log_lik, dtype=float).reshape(-1)

    def counts(mask: np.ndarray) -> np.ndarray:
        return np.bincount(code[mask], minlength=len(distinct))

    ids = np.unique(runs)
    modal = np.array([counts(runs == r).argmax() for r in ids])
    # before[r, i, j]: share of run r's draws that put variable i before variable j
    before = np.stack([(flat[runs == r, :, None] < flat[runs == r, None, :]).mean(0) for r in ids])
    rows = []
    for r, run in enumerate(ids):
        own = runs == run
        others = np.delete(before, r, axis=0)
        opposed = (before[r] == 1.0) & (others == 0.0).any(0)
        seen = counts(own)
        top = int(modal[r])
        rest = np.delete(modal, r)
        rows.append(
            {
                label: int(run),
                "draws": int(own.sum()),
                "modal_order": " < ".join(columns[i] for i in distinct[top]),
                "share": float(seen[top] / own.sum()),
                "n_orders": int((seen > 0).sum()),
                "mean_log_likelihood": float(lik[own].mean()),
                "agrees": bool(np.mean(rest == top) >= 0.5) if rest.size else pd.NA,
                "opposed_pairs": ", ".join(
                    f"{columns[i]} < {columns[j]}"
                    for i, j in zip(*np.nonzero(opposed), strict=True)
                ),
            }
        )
    frame = pd.DataFrame(rows, columns=[label, *ORDER_COLUMNS])
    frame["agrees"] = frame["agrees"].astype("boolean")
    return frame


# -- agreement of independent runs (SVI restarts or NUTS chains) -------------------------------
def _kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = np.sign(a[:, None] - a[None, :]), np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(len(a), 1)
    return float(np.mean(sa[iu] * sb[iu]))


def free_run_weights(runs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Runs not forced to one cluster and their weights renormalised among themselves."""
    free = np.flatnonzero(~runs["forced_one_cluster"])
    w = np.asarray(runs["weights"], dtype=float)[free]
    w = w / w.sum() if w.sum() > 0 else np.full(len(free), 1.0 / max(len(free), 1))
    return free, w


def _agreement(values: dict[tuple[int, int], float], w_of: dict[int, float]) -> tuple:
    """Mean over pairs of distinct runs, and the expected value for two runs drawn with
    replacement by weight (a run agrees with itself): a run stuck in a local optimum that its
    weight discounts barely lowers the second."""
    if not values:
        return None, None
    plain = float(np.mean(list(values.values())))
    weighted = sum(w * w for w in w_of.values())
    weighted += sum(2.0 * w_of[a] * w_of[b] * v for (a, b), v in values.items())
    return plain, float(weighted)


def run_agreement(
    runs: dict[str, Any], edges: list[dict], method: str, warnings: list[str]
) -> dict[str, Any]:
    """Do independent restarts (SVI) or chains (NUTS) find the same order, partition, edges?

    ``runs`` holds per run ``orders`` ``(R, d)``, ``partitions`` ``(R, n)``, ``weights``,
    ``scores`` and ``forced_one_cluster`` ``(R,)``; ``edges`` are the report's entries (their
    ``agreement`` is averaged, itself weighted by run). Order (Kendall tau) and partition (ARI)
    agreement are given plainly, over pairs of distinct runs, and weighted: their expected
    value for two runs drawn with replacement by posterior weight (ELBO weights for SVI, equal
    for NUTS chains), so a restart stuck in a local optimum that the ELBO discounts lowers the
    plain figure only. The verdict uses the weighted ones.
    """
    free, w = free_run_weights(runs)
    w_of = dict(zip(free.tolist(), w.tolist(), strict=True))
    pairs = list(combinations(free.tolist(), 2))
    tau = {(a, b): _kendall_tau(runs["orders"][a], runs["orders"][b]) for a, b in pairs}
    parts = runs["partitions"]
    ari = {(a, b): adjusted_rand_index(parts[a], parts[b]) for a, b in pairs}
    tau_plain, tau_w = _agreement(tau, w_of)
    ari_plain, ari_w = _agreement(ari, w_of)
    edge_agree = [e["agreement"] for e in edges if e["status"] != "not supported"]
    kind = "restarts" if method == "svi" else "chains"
    scores = np.sort(np.asarray(runs["scores"], dtype=float)[free])[::-1]
    out = {
        "runs": kind,
        "n_runs": len(free),
        "n_forced_one_cluster": int(runs["forced_one_cluster"].sum()),
        "run_weights": [float(v) for v in w],
        "score_gap_best_two": float(scores[0] - scores[1]) if len(scores) > 1 else None,
        "order_kendall_tau_mean": tau_plain,
        "order_kendall_tau_weighted": tau_w,
        "partition_ari_mean": ari_plain,
        "partition_ari_weighted": ari_w,
        "edge_agreement_mean": float(np.nanmean(edge_agree)) if edge_agree else None,
        "dominant_run_weight": float(w.max()) if len(w) else None,
    }
    if len(free) < 2:
        out["verdict"] = "not assessed (one run)"
    else:
        edge = out["edge_agreement_mean"]
        agree = ari_w >= 0.9 and (edge is None or edge >= 0.75)
        out["verdict"] = f"{kind} agree" if agree else f"{kind} disagree"
        if not agree:
            edge_text = "" if edge is None else f", edge agreement {edge:.2f}"
            warnings.append(
                f"independent {kind} disagree (weighted partition ARI {ari_w:.2f}{edge_text}): "
                f"the posterior is multimodal or the fit has not converged; more {kind} or "
                "steps help"
            )
    return out
