"""The edge readouts of a fit: probabilities, effects, mechanisms, shift targets, graphs.

:class:`EdgeReadouts` is the part of :class:`~bayes_hcl.results.HCLResult` that reads edges
and shifts; it expects the host to provide the posterior draws (``_draws``), the shown
clusters (``occupied_clusters()``, ``clusters()``) and their per-draw occupancy
(``_shown_occupied``), the variables (``columns``, ``types``) and ``meta``. Every readout is
over the shown clusters (:mod:`bayes_hcl.results.shown`); the kernels live in
:mod:`bayes_hcl.results.summary`, :mod:`~bayes_hcl.results.effects`,
:mod:`~bayes_hcl.results.mechanisms` and :mod:`~bayes_hcl.results.graphs`.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from bayes_hcl.results import summary
from bayes_hcl.results.effects import conditional_weights, effect_table
from bayes_hcl.results.graphs import edge_graph
from bayes_hcl.results.mechanisms import mechanism_table
from bayes_hcl.results.shown import empty_cluster_message

__all__ = ["EdgeReadouts"]


class EdgeReadouts:
    """Edge and shift readouts over the shown clusters (a base of ``HCLResult``)."""

    #: Standardised units by which an edge's weights must span the shown clusters for its
    #: mechanism to count as differing (:data:`~bayes_hcl.results.summary.MIN_WEIGHT_CHANGE`).
    min_weight_change: float = summary.MIN_WEIGHT_CHANGE
    #: Standard deviations of the variable by which two clusters' intercepts or noise scales
    #: must differ for a shift to count (:data:`~bayes_hcl.results.summary.MIN_SHIFT`).
    min_shift: float = summary.MIN_SHIFT

    # -- edges --------------------------------------------------------------------------------
    def _frame(self, matrix: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            matrix,
            index=pd.Index(self.columns, name="cause"),
            columns=pd.Index(self.columns, name="effect"),
        )

    def edge_probabilities(self, cluster: int | None = None) -> pd.DataFrame:
        """Edge probabilities (rows = cause, columns = effect).

        With ``cluster=None`` the pooled probability ``p_edge`` that the edge is present in at
        least one shown cluster (:meth:`occupied_clusters`); otherwise the probability within
        that cluster.

        Raises
        ------
        ValueError
            If ``cluster`` is not a shown cluster (one line listing the shown ones).
        """
        inclusion = self._draws("inclusion")
        if cluster is None:
            return self._frame(summary.pooled_edge_probabilities(inclusion, self._shown_occupied))
        self._check_cluster(cluster)
        return self._frame(inclusion[:, cluster].mean(0))

    def _check_cluster(self, cluster: int) -> None:
        shown = self.occupied_clusters()
        if isinstance(cluster, bool) or not isinstance(cluster, int | np.integer):
            raise ValueError(f"cluster must be an integer or None, got {cluster!r}")
        if int(cluster) not in shown:
            raise ValueError(empty_cluster_message(int(cluster), shown))

    def _unit_factor(self) -> np.ndarray:
        """Multiply a standardised effect ``i -> j`` by this to get original units."""
        scale = np.asarray(self.meta["data"]["scale"], dtype=float)
        parent = np.where(np.asarray(self.types) == "binary", 1.0, scale)
        child = np.where(np.asarray(self.types) == "continuous", scale, 1.0)
        return child[None, :] / parent[:, None]

    def effects(self, min_probability: float = 0.05, prob: float = 0.94) -> pd.DataFrame:
        """Tidy table of effects, one row per edge and shown cluster with ``p_in_cluster >=
        min_probability``.

        Columns: ``cluster``, ``parent``, ``child``; ``p_in_cluster`` (probability that the
        edge is present in that cluster); ``mean_if_present``, ``hdi_low_if_present``,
        ``hdi_high_if_present`` (mean and ``prob`` HDI of the weight *given that the edge is
        present*); ``mean``, ``sd``, ``hdi_low``, ``hdi_high`` (model averaged: draws without
        the edge count as zero, so a weak edge's mean is pulled towards zero); and the same
        means and bounds in the data's own units (``*_original``). Effects are standardised:
        per sd of a continuous or log1p-count parent, per unit of a binary parent, on the
        sd / log-odds / log-rate scale of the child (see
        :mod:`bayes_hcl.results.effects`).
        """
        return effect_table(
            self._draws("weights"),
            self._draws("inclusion"),
            self.occupied_clusters(),
            self.columns,
            self._unit_factor(),
            min_probability,
            prob,
        )

    def _mechanisms(self, min_probability: float = 0.05) -> pd.DataFrame:
        table = mechanism_table(
            self._draws("inclusion"),
            self._draws("weights"),
            self._shown_occupied,
            self.columns,
            min_probability,
        )
        return self._with_cluster_columns(table)

    def universal_edges(self, threshold: float = 0.5) -> pd.DataFrame:
        """Edges present with the same mechanism in every shown cluster: ``p_universal >=
        threshold``.

        Columns as :meth:`summary`'s first ones: ``cause``, ``effect``, ``p_edge``,
        ``p_all_clusters``, ``p_universal``, ``p_differs``, ``mechanism``, and
        ``p_cluster_<k>`` per shown cluster (see :mod:`bayes_hcl.results.mechanisms`).
        """
        table = self._mechanisms(min(threshold, 0.05))
        return table[table.p_universal >= threshold].reset_index(drop=True)

    def specific_edges(self, threshold: float = 0.5) -> pd.DataFrame:
        """Edges whose mechanism differs between shown clusters: ``p_differs >= threshold``
        (present in some clusters only, or with weights differing by more than
        :data:`~bayes_hcl.results.summary.MIN_WEIGHT_CHANGE` standardised units).

        Columns as :meth:`universal_edges`.
        """
        table = self._mechanisms(min(threshold, 0.05))
        return table[table.p_differs >= threshold].reset_index(drop=True)

    def _with_cluster_columns(self, table: pd.DataFrame) -> pd.DataFrame:
        """Add ``p_cluster_<k>`` (edge probability within cluster k) per shown cluster."""
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

    def shift_targets(
        self, threshold: float | None = None, min_shift: float | None = None
    ) -> pd.DataFrame:
        """Per variable, probability that the latent cluster shifts its intercept or noise,
        and that it shifts them by more than ``min_shift``.

        Parameters
        ----------
        threshold : float, optional
            Keep only the variables with ``p_shift_exceeds >= threshold`` (the shift targets;
            the report and ``identifiability.json`` use 0.5).
        min_shift : float, optional
            Practical size of a shift, in standard deviations of the variable (default
            :attr:`min_shift`, 0.25; the link scale for a binary, count or categorical one).

        Returns
        -------
        pandas.DataFrame
            ``variable``; ``p_shift`` (intercept or noise shifted in at least one shown
            cluster, of any size); ``p_intercept_shift`` and ``p_noise_shift`` (each alone);
            ``p_shift_exceeds``, ``p_intercept_shift_exceeds``, ``p_noise_shift_exceeds``
            (the same, with the shown clusters' intercepts, or noise scales, spanning more
            than ``min_shift``); ``intercept_spread`` (posterior mean of the largest minus the
            smallest intercept over the shown clusters, standardised units) and
            ``noise_ratio`` (of the largest to the smallest noise scale). Sorted by
            ``p_shift_exceeds``; ``attrs["min_shift"]`` holds the size used.
        """
        min_shift = self.min_shift if min_shift is None else float(min_shift)
        if not np.isfinite(min_shift) or min_shift < 0:
            raise ValueError(f"min_shift must be a finite number >= 0, got {min_shift!r}")
        table = summary.shift_table(
            self._draws("intercept_shift"),
            self._draws("noise_shift"),
            self._draws("b"),
            self._draws("sigma"),
            self._shown_occupied,
            self.columns,
            min_shift,
        )
        if threshold is None:
            return table
        return table[table.p_shift_exceeds >= threshold].reset_index(drop=True)  # keeps attrs

    def graph(self, cluster: int | None = None, threshold: float = 0.5) -> nx.DiGraph:
        """Graph of edges with probability >= threshold; always acyclic.

        Edge attributes: ``probability`` and ``weight``, the posterior mean standardised
        effect given that the edge is present. The pooled graph's ``weight`` is sign-aware
        (NaN with ``sign="mixed"`` where clusters disagree in sign) and each shown cluster's
        weight and probability are on the edge as ``weight_cluster_<k>`` and
        ``p_cluster_<k>`` (see :mod:`bayes_hcl.results.graphs`). Edges that would close a
        cycle are left out and listed in ``graph.graph["skipped"]``.
        """
        prob = self.edge_probabilities(cluster).to_numpy()
        shown = self.occupied_clusters()
        weights, inclusion = self._draws("weights")[:, shown], self._draws("inclusion")[:, shown]
        labels = self.clusters()
        return edge_graph(
            prob,
            self.columns,
            self.types,
            threshold,
            cluster,
            shown,
            conditional_weights(weights, inclusion),
            inclusion.mean(0),
            np.array([(labels == k).sum() for k in shown], dtype=float),
        )
