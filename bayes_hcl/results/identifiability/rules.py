"""Identifiability diagnostic (``docs/identifiability.md``): what the data can and cannot support.

A report, not a proof. It combines the posterior (edge and orientation probabilities,
memberships, mechanism changes), the agreement of independent restarts or chains, the model
comparison against one population, and checks on the data (local evidence of each
orientation, samples per cluster, residual non-Gaussianity, equal residual variances).
:func:`identifiability_report` returns an
:class:`~bayes_hcl.results.identifiability.report.IdentifiabilityReport` whose top level is fixed:
``edges``, ``clusters``, ``agreement``, ``conditions``, ``interpretation``, ``warnings``.

Rules (the thresholds are arguments of :func:`identifiability_report`):

* an edge is ``not supported`` when ``P(i->j) + P(j->i) < 0.5``; it is ``identified`` when the
  posterior has decided (``P(i->j) >= 0.8`` and at least 90 % of the adjacency mass), a reason
  of :mod:`bayes_hcl.results.identifiability.orientation` holds on the fitted graph, the
  data favour the edge's presence and its orientation each by at least ``delta_threshold`` nats
  (``adjacency_evidence``, ``delta_evidence``: BIC evidence within the clusters, see
  :class:`~bayes_hcl.results.identifiability.orientation.OrderEvidence`), and the fit is
  not flagged as a Gaussian fit of non-Gaussian data; otherwise ``orientation ambiguous``.
  ``delta_evidence`` is hill-climbed over reversed orders (moving the endpoints' ancestors and
  descendants) only for edges that pass every other test; for the rest it is the value of the two
  nearest reversed orders, an upper bound;
* heterogeneity is ``supported`` when more than one cluster is occupied with posterior
  probability >= 0.5 and the best fit with several clusters beats the best one-cluster fit by
  at least ``evidence_threshold`` nats (log Bayes factor, from the restarts' ELBOs); under a
  Gaussian likelihood clusters are flagged ``possibly non-Gaussian noise`` when the
  within-cluster residuals are still non-Gaussian or the clusters differ only in noise scale
  (a scale mixture of Gaussians is a heavy-tailed law); only supported heterogeneity is used
  as a reason to orient edges.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import networkx as nx
import numpy as np
from scipy import stats

from bayes_hcl.inference.search.order_search import OrderSearch, cluster_moments, discrete_nodes
from bayes_hcl.results.convergence import free_run_weights, run_agreement
from bayes_hcl.results.identifiability.inputs import IdentifiabilityInputs
from bayes_hcl.results.identifiability.orientation import (
    OrderEvidence,
    cluster_residuals,
    jarque_bera,
    orientation_reasons,
    standardise_per_cluster,
)
from bayes_hcl.results.identifiability.report import IdentifiabilityReport
from bayes_hcl.results.summary import MIN_SHIFT, acyclic_edges, adjacency_with_ambiguous
from bayes_hcl.vartypes import CONTINUOUS

__all__ = ["IdentifiabilityReport", "cpdag_adjacency", "identifiability_report", "separability"]

IDENTIFIED, AMBIGUOUS, UNSUPPORTED = "identified", "orientation ambiguous", "not supported"
SUPPORTED, WEAK, NOT_SUPPORTED = "supported", "weak", "not supported"
NON_GAUSSIAN_ARTEFACT = "possibly non-Gaussian noise"


def identifiability_report(
    ctx: IdentifiabilityInputs,
    *,
    min_mass: float = 0.1,
    decided: float = 0.8,
    delta_threshold: float = 2.0,
    evidence_threshold: float = 3.0,
    rows_per_parameter: float = 5.0,
) -> IdentifiabilityReport:
    """Build the identifiability report from a context of posterior summaries.

    Parameters
    ----------
    ctx : IdentifiabilityInputs
        The fit's posterior summaries and data, as built by
        :meth:`bayes_hcl.results.HCLResult.identifiability`.
    min_mass : float
        Pairs with ``P(i->j) + P(j->i)`` below this get no entry.
    decided : float
        Posterior probability of one orientation needed before it can be called identified.
    delta_threshold : float
        Minimum local log-evidence (nats) lost by reversing an edge called identified.
    evidence_threshold : float
        Minimum log Bayes factor (nats) of several clusters against one for ``supported``.
    rows_per_parameter : float
        Rows a cluster needs per parameter it estimates before its graph counts as determined.
    """
    warnings: list[str] = []
    dag = np.zeros_like(ctx.pooled, dtype=bool)
    for i, j in acyclic_edges(ctx.pooled, 0.5)[0]:
        dag[i, j] = True
    parents = [frozenset(np.flatnonzero(dag[:, j])) for j in range(len(dag))]
    residuals = _residual_checks(ctx, parents)
    clusters = _cluster_section(ctx, residuals, evidence_threshold, warnings)
    edges = _edge_entries(ctx, dag, residuals, clusters, min_mass, decided, delta_threshold)
    agreement = run_agreement(ctx.runs, edges, ctx.method, warnings)
    conditions = _condition_section(ctx, residuals, clusters, rows_per_parameter, warnings)
    if any(e["reason"] == "mechanism change" for e in edges) and not all(
        conditions["enough_samples"].values()
    ):
        warnings.append(
            "orientations from mechanism change rest on a cluster with too few rows for its "
            "parameters (see conditions.enough_samples)"
        )
    return IdentifiabilityReport(
        {
            "edges": edges,
            "clusters": clusters,
            "agreement": agreement,
            "conditions": conditions,
            "interpretation": _interpretation(ctx),
            "warnings": warnings,
        }
    )


# -- edges ------------------------------------------------------------------------------------
def _search(ctx: IdentifiabilityInputs) -> OrderSearch:
    moments = cluster_moments(ctx.x, ctx.resp, min_count=0.0)
    discrete = discrete_nodes(ctx.y, ctx.x, ctx.resp, ctx.type_codes)
    return OrderSearch(moments, discrete=discrete)


def _edge_entries(
    ctx: IdentifiabilityInputs, dag, residuals, clusters, min_mass, decided, threshold
):
    pooled, columns = ctx.pooled, ctx.columns
    hetero = clusters["heterogeneity"] == SUPPORTED
    # a Gaussian fit whose clusters may be non-Gaussian noise is misspecified: its graph may
    # carry spurious structure, so no orientation is claimed from it
    misspecified = clusters["heterogeneity"] == NON_GAUSSIAN_ARTEFACT
    changed = (np.asarray(ctx.node_change) >= 0.5) & hetero
    modelled = bool(ctx.non_gaussian_likelihood)
    reasons = orientation_reasons(dag, changed, residuals["non_gaussian"] if modelled else None)
    graph, evidence = _order_evidence(ctx, dag, modelled)
    entries = []
    for i, j in combinations(range(len(columns)), 2):
        if pooled[i, j] < pooled[j, i]:
            i, j = j, i
        p_f, p_r = float(pooled[i, j]), float(pooled[j, i])
        if p_f + p_r < min_mass:
            continue
        found = reasons[i][j] if dag[i, j] else []
        is_decided = p_f >= decided and p_f >= 0.9 * (p_f + p_r)
        adjacent = evidence.adjacency(i, j)
        # the climb over reversed orders is the costly part: only where it can decide
        eligible = is_decided and found and not misspecified and adjacent >= threshold
        movable = _related(graph, i) | _related(graph, j) if eligible else set()
        delta = evidence.delta(i, j, movable)
        status = _status(p_f + p_r, eligible and delta >= threshold)
        entries.append(
            {
                "cause": columns[i],
                "effect": columns[j],
                "status": status,
                "reason": found[0] if status == IDENTIFIED else None,
                "p_forward": p_f,
                "p_reverse": p_r,
                "p_none": max(0.0, 1.0 - p_f - p_r),
                "delta_evidence": delta,
                "adjacency_evidence": adjacent,
                "agreement": _pair_agreement(ctx.runs, pooled, i, j, status == IDENTIFIED),
                "reasons_available": list(found),
                "p_differs": float(ctx.edge_change[i, j]),
            }
        )
    return entries


def _order_evidence(ctx: IdentifiabilityInputs, dag: np.ndarray, modelled: bool):
    """The point DAG as a graph, and the local evidence of its orientations (the noise law
    counts for every continuous node when the likelihood models it)."""
    # the likelihood's noise law applies to every continuous node in every order compared,
    # not only to those whose residual looks non-Gaussian in the fitted one
    continuous = np.asarray(ctx.type_codes) == CONTINUOUS
    graph = nx.from_numpy_array(dag.astype(int), create_using=nx.DiGraph)
    # causes first; ties broken by the posterior mean node potentials
    order = list(nx.lexicographical_topological_sort(graph, key=lambda v: ctx.phi[v]))
    evidence = OrderEvidence(
        _search(ctx), order, ctx.x, ctx.labels, continuous if modelled else None
    )
    return graph, evidence


def _status(p_adjacent: float, identified: bool) -> str:
    """An edge's status from its adjacency probability and whether its orientation holds."""
    if p_adjacent < 0.5:
        return UNSUPPORTED
    return IDENTIFIED if identified else AMBIGUOUS


