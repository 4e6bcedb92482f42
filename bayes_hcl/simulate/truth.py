"""The simulators' result: a data set and the ground truth that generated it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_hcl.simulate.densities import cell_state_loglik, parent_values, row_loglik

__all__ = ["SimulatedData", "single_cell_loglik"]


@dataclass(frozen=True)
class SimulatedData:
    """A simulated data set and the truth that generated it.

    Attributes
    ----------
    data : pandas.DataFrame
        ``n × d`` observations; columns ``X0 .. X{d-1}`` (column order is not causal order).
    labels : numpy.ndarray
        ``(n,)`` true cluster of every row.
    adjacency : numpy.ndarray
        ``(K, d, d)`` 0/1 adjacency per cluster, ``adjacency[k, i, j] = 1`` for ``i -> j``.
    weights : numpy.ndarray
        ``(K, d, d)`` edge weights (zero where there is no edge).
    intercepts, noise_scales : numpy.ndarray
        ``(K, d)`` per-cluster intercepts and noise scales.
    types : tuple of str
        Variable type per column.
    order : numpy.ndarray
        ``(d,)`` column indices in causal order.
    shift_targets : tuple of str
        Variables whose intercept or noise scale differs between clusters.
    settings : dict
        The arguments of :func:`bayes_hcl.simulate.simulate` (or of
        :func:`bayes_hcl.simulate.simulate_single_cell`, with ``kind="single_cell"``).
    level_scores : dict of str to list of float
        Per categorical column, the score ``s_l`` of each level (in label order).
    size_factors : numpy.ndarray, optional
        ``(n,)`` true size factors of single-cell-like data.
    library_size : numpy.ndarray, optional
        ``(n,)`` total count of each cell over its whole (simulated) transcriptome.
    """

    data: pd.DataFrame
    labels: np.ndarray
    adjacency: np.ndarray
    weights: np.ndarray
    intercepts: np.ndarray
    noise_scales: np.ndarray
    types: tuple[str, ...]
    order: np.ndarray
    shift_targets: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    level_scores: dict[str, list[float]] = field(default_factory=dict)
    size_factors: np.ndarray | None = None
    library_size: np.ndarray | None = None

    @property
    def pooled_adjacency(self) -> np.ndarray:
        """Union of the cluster graphs (an edge present in any cluster)."""
        return self.adjacency.max(axis=0)

    @property
    def universal_adjacency(self) -> np.ndarray:
        """Edges present in every cluster."""
        return self.adjacency.min(axis=0)

    def class_loglik(self) -> np.ndarray:
        """Log-likelihood of every row under every cluster's true parameters.

        The linear SEM's law: weights, intercepts, noise law and scales, counts Poisson or
        NB2 with the simulated overdispersion, categorical levels multinomial logit.
        Simulators with another law (single-cell-like counts) override this method.

        Returns
        -------
        numpy.ndarray
            ``(n, K)`` log-likelihoods.
        """
        if self.settings.get("kind") == "single_cell":
            # single-cell data pickled by 0.1.0 (before SingleCellData) or built by hand
            return single_cell_loglik(self)
        values = self.codes()
        scores_of = [np.asarray(self.level_scores.get(c, [])) for c in self.data.columns]
        as_parent = parent_values(values, self.types, scores_of)
        scores = [
            row_loglik(
                values,
                as_parent,
                w,
                b,
                s,
                self.types,
                self.settings.get("noise"),
                self.settings.get("count_overdispersion", 0.0),
                scores_of,
            )
            for w, b, s in zip(self.weights, self.intercepts, self.noise_scales, strict=True)
        ]
        return np.stack(scores, axis=1)

    def bayes_labels(self) -> np.ndarray:
        """Labels a classifier that knows every true parameter would assign (the ARI ceiling).

        Each row goes to the cluster with the largest ``log(share) + log p(row | cluster)``
        (see :meth:`class_loglik`). Where the clusters overlap, even this classifier errs;
        the ARI of its labels is what the true parameters give on this sample: a reference a
        fitted model matches within sampling noise, and can exceed by chance on a finite
        sample.

        Returns
        -------
        numpy.ndarray
            ``(n,)`` cluster of every row.
        """
        sizes = np.bincount(self.labels, minlength=self.weights.shape[0])
        log_share = np.log(np.maximum(sizes, 1) / len(self.labels))
        return np.argmax(log_share + self.class_loglik(), axis=1)

    def codes(self) -> np.ndarray:
        """``(n, d)`` float values with every categorical column as its level code."""
        frame = self.data.copy()
        for col in self.level_scores:
            frame[col] = frame[col].map(lambda v: ord(v) - ord("a"))
        return frame.to_numpy(dtype=float)

    def truth(self) -> dict[str, Any]:
        """The ground truth as a JSON-serialisable dictionary."""
        cols = list(self.data.columns)
        edges = [
            {"cluster": int(k), "cause": cols[i], "effect": cols[j], "weight": float(w)}
            for k, i, j in zip(*np.nonzero(self.adjacency), strict=True)
            for w in [self.weights[k, i, j]]
        ]
        return {
            "columns": cols,
            "types": list(self.types),
            "order": [cols[i] for i in self.order],
            "labels": self.labels.tolist(),
            "n_clusters": int(self.adjacency.shape[0]),
            "edges": edges,
            "universal_edges": _edge_list(self.universal_adjacency, cols),
            "pooled_edges": _edge_list(self.pooled_adjacency, cols),
            "intercepts": self.intercepts.tolist(),
            "noise_scales": self.noise_scales.tolist(),
            "shift_targets": list(self.shift_targets),
            "level_scores": self.level_scores,
            "settings": self.settings,
        }

    def truth_json(self) -> str:
        """:meth:`truth` as an indented JSON string."""
        return json.dumps(self.truth(), indent=2)


def _edge_list(adj: np.ndarray, cols: list[str]) -> list[list[str]]:
    """``[cause, effect]`` column pairs of the edges of ``adj``."""
    return [[cols[i], cols[j]] for i, j in zip(*np.nonzero(adj), strict=True)]


def single_cell_loglik(sim: SimulatedData) -> np.ndarray:
    """``(n, K)`` log-likelihood of every cell under every state's true parameters.

    Parameters
    ----------
    sim : SimulatedData
        A result of :func:`~bayes_hcl.simulate.cells.simulate_single_cell`.

    Returns
    -------
    numpy.ndarray
        ``(n, K)`` log-likelihoods.
    """
    return cell_state_loglik(
        sim.data.to_numpy(dtype=float),
        np.asarray(sim.size_factors),
        np.asarray(sim.settings["log_base"]),
        np.asarray(sim.settings["phi"]),
        sim.weights,
        sim.intercepts,
    )
