"""Identifiability diagnostic (DESIGN section 5): what the data can and cannot support.

A report, not a proof. It combines the posterior (edge and orientation probabilities,
memberships), agreement between independent restarts, and checks on the data (local evidence
for each orientation, samples per cluster, residual non-Gaussianity). The top level of
:func:`identifiability_report` is fixed: ``edges``, ``clusters``, ``agreement``,
``conditions``, ``warnings``.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from .metrics import adjusted_rand_index
from .summary import adjacency_with_ambiguous

__all__ = [
    "cpdag_adjacency",
    "identifiability_report",
    "local_orientation_evidence",
    "residual_moments",
]

IDENTIFIED, AMBIGUOUS, UNSUPPORTED = "identified", "orientation ambiguous", "not supported"


def _gaussian_loglik(target: np.ndarray, covariates: np.ndarray) -> float:
    design = np.column_stack([np.ones(len(target)), covariates])
    beta, *_ = np.linalg.lstsq(design, target, rcond=None)
    var = max(float(np.var(target - design @ beta)), 1e-12)
    return -0.5 * len(target) * (np.log(2.0 * np.pi * var) + 1.0)


def local_orientation_evidence(
    x: np.ndarray, labels: np.ndarray, parents: dict[int, set[int]], cause: int, effect: int
) -> float:
    """Log-likelihood of ``cause -> effect`` minus that of the reversal, in nats.

    Only the two local equations change: the effect loses ``cause`` as a parent and the cause
    gains ``effect``. Each equation is refitted by least squares within every cluster of the
    point partition (Gaussian likelihood at the MLE). Markov-equivalent orientations give 0.
    """
    pa_e, pa_c = set(parents.get(effect, set())) | {cause}, set(parents.get(cause, set()))
    delta = 0.0
    for k in np.unique(labels):
        rows = x[labels == k]
        if len(rows) < 3:
            continue
        fwd = _gaussian_loglik(rows[:, effect], rows[:, sorted(pa_e)])
        fwd += _gaussian_loglik(rows[:, cause], rows[:, sorted(pa_c)])
        rev = _gaussian_loglik(rows[:, effect], rows[:, sorted(pa_e - {cause})])
        rev += _gaussian_loglik(rows[:, cause], rows[:, sorted(pa_c | {effect})])
        delta += fwd - rev
    return float(delta)


def residual_moments(
    x: np.ndarray, labels: np.ndarray, weights: np.ndarray, intercepts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Skewness and excess kurtosis ``(d,)`` of within-cluster residuals of every node."""
    resid = np.empty_like(x)
    for k in np.unique(labels):
        rows = labels == k
        resid[rows] = x[rows] - intercepts[k] - x[rows] @ weights[k]
    z = (resid - resid.mean(0)) / np.maximum(resid.std(0), 1e-12)
    return (z**3).mean(0), (z**4).mean(0) - 3.0


def _edge_entries(ctx: dict[str, Any], min_mass: float, delta_threshold: float) -> list[dict]:
    pooled, columns = ctx["pooled"], ctx["columns"]
    parents = {j: set(np.nonzero(pooled[:, j] >= 0.5)[0]) for j in range(len(columns))}
    entries = []
    for i, j in combinations(range(len(columns)), 2):
        if pooled[i, j] < pooled[j, i]:
            i, j = j, i
        p_f, p_r = float(pooled[i, j]), float(pooled[j, i])
        if p_f + p_r < min_mass:
            continue
        delta = local_orientation_evidence(ctx["x"], ctx["labels"], parents, i, j)
        reason = _reason(ctx, parents, i, j)
        decided = p_f >= 0.8 and p_f >= 0.9 * (p_f + p_r)
        if p_f + p_r < 0.5:
            status = UNSUPPORTED
        elif decided and delta >= delta_threshold and reason is not None:
            status = IDENTIFIED
        else:
            status = AMBIGUOUS
        entries.append(
            {
                "cause": columns[i],
                "effect": columns[j],
                "status": status,
                "reason": reason if status == IDENTIFIED else None,
                "p_forward": p_f,
                "p_reverse": p_r,
                "p_none": max(0.0, 1.0 - p_f - p_r),
                "delta_evidence": delta,
                "agreement": float(ctx["restart_calls"][:, i, j].mean()),
            }
        )
    return entries