def _related(graph: nx.DiGraph, v: int) -> set[int]:
    """``v`` with its ancestors and descendants."""
    return {v} | nx.ancestors(graph, v) | nx.descendants(graph, v)


def _call(p_ij: float, p_ji: float) -> int:
    return 1 if p_ij >= 0.5 else (-1 if p_ji >= 0.5 else 0)


def _pair_agreement(
    runs: dict[str, Any], pooled: np.ndarray, i: int, j: int, oriented: bool
) -> float:
    """Weight of the free restarts / chains whose call on the pair matches the posterior's.

    The call is the orientation (``i -> j``, ``j -> i`` or none) when the report calls the
    edge identified, and adjacency only otherwise: runs may legitimately differ on an
    orientation the data cannot decide.
    """
    free, w = free_run_weights(runs)
    if not len(free):
        return float("nan")
    calls = runs["calls"][free]
    consensus = _call(pooled[i, j], pooled[j, i])
    own = np.where(calls[:, i, j], 1, np.where(calls[:, j, i], -1, 0))
    if not oriented:
        consensus, own = int(pooled[i, j] + pooled[j, i] >= 0.5), np.abs(own)
    return float(w @ (own == consensus))


def cpdag_adjacency(
    pooled: np.ndarray, report, columns: list[str], threshold: float = 0.5
) -> np.ndarray:
    """Pooled graph as a CPDAG: edges the report cannot orient are undirected (both 1s).

    Starts from :func:`bayes_hcl.results.summary.adjacency_with_ambiguous` of the
    pooled probabilities; a pair adjacent with probability ``>= threshold`` that the report
    calls ``orientation ambiguous`` is then undirected even where the (mean-field) posterior has
    settled on one direction: that confidence comes from the order the fit happened to reach, not
    the data."""
    adj = adjacency_with_ambiguous(pooled, threshold)
    index = {name: k for k, name in enumerate(columns)}
    for entry in report["edges"]:
        if entry["status"] != AMBIGUOUS or entry["p_forward"] + entry["p_reverse"] < threshold:
            continue
        i, j = index[entry["cause"]], index[entry["effect"]]
        adj[i, j] = adj[j, i] = 1
    return adj


