"""Single-cell-like simulated data: a sparse gene-regulatory DAG, NB counts, size factors.

Cells fall into hidden *states* (the clusters). Every gene ``j`` has a baseline expression
``base_j`` (log-uniform over 1..``max_base`` counts per cell at size factor 1) and an NB2
overdispersion ``phi_j``; the count of gene ``j`` in cell ``i`` of state ``k`` is

    count_ij ~ NB2(mean = s_i * exp(log base_j + b_kj + sum_p w_kpj z_ip), phi_j),

where ``s_i`` is the cell's size factor (log-normal, geometric mean 1; the cell's library size,
its total count over the modelled genes and a state-independent background, estimates it),
``z_ip =
log1p(count_ip / s_i) - log1p(base_p)`` the regulator's normalised log expression, ``w_k``
the state's weights over a DAG shared by all states (with a few cluster-specific edges and
changed weights, as in :func:`bayes_hcl.simulate.simulate`) and ``b_kj`` the state's shift of
gene ``j``: zero in the reference state, ``± mean_shift`` (log scale) on the state's shift
targets. Genes are simulated in causal order, so a shift propagates to the targets' children.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_hcl.simulate.draws import cluster_graphs, cluster_sizes, gamma_rate, random_dag
from bayes_hcl.simulate.layout import ColumnOrder
from bayes_hcl.simulate.truth import SimulatedData, single_cell_loglik

__all__ = ["SingleCellData", "simulate_single_cell", "single_cell_loglik"]


@dataclass(frozen=True)
class SingleCellData(SimulatedData):
    """Single-cell-like simulated data (see :class:`~bayes_hcl.simulate.SimulatedData`).

    The same fields; ``settings`` holds each gene's ``log_base`` and ``phi`` (in column
    order), and the per-state log-likelihood is that of the NB counts given size factors.
    """

    def class_loglik(self) -> np.ndarray:
        """Log-likelihood of every cell under every state's true parameters.

        Returns
        -------
        numpy.ndarray
            ``(n, K)`` log-likelihoods (see :func:`single_cell_loglik`).
        """
        return single_cell_loglik(self)


def simulate_single_cell(
    n_cells: int = 2000,
    n_genes: int = 20,
    n_states: int = 3,
    *,
    edges_per_gene: float = 1.0,
    weight_range: tuple[float, float] = (0.4, 0.8),
    targets_per_state: int = 4,
    mean_shift: float = 1.5,
    overdispersion: tuple[float, float] = (0.1, 0.5),
    size_factor_sd: float = 0.3,
    max_base: float = 20.0,
    background_depth: float = 5000.0,
    seed: int = 0,
) -> SingleCellData:
    """Draw single-cell-like count data with hidden cell states.

    Parameters
    ----------
    n_cells, n_genes, n_states : int
        Cells, genes and hidden states (states of equal size, up to rounding).
    edges_per_gene : float
        Expected regulators per gene of the shared DAG.
    weight_range : tuple of float
        Magnitude range of the regulatory weights (per unit of normalised log expression).
    targets_per_state : int
        Genes each non-reference state shifts directly.
    mean_shift : float
        Size of a shift on the log-mean scale (1.0: the mean changes e-fold).
    overdispersion : tuple of float
        Range of the genes' NB2 overdispersion ``phi`` (variance ``mu + phi mu^2``).
    size_factor_sd : float
        Sd of the log size factors.
    max_base : float
        Largest baseline mean count.
    background_depth : float
        Expected count per cell (at size factor 1) of the transcriptome outside the modelled
        genes, the same in every state: ``library_size`` is it plus the modelled genes'
        counts, as a sequencing run would report.
    seed : int
        Seed of the NumPy generator.

    Returns
    -------
    SingleCellData
        Counts (columns ``G0..``, integer), state labels, the states' graphs and weights,
        ``intercepts`` (the log-scale shifts ``b``), ``noise_scales`` (``sqrt(phi)`` per
        state), the shift targets, ``size_factors`` and ``library_size``.
    """
    settings: dict[str, Any] = dict(locals())
    settings |= {"kind": "single_cell", "weight_range": list(weight_range)}
    sizes = _check_arguments(n_cells, n_genes, n_states)
    rng = np.random.default_rng(seed)
    adjacency, weights = cluster_graphs(
        random_dag(n_genes, "er", edges_per_gene, rng), n_states, 0.1, 0.2, weight_range, rng
    )
    log_base = rng.uniform(0.0, np.log(max_base), n_genes)
    phi = rng.uniform(*overdispersion, n_genes)
    shifts, targets = _draw_state_shifts(n_states, n_genes, targets_per_state, mean_shift, rng)
    truth = _CellTruth(adjacency, adjacency * weights, log_base, phi, shifts, targets)
    labels = np.repeat(np.arange(n_states), sizes)
    size_factors = _draw_size_factors(n_cells, size_factor_sd, rng)
    counts = _sample_counts(truth, labels, size_factors, rng)
    library = _library_size(counts, size_factors, background_depth, rng)
    return _observe(truth, counts, labels, size_factors, library, settings, rng)


@dataclass(frozen=True)
class _CellTruth:
    """The drawn gene-regulatory law over causal positions (genes in causal order)."""

    adjacency: np.ndarray
    weights: np.ndarray
    log_base: np.ndarray
    phi: np.ndarray
    shifts: np.ndarray
    targets: set[int]


def _check_arguments(n_cells: int, n_genes: int, n_states: int) -> list[int]:
    """Validate the sizes of :func:`simulate_single_cell`; return the cells per state."""
    if n_genes < 2 or n_states < 1 or n_cells < n_states:
        raise ValueError("need n_genes >= 2, n_states >= 1 and n_cells >= n_states")
    share = [n_cells // n_states + (k < n_cells % n_states) for k in range(n_states)]
    return cluster_sizes(share, n_states)


def _draw_state_shifts(
    n_states: int,
    n_genes: int,
    targets_per_state: int,
    mean_shift: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, set[int]]:
    """Log-scale shifts ``(n_states, n_genes)`` (none in state 0) and all shifted genes."""
    shifts = np.zeros((n_states, n_genes))
    targets: set[int] = set()
    for k in range(1, n_states):
        chosen = rng.choice(n_genes, size=min(targets_per_state, n_genes), replace=False)
        shifts[k, chosen] = mean_shift * rng.choice([-1.0, 1.0], len(chosen))
        targets.update(int(j) for j in chosen)
    return shifts, targets


def _draw_size_factors(n_cells: int, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Log-normal size factors with geometric mean 1."""
    size_factors = np.exp(rng.normal(0.0, sd, n_cells))
    size_factors /= np.exp(np.log(size_factors).mean())
    return size_factors


