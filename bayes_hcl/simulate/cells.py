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

import numpy as np
import pandas as pd

from bayes_hcl.simulate.sem import (
    SimulatedData,
    _cluster_graphs,
    _cluster_sizes,
    _gamma_rate,
    _random_dag,
    count_logpmf,
)

__all__ = ["simulate_single_cell"]


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
) -> SimulatedData:
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
    SimulatedData
        Counts (columns ``G0..``, integer), state labels, the states' graphs and weights,
        ``intercepts`` (the log-scale shifts ``b``), ``noise_scales`` (``sqrt(phi)`` per
        state), the shift targets, ``size_factors`` and ``library_size``.
    """
    if n_genes < 2 or n_states < 1 or n_cells < n_states:
        raise ValueError("need n_genes >= 2, n_states >= 1 and n_cells >= n_states")
    settings = {k: v for k, v in locals().items() if k != "settings"}
    settings |= {"kind": "single_cell", "weight_range": list(weight_range)}
    rng = np.random.default_rng(seed)
    share = [n_cells // n_states + (k < n_cells % n_states) for k in range(n_states)]
    sizes = _cluster_sizes(share, n_states)
    base = _random_dag(n_genes, "er", edges_per_gene, rng)
    adj, weights = _cluster_graphs(base, n_states, 0.1, 0.2, weight_range, rng)
    weights = adj * weights
    log_base = rng.uniform(0.0, np.log(max_base), n_genes)
    phi = rng.uniform(*overdispersion, n_genes)
    shifts = np.zeros((n_states, n_genes))
    targets: set[int] = set()
    for k in range(1, n_states):
        chosen = rng.choice(n_genes, size=min(targets_per_state, n_genes), replace=False)
        shifts[k, chosen] = mean_shift * rng.choice([-1.0, 1.0], len(chosen))
        targets.update(int(j) for j in chosen)
    labels = np.repeat(np.arange(n_states), sizes)
    size_factors = np.exp(rng.normal(0.0, size_factor_sd, n_cells))
    size_factors /= np.exp(np.log(size_factors).mean())
    counts = np.zeros((n_cells, n_genes))
    for k in range(n_states):
        rows = labels == k
        counts[rows] = _sample_state(
            weights[k], log_base + shifts[k], log_base, phi, size_factors[rows], rng
        )
    background = rng.poisson(_gamma_rate(size_factors * background_depth, 0.01, rng))
    library = background + counts.sum(axis=1)
    shuffle = rng.permutation(n_cells)
    # genes are stored in a random column order, so the order carries no information
    perm = rng.permutation(n_genes)
    inverse = np.argsort(perm)
    columns = [f"G{j}" for j in range(n_genes)]
    frame = pd.DataFrame(counts[shuffle][:, inverse].astype(np.int64), columns=columns)
    relabel = np.ix_(range(n_states), inverse, inverse)
    return SimulatedData(
        data=frame,
        labels=labels[shuffle],
        adjacency=adj[relabel],
        weights=weights[relabel],
        intercepts=shifts[:, inverse],
        noise_scales=np.tile(np.sqrt(phi), (n_states, 1))[:, inverse],
        types=("count",) * n_genes,
        order=perm,
        shift_targets=tuple(columns[perm[p]] for p in sorted(targets)),
        settings=settings | {"log_base": log_base[inverse].tolist(), "phi": phi[inverse].tolist()},
        size_factors=size_factors[shuffle],
        library_size=library[shuffle].astype(np.int64),
    )


def _sample_state(weights, log_mean, log_base, phi, size_factors, rng) -> np.ndarray:
    """Ancestral sampling of one state's cells over genes in causal order."""
    n, d = len(size_factors), len(log_mean)
    counts = np.zeros((n, d))
    z = np.zeros((n, d))
    for j in range(d):
        eta = np.clip(log_mean[j] + z @ weights[:, j], -8.0, 9.0)
        counts[:, j] = rng.poisson(_gamma_rate(size_factors * np.exp(eta), phi[j], rng))
        z[:, j] = np.log1p(counts[:, j] / size_factors) - np.log1p(np.exp(log_base[j]))
    return counts


def single_cell_loglik(sim: SimulatedData) -> np.ndarray:
    """``(n, K)`` log-likelihood of every cell under every state's true parameters."""
    counts = sim.data.to_numpy(dtype=float)
    s = np.asarray(sim.size_factors)
    log_base = np.asarray(sim.settings["log_base"])
    phi = np.asarray(sim.settings["phi"])
    z = np.log1p(counts / s[:, None]) - np.log1p(np.exp(log_base))
    out = []
    for w, b in zip(sim.weights, sim.intercepts, strict=True):
        eta = np.clip(log_base + b + z @ w, -8.0, 9.0) + np.log(s)[:, None]
        out.append(sum(count_logpmf(counts[:, j], eta[:, j], phi[j]) for j in range(len(phi))))
    return np.stack(out, axis=1)