# -- clusters ---------------------------------------------------------------------------------
def separability(x: np.ndarray, resp: np.ndarray, a: int, b: int) -> dict[str, float]:
    """How distinguishable clusters ``a`` and ``b`` are.

    ``misclassification``: posterior probability, averaged over the rows of the two clusters,
    that a row belongs to the other one of the pair (an estimate of the Bayes error between
    them). ``bhattacharyya``: Bhattacharyya coefficient of Gaussians with the clusters'
    membership-weighted means and covariances (1 = identical, 0 = disjoint);
    ``hellinger = sqrt(1 - bhattacharyya)``.
    """
    ma, mb = resp[:, a], resp[:, b]
    rows = np.maximum(ma, mb) > 0.5
    share = np.minimum(ma, mb)[rows] / np.maximum(ma + mb, 1e-300)[rows]
    mis = float(share.mean()) if rows.any() else float("nan")
    moments = cluster_moments(x, resp[:, [a, b]], min_count=0.0)
    cov = moments.scatter / np.maximum(moments.counts, 1e-12)[:, None, None]
    cov = cov + 1e-6 * np.eye(x.shape[1])
    avg = 0.5 * (cov[0] + cov[1])
    diff = moments.means[0] - moments.means[1]
    logdets = [np.linalg.slogdet(c)[1] for c in (avg, cov[0], cov[1])]
    dist = diff @ np.linalg.solve(avg, diff) / 8.0 + 0.5 * (logdets[0] - 0.5 * sum(logdets[1:]))
    bc = float(np.exp(-dist))
    return {
        "misclassification": mis,
        "bhattacharyya": bc,
        "hellinger": float(np.sqrt(max(0.0, 1.0 - bc))),
    }