def _reason(ctx: dict[str, Any], parents: dict[int, set[int]], i: int, j: int) -> str | None:
    """Why the data can orient ``i -> j`` under the fitted (Gaussian) likelihood, if at all."""
    shifted = ctx["shift_prob"]
    if ctx["n_occupied"] >= 2 and (
        ctx["specific"][i, j] >= 0.5 or shifted[i] >= 0.5 or shifted[j] >= 0.5
    ):
        return "mechanism change"
    adjacent = (ctx["pooled"] >= 0.5) | (ctx["pooled"].T >= 0.5)
    if any(not adjacent[i, k] for k in parents[j] - {i}):
        return "v-structure"
    # the fitted likelihood is Gaussian, so non-Gaussian noise is never a reason here
    return None


def identifiability_report(
    ctx: dict[str, Any], *, min_mass: float = 0.1, delta_threshold: float = 2.0
) -> dict[str, Any]:
    """Build the identifiability report from a context of posterior summaries.

    Parameters
    ----------
    ctx : dict
        ``columns``; ``x`` ``(n, d)`` standardised data; ``labels`` point partition;
        ``pooled`` ``(d, d)`` pooled edge probabilities; ``specific`` ``(d, d)`` P(edge is
        cluster-specific); ``shift_prob`` ``(d,)``; ``n_occupied``; ``n_clusters`` (dict K ->
        prob); ``membership`` ``(n, K)`` mean memberships; ``restart_calls`` ``(R, d, d)``
        bool edge calls of each restart; ``restart_orders`` ``(R, d)``; ``restart_partitions``
        ``(R, n)``; ``restart_weights`` ``(R,)``; ``weights`` ``(K, d, d)`` and ``intercepts``
        ``(K, d)`` posterior means; ``n_parameters`` per cluster.
    min_mass : float
        Pairs with ``P(i->j) + P(j->i)`` below this get no entry.
    delta_threshold : float
        Minimum ``delta_evidence`` (nats, forward minus reverse) to call an orientation
        identified; a posterior orientation that the local evidence does not favour stays
        ambiguous.
    """
    warnings: list[str] = []
    entries = _edge_entries(ctx, min_mass, delta_threshold)
    clusters = _cluster_section(ctx, warnings)
    agreement = _agreement_section(ctx, entries, warnings)
    conditions = _condition_section(ctx, clusters["sizes"], warnings)
    return {
        "edges": entries,
        "clusters": clusters,
        "agreement": agreement,
        "conditions": conditions,
        "warnings": warnings,
    }


def cpdag_adjacency(
    pooled: np.ndarray, report: dict[str, Any], columns: list[str], threshold: float = 0.5
) -> np.ndarray:
    """Pooled graph as a CPDAG: edges the report cannot orient are undirected (both 1s).

    Starts from :func:`bayes_hcl.summary.adjacency_with_ambiguous` of the pooled probabilities;
    a pair adjacent with probability ``>= threshold`` that the report calls ``orientation
    ambiguous`` is then undirected even where the (mean-field) posterior has settled on one
    direction: that confidence comes from the order the fit happened to reach, not the data.
    """
    adj = adjacency_with_ambiguous(pooled, threshold)
    index = {name: k for k, name in enumerate(columns)}
    for entry in report["edges"]:
        if entry["status"] != AMBIGUOUS or entry["p_forward"] + entry["p_reverse"] < threshold:
            continue
        i, j = index[entry["cause"]], index[entry["effect"]]
        adj[i, j] = adj[j, i] = 1
    return adj