def _sample_state(
    weights: np.ndarray,
    log_mean: np.ndarray,
    log_base: np.ndarray,
    phi: np.ndarray,
    size_factors: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Ancestral sampling of one state's cells over genes in causal order."""
    n, d = len(size_factors), len(log_mean)
    counts = np.zeros((n, d))
    z = np.zeros((n, d))
    for j in range(d):
        eta = np.clip(log_mean[j] + z @ weights[:, j], -8.0, 9.0)
        counts[:, j] = rng.poisson(gamma_rate(size_factors * np.exp(eta), phi[j], rng))
        z[:, j] = np.log1p(counts[:, j] / size_factors) - np.log1p(np.exp(log_base[j]))
    return counts


def _sample_counts(
    truth: _CellTruth, labels: np.ndarray, size_factors: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Counts ``(n_cells, n_genes)`` of every state's cells in turn (genes in causal order)."""
    counts = np.zeros((len(labels), len(truth.log_base)))
    for k in range(len(truth.shifts)):
        rows = labels == k
        counts[rows] = _sample_state(
            truth.weights[k],
            truth.log_base + truth.shifts[k],
            truth.log_base,
            truth.phi,
            size_factors[rows],
            rng,
        )
    return counts


def _library_size(
    counts: np.ndarray, size_factors: np.ndarray, depth: float, rng: np.random.Generator
) -> np.ndarray:
    """Total counts per cell: the modelled genes plus a state-independent background."""
    background = rng.poisson(gamma_rate(size_factors * depth, 0.01, rng))
    return background + counts.sum(axis=1)


def _observe(
    truth: _CellTruth,
    counts: np.ndarray,
    labels: np.ndarray,
    size_factors: np.ndarray,
    library: np.ndarray,
    settings: dict[str, Any],
    rng: np.random.Generator,
) -> SingleCellData:
    """Shuffle the cells, then the genes, and assemble the data and the truth."""
    n_states, n_genes = truth.shifts.shape
    shuffle = rng.permutation(len(labels))
    # genes are stored in a random column order, so the order carries no information
    order = ColumnOrder.draw(n_genes, "G", rng)
    gene_law = {
        "log_base": truth.log_base[order.inverse].tolist(),
        "phi": truth.phi[order.inverse].tolist(),
    }
    return SingleCellData(
        data=pd.DataFrame(
            order.vectors(counts[shuffle]).astype(np.int64), columns=list(order.columns)
        ),
        labels=labels[shuffle],
        adjacency=order.graphs(truth.adjacency),
        weights=order.graphs(truth.weights),
        intercepts=order.vectors(truth.shifts),
        noise_scales=order.vectors(np.tile(np.sqrt(truth.phi), (n_states, 1))),
        types=("count",) * n_genes,
        order=order.perm,
        shift_targets=order.names(sorted(truth.targets)),
        settings=settings | gene_law,
        size_factors=size_factors[shuffle],
        library_size=library[shuffle].astype(np.int64),
    )