def _log_bayes_factor(evidence: dict[str, Any] | None) -> dict[str, Any]:
    """ELBO of the best fit with several occupied clusters minus the best with one (the
    restarts' scores: under the coarsened posterior when its power is below 1)."""
    if not evidence:
        return {"method": None, "log_bayes_factor": None, "note": "no restart scores recorded"}
    scores = np.asarray(evidence["scores"], dtype=float)
    occupied = np.asarray(evidence["occupied"])
    finite = np.isfinite(scores)
    multi, one = finite & (occupied >= 2), finite & (occupied == 1)
    power = float(evidence.get("coarsening_power", 1.0))
    out: dict[str, Any] = {
        "method": "elbo" if power == 1.0 else "coarsened_elbo",
        "coarsening_power": power,
        "best_elbo_several": float(scores[multi].max()) if multi.any() else None,
        "best_elbo_one": float(scores[one].max()) if one.any() else None,
        "log_bayes_factor": None,
    }
    if multi.any() and one.any():
        out["log_bayes_factor"] = out["best_elbo_several"] - out["best_elbo_one"]
        out["note"] = "ELBO of the best restart with several clusters minus the best with one"
        if power < 1.0:
            out["note"] += (
                f", under the coarsened posterior (likelihood to the power {power:.3g}, "
                "svi.coarsening)"
            )
    elif one.any():
        out["note"] = "no restart kept more than one cluster"
    else:
        out["note"] = (
            "no restart fitted one population (svi.one_cluster_restart off or fewer than 3 "
            "restarts): the comparison is not available"
        )
    return out


def _cluster_ids(ctx: IdentifiabilityInputs) -> list[int]:
    """The shown clusters' numbers (``labels`` and ``resp`` count them by position)."""
    n = np.asarray(ctx.resp).shape[1]
    return [int(k) for k in ctx.cluster_ids] if len(ctx.cluster_ids) == n else list(range(n))


def _cluster_section(
    ctx: IdentifiabilityInputs, residuals, evidence_threshold, warnings
) -> dict[str, Any]:
    labels, resp = ctx.labels, np.asarray(ctx.resp, dtype=float)
    ids = _cluster_ids(ctx)
    occupied = list(ids)
    sizes = {str(k): int((labels == i).sum()) for i, k in enumerate(ids)}
    entropy = -(resp * np.log(np.clip(resp, 1e-300, None))).sum(1)
    pairs = []
    for (i, a), (j, b) in combinations(enumerate(ids), 2):
        sep = separability(ctx.x, resp, i, j)
        sep["separated"] = sep["misclassification"] <= 0.05 and sep["bhattacharyya"] < 0.5
        pairs.append({"a": a, "b": b, **sep})
        if not sep["separated"]:
            warnings.append(
                f"clusters {a} and {b} are poorly separated (misclassification "
                f"{sep['misclassification']:.2f}, Bhattacharyya {sep['bhattacharyya']:.2f}): "
                "their memberships and per-cluster graphs are uncertain"
            )
    p_multi = float(sum(p for k, p in ctx.n_clusters.items() if int(k) > 1))
    evidence = _log_bayes_factor(ctx.evidence)
    verdict, why = _heterogeneity(ctx, residuals, p_multi, evidence, evidence_threshold)
    if verdict == NON_GAUSSIAN_ARTEFACT:
        warnings.append(
            f"the clusters may be one non-Gaussian population: {why}; until then no "
            "orientation is called identified"
        )
    return {
        "heterogeneity": verdict,
        "explanation": why,
        "n_clusters_posterior": {str(k): float(p) for k, p in ctx.n_clusters.items()},
        "p_more_than_one": p_multi,
        "evidence": evidence,
        "occupied": occupied,
        "sizes": sizes,
        "membership_entropy_mean": float(entropy.mean()),
        "membership_max_mean": float(resp.max(1).mean()),
        "separability": pairs,
    }


