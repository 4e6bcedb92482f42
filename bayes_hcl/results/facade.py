"""HCLResult: the fitted posterior (ArviZ InferenceData) and every readout of it.

The posterior lives in one ``InferenceData`` with named dimensions ``chain, draw, cluster,
node, parent, obs``; the fit's metadata (package version, seed, method, config, data scalers,
timings) are JSON strings in its attributes, so ``save``/``load_result`` is a lossless netCDF
round trip. Clusters are aligned across draws and sorted by decreasing weight (cluster 0 is the
largest). The computations live in :mod:`bayes_hcl.results.summary` and
:mod:`bayes_hcl.results.identifiability.rules`;
this class feeds them the posterior.
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from bayes_hcl.config import Config
from bayes_hcl.results import summary
from bayes_hcl.results.convergence import convergence_report
from bayes_hcl.results.draws import PosteriorDraws
from bayes_hcl.results.factors import FactorReadout
from bayes_hcl.results.identifiability.inputs import IdentifiabilityInputs
from bayes_hcl.results.identifiability.report import IdentifiabilityReport
from bayes_hcl.results.identifiability.rules import identifiability_report
from bayes_hcl.results.io.posterior import (
    build_inference_data,
    read_result_file,
    write_result_file,
)
from bayes_hcl.vartypes import TYPE_CODES

__all__ = ["HCLResult", "build_inference_data", "load_result"]


class HCLResult:
    """Posterior of a heterogeneous causal model with summaries and diagnostics.

    Parameters
    ----------
    idata : arviz.InferenceData or xarray.DataTree
        As built by :func:`build_inference_data` (or read by :func:`load_result`).
    """

    def __init__(self, idata):
        self.idata = idata
        self._posterior = PosteriorDraws(idata)
        self.meta: dict[str, Any] = self._posterior.meta
        self.config: Config = self._posterior.config
        self.columns: list[str] = self._posterior.columns
        self.types: list[str] = self._posterior.types
        self.seed: int = self._posterior.seed
        self.method: str = self._posterior.method

    # -- raw arrays ---------------------------------------------------------------------------
    def _draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable with chain and draw stacked into one axis."""
        return self._posterior.draws(name)

    @property
    def compact(self) -> bool:
        """Whether the fit was by minibatches and keeps mean memberships and per-draw
        cluster sizes instead of per-draw memberships (see
        :mod:`bayes_hcl.inference.svi.minibatch`)."""
        return self._posterior.compact

    def _mean_membership(self) -> np.ndarray:
        return self._posterior.mean_membership()

    @cached_property
    def _occupied(self) -> np.ndarray:
        if self.compact:
            return summary.occupancy_from_sizes(self._draws("cluster_size"), self._min_size)
        rng = np.random.default_rng(self.seed)
        membership = self._draws("membership").astype(np.float64)
        return summary.sample_occupancy(membership, rng, self._min_size)

    @property
    def _min_size(self) -> int:
        """Rows an occupied cluster must hold: the share below which the fit prunes."""
        return self._posterior.min_size

    def missing_cells(self) -> dict[str, int]:
        """Cells that were missing and masked (``missing="mask"``), per column that had any;
        ``{}`` when none was (or for a fit from before missing values were supported)."""
        return dict(self.meta["data"].get("missing", {}))

    def occupied_clusters(self) -> list[int]:
        """Clusters of the point partition (see :meth:`clusters`)."""
        return sorted(int(k) for k in np.unique(self.clusters()))

    # -- clusters -----------------------------------------------------------------------------
    def memberships(self) -> pd.DataFrame:
        """Posterior membership probabilities, one column per occupied cluster (rows sum to 1)."""
        m = self._mean_membership()[:, self.occupied_clusters()]
        m = m / m.sum(1, keepdims=True)
        return pd.DataFrame(m, columns=self.occupied_clusters()).rename_axis(columns="cluster")

    @cached_property
    def _coclustering(self) -> np.ndarray:
        return summary.coclustering(self._draws("membership").astype(np.float64))

    def coclustering(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Posterior probability that two rows share a cluster, ``(n, n)`` or among
        ``rows`` only.

        A minibatch fit (:attr:`compact`) keeps no per-draw memberships: its co-clustering
        is that of the mean memberships (:func:`bayes_hcl.results.summary.coclustering_of_means`).
        """
        if self.compact:
            m = self._mean_membership()
            return summary.coclustering_of_means(m if rows is None else m[rows])
        if rows is None:
            return self._coclustering
        return summary.coclustering(self._draws("membership")[:, rows].astype(np.float64))

    def clusters(self, loss: str = "vi") -> np.ndarray:
        """Point partition minimising the posterior expected VI (or ``"binder"``) loss.

        For a minibatch fit (:attr:`compact`) and above
        :data:`~bayes_hcl.results.summary.LOSS_PARTITION_MAX_ROWS` rows, each row's most probable
        cluster, rows of clusters too small to count as occupied moved to their most probable
        occupied one (``loss`` is then not used: the expected losses need per-draw
        memberships and an ``n × n`` co-clustering matrix, 3.2 GB at 20,000 rows).
        """
        if loss not in ("vi", "binder"):
            raise ValueError(f"loss must be 'vi' or 'binder', got {loss!r}")
        return self._partition(loss)

    def _partition(self, loss: str) -> np.ndarray:
        key = f"_partition_{loss}"
        n = self.idata.observed_data.sizes["obs"]
        if self.compact or n > summary.LOSS_PARTITION_MAX_ROWS:
            mean = self._mean_membership()
            return summary.absorb_small_clusters(mean.argmax(1), mean, self._min_size)
        if key not in self.__dict__:
            m = self._draws("membership").astype(np.float64)
            self.__dict__[key] = summary.point_partition(
                m, self._coclustering, loss, self._min_size
            )
        return self.__dict__[key]

    def n_clusters(self) -> pd.Series:
        """Posterior over the number of occupied clusters.

        In each draw every row is assigned by its membership probabilities; a cluster is
        occupied if it then holds at least :func:`bayes_hcl.config.min_cluster_size` rows.
        """
        return summary.n_clusters_posterior(self._occupied)

    # -- edges --------------------------------------------------------------------------------
    def _frame(self, matrix: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            matrix,
            index=pd.Index(self.columns, name="cause"),
            columns=pd.Index(self.columns, name="effect"),
        )

    def edge_probabilities(self, cluster: int | None = None) -> pd.DataFrame:
        """Edge probabilities (rows = cause, columns = effect).

        With ``cluster=None`` the pooled probability that the edge is present in at least one
        occupied cluster; otherwise the probability within that cluster.
        """
        inclusion = self._draws("inclusion")
        if cluster is None:
            return self._frame(summary.pooled_edge_probabilities(inclusion, self._occupied))
        self._check_cluster(cluster)
        return self._frame(inclusion[:, cluster].mean(0))

    def _check_cluster(self, cluster: int) -> None:
        if cluster not in range(self._draws("log_weights").shape[-1]):
            raise ValueError(
                f"cluster {cluster} does not exist (0..{self._draws('log_weights').shape[-1] - 1})"
            )

    def _unit_factor(self) -> np.ndarray:
        """Multiply a standardised effect ``i -> j`` by this to get original units."""
        scale = np.asarray(self.meta["data"]["scale"], dtype=float)
        parent = np.where(np.asarray(self.types) == "binary", 1.0, scale)
        child = np.where(np.asarray(self.types) == "continuous", scale, 1.0)
        return child[None, :] / parent[:, None]

    def effects(self, min_probability: float = 0.05, prob: float = 0.94) -> pd.DataFrame:
        """Tidy table of effects per occupied cluster with HDIs and inclusion probabilities.

        ``mean``/``hdi_*`` are in standardised units (per sd of a continuous or log1p-count
        parent; per unit of a binary parent; on the sd / log-odds / log-rate scale of the
        child); ``*_original`` convert continuous endpoints to the data's own units.
        """
        return summary.effect_table(
            self._draws("weights"),
            self._draws("inclusion"),
            self.occupied_clusters(),
            self.columns,
            self._unit_factor(),
            min_probability,
            prob,
        )

    def _universality(self, min_probability: float) -> pd.DataFrame:
        return summary.universality_table(
            self._draws("inclusion"), self._occupied, self.columns, min_probability
        )

    def universal_edges(self, threshold: float = 0.5) -> pd.DataFrame:
        """Edges present in every occupied cluster with probability >= threshold."""
        table = self._universality(min(threshold, 0.05))
        return table[table.p_all >= threshold].reset_index(drop=True)

    def specific_edges(self, threshold: float = 0.5) -> pd.DataFrame:
        """Edges present in some but not all occupied clusters with probability >= threshold.

        Adds one column ``p_cluster_<k>`` per occupied cluster.
        """
        table = self._universality(min(threshold, 0.05))
        return self._with_cluster_columns(table[table.p_specific >= threshold])

    def _with_cluster_columns(self, table: pd.DataFrame) -> pd.DataFrame:
        """Add ``p_cluster_<k>`` (edge probability within cluster k) per occupied cluster."""
        table = table.reset_index(drop=True)
        inclusion = self._draws("inclusion").mean(0)
        idx = {c: i for i, c in enumerate(self.columns)}
        rows = (
            np.array([idx[c] for c in table.cause], dtype=int),
            np.array([idx[e] for e in table.effect], dtype=int),
        )
        for k in self.occupied_clusters():
            table[f"p_cluster_{k}"] = inclusion[k][rows]
        return table

    def shift_targets(self, threshold: float | None = None) -> pd.DataFrame:
        """Per variable, probability that the latent cluster shifts its intercept or noise.

        With ``threshold`` only variables with ``p_shift >= threshold`` are returned.
        """
        table = summary.shift_table(
            self._draws("intercept_shift"),
            self._draws("noise_shift"),
            self._draws("b"),
            self._draws("sigma"),
            self._occupied,
            self.columns,
        )
        return (
            table if threshold is None else table[table.p_shift >= threshold].reset_index(drop=True)
        )

    def graph(self, cluster: int | None = None, threshold: float = 0.5) -> nx.DiGraph:
        """Graph of edges with probability >= threshold; always acyclic.

        Edge attributes: ``probability`` and ``weight`` (posterior mean standardised effect; for
        the pooled graph, averaged over occupied clusters by their size). Edges that would
        close a cycle (possible only between thresholded marginals) are left out and listed
        in ``graph.graph["skipped"]``.
        """
        prob = self.edge_probabilities(cluster).to_numpy()
        weights = self._draws("weights").mean(0)
        if cluster is None:
            occ = self.occupied_clusters()
            sizes = np.array([(self.clusters() == k).sum() for k in occ], dtype=float)
            weight = np.tensordot(sizes / sizes.sum(), weights[occ], axes=1)
        else:
            weight = weights[cluster]
        kept, skipped = summary.acyclic_edges(prob, threshold)
        g = nx.DiGraph(
            cluster=cluster,
            threshold=threshold,
            skipped=[(self.columns[i], self.columns[j]) for i, j in skipped],
        )
        for name, kind in zip(self.columns, self.types, strict=True):
            g.add_node(name, type=kind)
        for i, j in kept:
            g.add_edge(
                self.columns[i],
                self.columns[j],
                probability=float(prob[i, j]),
                weight=float(weight[i, j]),
            )
        return g

    # -- diagnostics and reports --------------------------------------------------------------
    def identifiability(self) -> IdentifiabilityReport:
        """What the data can and cannot support (see
        :mod:`bayes_hcl.results.identifiability.rules`).

        Returns an :class:`~bayes_hcl.results.identifiability.report.IdentifiabilityReport`:
        per edge a status (``identified`` / ``orientation ambiguous`` / ``not supported``) with its
        reason and numbers, the heterogeneity verdict with the evidence against one
        population and cluster separability, agreement of restarts or chains, conditions on
        the data, and the universal / cluster-specific / shift-target readout. ``to_dict()``
        is what the CLI writes as ``identifiability.json``; ``to_frame()`` gives tables.
        """
        if "_ident" not in self.__dict__:
            report = identifiability_report(self._identifiability_inputs())
            if self.factors.several:
                report = IdentifiabilityReport({**report, "factors": self.factors.separability()})
            self.__dict__["_ident"] = report
        return self.__dict__["_ident"]

    @cached_property
    def factors(self) -> FactorReadout:
        """The latent factors: states, memberships, what each changes, separability (see
        :class:`~bayes_hcl.results.factors.FactorReadout`; a one-factor fit has one, its
        clusters)."""
        return FactorReadout(self._posterior)

    @cached_property
    def _changes(self) -> tuple[np.ndarray, np.ndarray]:
        return summary.mechanism_changes(
            self._draws("inclusion"),
            self._draws("weights"),
            self._draws("intercept_shift"),
            self._draws("noise_shift"),
            self._occupied,
        )

    def mechanism_changes(self) -> pd.DataFrame:
        """Per variable: probability that its mechanism differs between occupied clusters.

        A variable's mechanism differs when its intercept or noise is shifted, or an incoming
        edge is present in some clusters only or has weights spanning more than 0.25
        (standardised units); see :func:`bayes_hcl.results.summary.mechanism_changes`.
        """
        return pd.DataFrame({"variable": self.columns, "p_changes": self._changes[1]})

    def _runs(self) -> dict[str, np.ndarray]:
        rs = self.idata["restarts"]
        parts = rs["partition"].values
        k = rs["inclusion"].shape[1]
        occupied = np.stack([np.bincount(p, minlength=k) >= self._min_size for p in parts])
        inclusion = np.where(occupied[:, :, None, None], rs["inclusion"].values, 0.0)
        forced = rs.get("forced_one_cluster")
        return {
            "calls": inclusion.max(axis=1) >= 0.5,
            "orders": rs["order"].values,
            "partitions": parts,
            "weights": rs["weight"].values,
            "scores": rs["score"].values,
            "forced_one_cluster": np.zeros(len(parts), bool)
            if forced is None
            else forced.values.astype(bool),
        }

    def _likelihood(self) -> tuple[str, bool]:
        """Noise law of the continuous nodes and whether it is non-Gaussian."""
        model = self.config.model
        if model.noise_components > 1:
            return f"gaussian mixture ({model.noise_components} components)", True
        return model.noise_family, model.noise_family != "gaussian"

    def _identifiability_inputs(self) -> IdentifiabilityInputs:
        occ = self.occupied_clusters()
        resp = self.memberships().to_numpy()
        labels = np.searchsorted(occ, self.clusters())
        name, non_gaussian = self._likelihood()
        return IdentifiabilityInputs(
            columns=self.columns,
            types=self.types,
            type_codes=np.array([TYPE_CODES[t] for t in self.types]),
            x=self.idata.constant_data["x"].values.astype(np.float64),
            y=self.idata.observed_data["y"].values.astype(np.float64),
            labels=labels,
            resp=resp,
            pooled=self.edge_probabilities().to_numpy(),
            phi=self._draws("phi").mean(0),
            cluster_inclusion=self._draws("inclusion").mean(0)[occ],
            edge_change=self._changes[0],
            node_change=self._changes[1],
            n_clusters=self.n_clusters().to_dict(),
            universality=self._universality(0.05),
            shifts=self.shift_targets(),
            runs=self._runs(),
            evidence=self.meta.get("evidence"),
            likelihood=name,
            non_gaussian_likelihood=non_gaussian,
            method=self.method,
        )

    def convergence(self) -> dict[str, Any]:
        """Convergence of the chains on label-invariant quantities (see
        :mod:`bayes_hcl.results.convergence`): R-hat, bulk/tail ESS, divergences, warnings.

        An SVI fit has no chains: the report says so and points to the agreement of its
        restarts in :meth:`identifiability`.
        """
        return self._convergence[0]

    @cached_property
    def _convergence(self) -> tuple[dict[str, Any], np.ndarray | None]:
        if self.method != "nuts":
            note = (
                "SVI has no chains: R-hat and ESS do not apply; the agreement of independent "
                "restarts is in identifiability()['agreement']"
            )
            return {"method": self.method, "converged": None, "note": note, "warnings": []}, None
        post = self.idata.posterior
        chains, draws = post.sizes["chain"], post.sizes["draw"]
        k = post.sizes["cluster"]
        report, table = convergence_report(
            self.idata.log_likelihood["obs_loglik"].values,
            post["membership"].values,
            post["inclusion"].values,
            self._occupied.reshape(chains, draws, k),
            self.clusters(),
            self.columns,
            {name: self.idata.sample_stats[name].values for name in ("diverging", "tree_size")},
            self.config.nuts.max_tree_depth,
        )
        return {"method": self.method, **report}, table

    def summary(self, min_probability: float = 0.05) -> pd.DataFrame:
        """One row per candidate edge: pooled and per-cluster probabilities, universality,
        the identifiability status of the pair, and, for the direction the report states, its
        reason and ``delta_evidence``; for NUTS, R-hat and bulk ESS of the pooled edge
        probability (NaN for SVI)."""
        table = self._with_cluster_columns(self._universality(min_probability))
        entries = {(e["cause"], e["effect"]): e for e in self.identifiability()["edges"]}
        pairs = list(zip(table.cause, table.effect, strict=True))
        found = [entries.get((c, e)) or entries.get((e, c)) for c, e in pairs]
        table["status"] = [f["status"] if f else "not supported" for f in found]
        stated = [
            f if f and (f["cause"], f["effect"]) == pair else None
            for f, pair in zip(found, pairs, strict=True)
        ]
        table["reason"] = [f["reason"] if f else None for f in stated]
        table["delta_evidence"] = [f["delta_evidence"] if f else np.nan for f in stated]
        conv = self._convergence[1]
        idx = {c: i for i, c in enumerate(self.columns)}
        rows = [(idx[c], idx[e]) for c, e in zip(table.cause, table.effect, strict=True)]
        for col, name in ((0, "rhat"), (1, "ess_bulk")):
            table[name] = [np.nan if conv is None else conv[i, j, col] for i, j in rows]
        return table.rename(columns={"p_any": "p_pooled"})

    def plot(self, figsize: tuple[float, float] = (15.0, 9.0)):
        """One-figure overview (see :func:`bayes_hcl.viz.plots.plot_overview`); returns the Axes."""
        from bayes_hcl.viz import plots

        return plots.plot_overview(self, figsize)

    def report(self, path: str | os.PathLike, title: str = "bayes_hcl report"):
        """Write a self-contained HTML report (see :mod:`bayes_hcl.viz.report`); returns its
        path."""
        from bayes_hcl.viz import report

        return report.write_report(self, path, title)

    def to_arviz(self):
        """The posterior as ArviZ data: ``InferenceData`` (ArviZ 0.x) or ``DataTree`` (1.x).

        Dimensions ``chain, draw, cluster, node, parent, obs``; groups ``posterior``,
        ``log_likelihood``, ``sample_stats``, ``observed_data``, ``constant_data`` and
        ``restarts``; attributes record the package version, seed, method and config.
        """
        return self.idata

    def record_metadata(self, key: str, value: Any) -> None:
        """Add an entry to the recorded metadata (``meta``; kept by :meth:`save`), e.g. the
        command line of a CLI fit. ``value`` must be a string or JSON-serialisable."""
        self.meta[key] = value
        self.idata.posterior.attrs[key] = value if isinstance(value, str) else json.dumps(value)

    def save(self, path: str | os.PathLike) -> None:
        """Write the posterior and all metadata to a netCDF file (lossless).

        The file is written beside ``path`` under a temporary name and renamed into place,
        so ``path`` never holds a half-written result (an interrupted save leaves any
        earlier file there as it was).
        """
        write_result_file(self.idata, path)

    def __repr__(self) -> str:
        k = self.n_clusters()
        return (
            f"HCLResult(method={self.method!r}, n={self.idata.observed_data.sizes['obs']}, "
            f"d={len(self.columns)}, clusters={len(self.occupied_clusters())} "
            f"(P(K)={k.max():.2f} at K={int(k.idxmax())}), seed={self.seed})"
        )


def load_result(path: str | os.PathLike) -> HCLResult:
    """Read a result written by :meth:`HCLResult.save`.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    DataError
        If the file is not a netCDF file, holds no bayes_hcl result, or was written in a
        later result format (``bayes_hcl.results.io.posterior.RESULT_FORMAT``) than this version
        reads.
    """
    return HCLResult(read_result_file(path))