def _cluster_section(ctx: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    labels, m = ctx["labels"], np.asarray(ctx["membership"], dtype=float)
    occupied = sorted(int(k) for k in np.unique(labels))
    sizes = {str(k): int((labels == k).sum()) for k in occupied}
    entropy = -(m * np.log(np.clip(m, 1e-300, None))).sum(1)
    pairs = []
    for a, b in combinations(occupied, 2):
        rows = (labels == a) | (labels == b)
        ma, mb = m[rows, a], m[rows, b]
        overlap = float(np.mean(2.0 * np.minimum(ma, mb) / np.maximum(ma + mb, 1e-300)))
        pairs.append({"a": a, "b": b, "overlap": overlap})
        if overlap > 0.2:
            warnings.append(f"clusters {a} and {b} overlap ({overlap:.2f}): poorly separated")
    p_multi = float(sum(p for k, p in ctx["n_clusters"].items() if int(k) > 1))
    return {
        "n_clusters_posterior": {str(k): float(p) for k, p in ctx["n_clusters"].items()},
        "p_more_than_one": p_multi,
        "occupied": occupied,
        "sizes": sizes,
        "membership_entropy_mean": float(entropy.mean()),
        "separability": pairs,
    }


def _kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = np.sign(a[:, None] - a[None, :]), np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(len(a), 1)
    return float(np.mean(sa[iu] * sb[iu]))


def _agreement_section(ctx: dict[str, Any], entries: list[dict], warnings: list[str]) -> dict:
    orders, parts = ctx["restart_orders"], ctx["restart_partitions"]
    pairs = list(combinations(range(len(orders)), 2))
    tau = [_kendall_tau(orders[a], orders[b]) for a, b in pairs]
    ari = [adjusted_rand_index(parts[a], parts[b]) for a, b in pairs]
    edge_agree = [e["agreement"] for e in entries if e["status"] != UNSUPPORTED]
    out = {
        "n_restarts": len(orders),
        "restart_weights": [float(w) for w in ctx["restart_weights"]],
        "order_kendall_tau_mean": float(np.mean(tau)) if tau else 1.0,
        "partition_ari_mean": float(np.mean(ari)) if ari else 1.0,
        "edge_agreement_mean": float(np.mean(edge_agree)) if edge_agree else 1.0,
    }
    agree = out["partition_ari_mean"] >= 0.9 and out["edge_agreement_mean"] >= 0.75
    out["verdict"] = "restarts agree" if agree else "restarts disagree"
    if not agree:
        warnings.append(
            "independent restarts disagree (partition ARI "
            f"{out['partition_ari_mean']:.2f}, edge agreement {out['edge_agreement_mean']:.2f}):"
            " the posterior is multimodal or the fit has not converged; more restarts/steps help"
        )
    return out


def _condition_section(ctx: dict[str, Any], sizes: dict[str, int], warnings: list[str]) -> dict:
    need = 5 * ctx["n_parameters"]
    enough = {k: n >= need for k, n in sizes.items()}
    for k, ok in enough.items():
        if not ok:
            warnings.append(
                f"cluster {k} has {sizes[k]} rows for {ctx['n_parameters']} "
                f"parameters (want >= {need}): its graph is weakly determined"
            )
    skew, kurt = residual_moments(ctx["x"], ctx["labels"], ctx["weights"], ctx["intercepts"])
    cont = [j for j, t in enumerate(ctx["types"]) if t == "continuous"]
    non_gauss = [ctx["columns"][j] for j in cont if abs(skew[j]) > 0.5 or abs(kurt[j]) > 1.0]
    mixture_noise = ctx.get("noise_components", 1) > 1
    if non_gauss and not mixture_noise:
        warnings.append(
            f"residuals of {', '.join(non_gauss)} are non-Gaussian; the Gaussian likelihood "
            "may split one population into spurious clusters: refit with the 'robust' preset "
            "(Gaussian-mixture noise)"
        )
    return {
        "samples_per_cluster": sizes,
        "parameters_per_cluster": ctx["n_parameters"],
        "enough_samples": enough,
        "residual_skewness": dict(zip(ctx["columns"], map(float, skew), strict=True)),
        "residual_excess_kurtosis": dict(zip(ctx["columns"], map(float, kurt), strict=True)),
        "non_gaussian_residuals": non_gauss,
        "likelihood_models_non_gaussian_noise": mixture_noise,
    }