def _heterogeneity(
    ctx: IdentifiabilityInputs, residuals, p_multi, evidence, threshold
) -> tuple[str, str]:
    lbf = evidence["log_bayes_factor"]
    if p_multi < 0.5:
        return NOT_SUPPORTED, f"P(more than one cluster) = {p_multi:.2f}"
    gaussian = not ctx.non_gaussian_likelihood
    odd = residuals["non_gaussian_names"]
    if gaussian and odd:
        return NON_GAUSSIAN_ARTEFACT, (
            f"within-cluster residuals of {', '.join(odd)} are non-Gaussian under a Gaussian "
            "likelihood; refit with noise='skew_t' (the default: tails and skew learned per "
            "variable) and compare"
        )
    if ctx.resp.shape[1] < 2:
        return NOT_SUPPORTED, (
            f"P(more than one cluster) = {p_multi:.2f}, but the clusters overlap so much that "
            "the point partition has one: rows cannot be assigned"
        )
    shifts = ctx.shifts
    intercept = float(shifts["p_intercept_shift"].max()) if len(shifts) else 0.0
    noise = float(shifts["p_noise_shift"].max()) if len(shifts) else 0.0
    edges = float(np.max(ctx.edge_change, initial=0.0))
    if gaussian and noise >= 0.5 and intercept < 0.5 and edges < 0.5:
        return NON_GAUSSIAN_ARTEFACT, (
            "the clusters differ only in noise scale, which one heavy-tailed population "
            "explains as well; refit with noise='skew_t' (the default) and compare"
        )
    if lbf is not None and lbf < threshold:
        return WEAK, f"log Bayes factor against one population {lbf:.1f} < {threshold:g} nats"
    text = f"P(more than one cluster) = {p_multi:.2f}"
    if lbf is not None:
        text += f", log Bayes factor against one population {lbf:.1f} nats"
    return SUPPORTED, text


# -- conditions -------------------------------------------------------------------------------
def _residual_checks(ctx: IdentifiabilityInputs, parents: list[frozenset]) -> dict[str, Any]:
    """Within-cluster residuals of every continuous node given its fitted parents."""
    x, labels, codes = ctx.x, ctx.labels, ctx.type_codes
    d = x.shape[1]
    out = {k: np.full(d, np.nan) for k in ("skew", "kurt", "jb_p", "var_ratio", "equal_var_p")}
    out["non_gaussian"] = np.zeros(d, dtype=bool)
    groups = [labels == k for k in np.unique(labels)]
    for j in range(d):
        if codes[j] != CONTINUOUS:
            continue
        r = cluster_residuals(x, labels, j, parents[j])
        skew, kurt, _, p = jarque_bera(standardise_per_cluster(r, labels))
        out["skew"][j], out["kurt"][j], out["jb_p"][j] = skew, kurt, p
        out["non_gaussian"][j] = p < 1e-3 and (abs(skew) > 0.2 or abs(kurt) > 0.4)
        parts = [r[g] for g in groups if np.isfinite(r[g]).all()]
        if len(parts) >= 2:
            var = np.array([np.var(v) for v in parts])
            out["var_ratio"][j] = float(var.max() / max(var.min(), 1e-300))
            out["equal_var_p"][j] = float(stats.bartlett(*parts).pvalue)
    out["non_gaussian_names"] = [
        c for c, flag in zip(ctx.columns, out["non_gaussian"], strict=True) if flag
    ]
    return out


