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

import numpy as np
import pandas as pd

from bayes_hcl.config import Config
from bayes_hcl.results import summary
from bayes_hcl.results.convergence import convergence_report
from bayes_hcl.results.draws import PosteriorDraws
from bayes_hcl.results.edges import EdgeReadouts
from bayes_hcl.results.factors import FactorReadout
from bayes_hcl.results.identifiability.inputs import IdentifiabilityInputs, restart_runs
from bayes_hcl.results.identifiability.report import IdentifiabilityReport
from bayes_hcl.results.identifiability.rules import identifiability_report
from bayes_hcl.results.io.posterior import (
    build_inference_data,
    read_result_file,
    write_result_file,
)
from bayes_hcl.results.mechanisms import mechanism_changes
from bayes_hcl.results.noise_law import noise_law_table
from bayes_hcl.results.shown import cluster_note, shown_occupancy
from bayes_hcl.vartypes import CONTINUOUS, TYPE_CODES

__all__ = ["HCLResult", "build_inference_data", "load_result"]


class HCLResult(EdgeReadouts):
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

    def column_types(self) -> pd.DataFrame:
        """The type each column was given at fit time, with which likelihood, and why.

        Returns
        -------
        pandas.DataFrame
            One row per column, with columns ``column``, ``type``, ``likelihood`` (its
            density as a child), ``missing`` (masked cells), ``reason`` (why the type:
            inferred from the values, or declared), ``flag`` (``""``, ``"identifier"``,
            ``"measurement"``, ``"short_scale"`` or ``"overdispersed"``; see
            :mod:`bayes_hcl.data.type_inference`) and ``note`` (the override the flag
            suggests). A result saved before the table was recorded has ``column`` and
            ``type`` only.
        """
        recorded = self.meta.get("column_types")
        if not recorded:
            return pd.DataFrame({"column": self.columns, "type": self.types})
        return pd.DataFrame(recorded)

    def missing_cells(self) -> dict[str, int]:
        """Cells that were missing and masked (``missing="mask"``), per column that had any;
        ``{}`` when none was (or for a fit from before missing values were supported)."""
        return dict(self.meta["data"].get("missing", {}))

    def occupied_clusters(self) -> list[int]:
        """The shown clusters: those of the point partition (see :meth:`clusters`).

        Every readout — memberships, per-cluster and pooled edge probabilities, effects,
        universal / specific mechanisms, shift targets, the CLI's ``clusters/<k>/`` folders
        — is over exactly these; :meth:`cluster_note` says how they relate to the posterior
        over the number of clusters.
        """
        return sorted(int(k) for k in np.unique(self.clusters()))

    @cached_property
    def _shown_occupied(self) -> np.ndarray:
        """Per-draw occupancy restricted to the shown clusters (the pooled readouts' mask)."""
        return shown_occupancy(self._occupied, self.occupied_clusters())

    def cluster_note(self) -> dict[str, Any]:
        """How the shown clusters relate to the posterior over the number of clusters.

        Returns
        -------
        dict
            ``shown``, ``posterior_mode``, ``p_mode``, ``hidden`` (clusters the posterior
            keeps in at least half the draws but the point estimate merges, with their
            membership mass and where it went), ``fragile`` (shown clusters occupied in
            fewer than half the draws) and ``text`` (one sentence, or ``None`` when the two
            agree); see :func:`bayes_hcl.results.shown.cluster_note`.
        """
        if "_note" not in self.__dict__:
            self.__dict__["_note"] = cluster_note(
                self._occupied, self.clusters(), self._mean_membership()
            )
        return self.__dict__["_note"]

    # -- clusters -----------------------------------------------------------------------------
    def memberships(self) -> pd.DataFrame:
        """Posterior membership probabilities, one column per shown cluster (rows sum to 1;
        the mass of clusters the point estimate does not show is shared out in proportion,
        see :meth:`cluster_note`)."""
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
        return mechanism_changes(
            self._draws("inclusion"),
            self._draws("weights"),
            self._draws("intercept_shift"),
            self._draws("noise_shift"),
            self._shown_occupied,
        )

    def mechanism_changes(self) -> pd.DataFrame:
        """Per variable: probability ``p_changes`` that its mechanism differs between shown
        clusters (columns ``variable``, ``p_changes``).

        A variable's mechanism differs when its intercept or noise is shifted, or an incoming
        edge is present in some clusters only or has weights spanning more than 0.25
        (standardised units); see :func:`bayes_hcl.results.mechanisms.mechanism_changes`.
        """
        return pd.DataFrame({"variable": self.columns, "p_changes": self._changes[1]})

    def noise_law(self) -> pd.DataFrame:
        """The fitted noise law of every continuous variable.

        Returns
        -------
        pandas.DataFrame
            One row per continuous variable: ``variable, family, df, df_low, df_high,
            log_skew, skewness, excess_kurtosis, non_gaussian`` (see
            :func:`bayes_hcl.results.noise_law.noise_law_table`): the posterior median and
            5 %-95 % interval of the degrees of freedom, the median log skewness, the
            moments of the law at those medians, and whether that law is non-Gaussian (the
            identifiability report orients edges by non-Gaussian noise only then).
        """
        model = self.config.model
        family = "mixture" if model.noise_components > 1 else model.noise_family
        posterior = self.idata.posterior
        draws = {n: self._draws(n) if n in posterior else None for n in ("df", "log_skew")}
        continuous = np.array([TYPE_CODES[t] == CONTINUOUS for t in self.types])
        return noise_law_table(self.columns, continuous, family, draws["df"], draws["log_skew"])

    def _likelihood(self) -> tuple[str, bool]:
        """Noise law of the continuous nodes and whether the fitted law is non-Gaussian at
        some node (a skew-t fit of Gaussian data is not: its tails and skew stay Gaussian)."""
        model = self.config.model
        if model.noise_components > 1:
            return f"gaussian mixture ({model.noise_components} components)", True
        if model.noise_family == "gaussian":
            return "gaussian", False
        return model.noise_family, bool(self.noise_law()["non_gaussian"].any())

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
            universality=self._mechanisms(0.05),
            shifts=self.shift_targets(),
            runs=restart_runs(self.idata["restarts"], self._min_size),
            evidence=self.meta.get("evidence"),
            likelihood=name,
            non_gaussian_likelihood=non_gaussian,
            method=self.method,
            cluster_ids=tuple(occ),
        )

    def convergence(self) -> dict[str, Any]:
        """Convergence of the chains on label-invariant quantities (see
        :mod:`bayes_hcl.results.convergence`): R-hat, bulk/tail ESS, divergences, warnings.

        An SVI fit has no chains: the report says so and points to the agreement of its
        restarts in :meth:`identifiability`.
        """
        return self._convergence[0]

    def chain_orders(self) -> pd.DataFrame:
        """Each chain's causal order: the order it visits most often, that order's share of
        its draws, how many orders it visits, its mean log-likelihood, whether the other
        chains' draws share its order, and the pairs of variables chains hold in opposite
        orders (see :func:`bayes_hcl.results.convergence.chain_orders`).

        An SVI fit gives one row per restart that has draws (first column ``restart``).
        """
        from bayes_hcl.results.convergence import chain_orders

        nuts = self.method != "svi"  # chains: NUTS or Gibbs
        log_lik = None
        if not self.compact:
            log_lik = self.idata.log_likelihood["obs_loglik"].values.astype(np.float64).sum(-1)
        runs = None if nuts else self.idata.sample_stats["restart"].values
        phi = self.idata.posterior["phi"].values
        return chain_orders(phi, log_lik, self.columns, runs, "chain" if nuts else "restart")

    @cached_property
    def _convergence(self) -> tuple[dict[str, Any], np.ndarray | None]:
        if self.method == "svi":
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
            {
                name: self.idata.sample_stats[name].values
                for name in ("diverging", "tree_size")
                if name in self.idata.sample_stats
            },
            self.config.nuts.max_tree_depth,
        )
        return {"method": self.method, **report}, table

    def summary(self, min_probability: float = 0.05) -> pd.DataFrame:
        """One row per candidate edge (``p_edge >= min_probability``), by decreasing
        ``p_edge``.

        Columns (the glossary is ``docs/glossary.md``): ``cause``, ``effect``; ``p_edge``
        (present in at least one shown cluster); ``p_all_clusters`` (present in every one);
        ``p_universal`` (present with the same mechanism in every one) and ``p_differs``
        (mechanism differs between them; ``p_universal + p_differs = p_edge``);
        ``mechanism`` (``universal`` / ``specific`` / ``undecided`` / ``absent`` at 0.5, as
        in :meth:`universal_edges`, :meth:`specific_edges`, the report and
        ``identifiability.json``); ``p_cluster_<k>`` per shown cluster; ``status`` of the
        pair in :meth:`identifiability`, and for the direction it states its ``reason`` and
        ``delta_evidence``; ``rhat`` and ``ess_bulk`` of ``p_edge`` for NUTS (NaN for SVI).
        """
        table = self._mechanisms(min_probability)
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
        return table

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
            f"d={len(self.columns)}, clusters shown={len(self.occupied_clusters())}, "
            f"posterior P(K={int(k.idxmax())})={k.max():.2f}, seed={self.seed})"
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