def _condition_section(
    ctx: IdentifiabilityInputs, residuals, clusters, rows_per_parameter, warnings
) -> dict:
    d = len(ctx.columns)
    inclusion = np.asarray(ctx.cluster_inclusion)
    n_params = {
        str(k): int(2 * d + (inclusion[i] >= 0.5).sum()) for i, k in enumerate(_cluster_ids(ctx))
    }
    sizes = clusters["sizes"]
    enough = {k: sizes[k] >= rows_per_parameter * n_params[k] for k in sizes}
    for k, ok in enough.items():
        if not ok:
            warnings.append(
                f"cluster {k} has {sizes[k]} rows for {n_params[k]} parameters (want >= "
                f"{rows_per_parameter * n_params[k]:.0f}): its graph is weakly determined"
            )
    ng = residuals["non_gaussian_names"]
    if ng and not ctx.non_gaussian_likelihood and ctx.likelihood == "gaussian":
        warnings.append(
            f"residuals of {', '.join(ng)} are non-Gaussian but the likelihood is Gaussian: "
            "orientation by non-Gaussianity is not used; noise='skew_t' (the default: tails "
            "and skew learned per variable) models it"
        )
    elif ng and not ctx.non_gaussian_likelihood:
        warnings.append(
            f"residuals of {', '.join(ng)} are non-Gaussian but the fitted {ctx.likelihood} "
            "law is Gaussian at every variable (noise_law()): orientation by "
            "non-Gaussianity is not used"
        )
    nodes = []
    for j, name in enumerate(ctx.columns):
        nodes.append(
            {
                "variable": name,
                "type": ctx.types[j],
                "residual_skewness": _num(residuals["skew"][j]),
                "residual_excess_kurtosis": _num(residuals["kurt"][j]),
                "jarque_bera_p": _num(residuals["jb_p"][j]),
                "non_gaussian": bool(residuals["non_gaussian"][j]),
                "residual_variance_ratio": _num(residuals["var_ratio"][j]),
                "equal_variance_p": _num(residuals["equal_var_p"][j]),
            }
        )
    return {
        "likelihood": ctx.likelihood,
        "likelihood_models_non_gaussian_noise": bool(ctx.non_gaussian_likelihood),
        "samples_per_cluster": sizes,
        "parameters_per_cluster": n_params,
        "rows_per_parameter_needed": rows_per_parameter,
        "enough_samples": enough,
        "non_gaussian_residuals": ng,
        "unequal_variance_across_clusters": [
            n["variable"]
            for n in nodes
            if n["equal_variance_p"] is not None and n["equal_variance_p"] < 1e-3
        ],
        "nodes": nodes,
    }


def _num(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


# -- interpretation ---------------------------------------------------------------------------
def _interpretation(ctx: IdentifiabilityInputs) -> dict[str, Any]:
    """Universal and specific edges exactly as ``HCLResult.summary()``'s ``mechanism`` column
    (:func:`bayes_hcl.results.mechanisms.mechanism_table`), plus the shift targets: shifts of
    more than ``min_shift`` standard deviations with probability >= 0.5."""
    table = ctx.universality
    cluster_columns = [c for c in table.columns if c.startswith("p_cluster_")]
    universal, specific = [], []
    for row in table.to_dict("records"):
        if row["mechanism"] not in ("universal", "specific"):
            continue
        entry = {
            "cause": row["cause"],
            "effect": row["effect"],
            **{
                name: float(row[name])
                for name in ("p_edge", "p_all_clusters", "p_universal", "p_differs")
            },
            **{name: float(row[name]) for name in cluster_columns},
        }
        (specific if row["mechanism"] == "specific" else universal).append(entry)
    shifts = [
        {k: (float(v) if not isinstance(v, str) else v) for k, v in rec.items()}
        for rec in ctx.shifts.to_dict("records")
        if rec["p_shift_exceeds"] >= 0.5
    ]
    return {
        "universal_edges": universal,
        "specific_edges": specific,
        "shift_targets": shifts,
        "min_shift": float(ctx.shifts.attrs.get("min_shift", MIN_SHIFT)),
    }
