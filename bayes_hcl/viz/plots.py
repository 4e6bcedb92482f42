"""Matplotlib figures of a fitted posterior; every function takes ``ax=`` and returns Axes.

Each function reads an :class:`~bayes_hcl.results.HCLResult` through its public readouts
(``edge_probabilities``, ``graph``, ``memberships``, ``coclustering``, ``n_clusters``,
``effects``, the ``restarts`` group), so what a figure shows is what those tables say.
:func:`plot_overview` (also ``result.plot()``) puts the main ones on one figure.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
from matplotlib.axes import Axes

__all__ = [
    "graph_layout",
    "plot_coclustering",
    "plot_edge_probabilities",
    "plot_effects",
    "plot_elbo",
    "plot_graph",
    "plot_memberships",
    "plot_n_clusters",
    "plot_overview",
]

MAX_ROWS_SHOWN = 1000  # rows drawn in the co-clustering and membership images


def _axes(ax: Axes | None, size: tuple[float, float] = (4.5, 4.0)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_edge_probabilities(
    result, cluster: int | None = None, *, ax: Axes | None = None, annotate: bool = True
) -> Axes:
    """Heat map of edge probabilities (rows = cause, columns = effect), cells annotated.

    ``cluster=None`` shows the pooled probabilities (edge present in at least one cluster).
    """
    frame = result.edge_probabilities(cluster)
    ax = _axes(ax)
    image = ax.imshow(frame.to_numpy(), vmin=0.0, vmax=1.0, cmap="Blues")
    d = len(frame)
    ax.set_xticks(range(d), frame.columns, rotation=90)
    ax.set_yticks(range(d), frame.index)
    ax.set_xlabel("effect")
    ax.set_ylabel("cause")
    ax.set_title("pooled edge probabilities" if cluster is None else f"cluster {cluster}")
    if annotate:
        for (i, j), p in np.ndenumerate(frame.to_numpy()):
            if i != j:
                colour = "white" if p > 0.6 else "black"
                ax.text(j, i, f"{p:.2f}", ha="center", va="center", fontsize=7, color=colour)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="probability")
    return ax


def graph_layout(result) -> dict[str, tuple[float, float]]:
    """Node positions shared by every graph of a result: layers of the pooled graph's
    topological generations (causes left), nodes within a layer in column order."""
    pooled = result.graph()
    layers: dict[str, int] = {}
    for depth, generation in enumerate(nx.topological_generations(pooled)):
        for node in generation:
            layers[node] = depth
    for node in pooled.nodes:
        pooled.nodes[node]["layer"] = layers[node]
    pos = nx.multipartite_layout(pooled, subset_key="layer")
    return {node: (float(xy[0]), float(xy[1])) for node, xy in pos.items()}


def _layer_gap(pos: dict[str, Any]) -> float:
    xs = np.unique(np.round([p[0] for p in pos.values()], 9))
    return float(np.diff(xs).min()) if len(xs) > 1 else 1.0


def plot_graph(
    result,
    cluster: int | None = None,
    *,
    threshold: float = 0.5,
    ax: Axes | None = None,
    pos: dict[str, Any] | None = None,
) -> Axes:
    """The (per-cluster or pooled) DAG: edge width and opacity = probability.

    Edges cluster-specific with probability >= 0.5 are dashed, universal ones solid; shift
    targets (probability >= 0.5) are drawn as orange nodes. The layout comes from
    :func:`graph_layout` so that the graphs of different clusters line up.
    """
    ax = _axes(ax)
    g = result.graph(cluster, threshold)
    pos = pos or graph_layout(result)
    specific = {(r.cause, r.effect) for r in result.specific_edges(0.5).itertuples()}
    shifted = set(result.shift_targets(0.5).variable)
    colours = ["tab:orange" if v in shifted else "lightsteelblue" for v in g.nodes]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=colours, node_size=600)
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=8)
    for u, v, data in g.edges(data=True):
        p = float(data["probability"])
        # an edge that skips a layer is bent so it does not run through the nodes between
        span = abs(pos[u][0] - pos[v][0])
        bend = 0.0 if span < 1.5 * _layer_gap(pos) else 0.3
        nx.draw_networkx_edges(
            g,
            pos,
            edgelist=[(u, v)],
            ax=ax,
            width=0.5 + 3.0 * p,
            alpha=0.25 + 0.75 * p,
            style="dashed" if (u, v) in specific else "solid",
            arrowsize=14,
            node_size=600,
            connectionstyle=f"arc3,rad={bend}",
        )
    title = "pooled graph" if cluster is None else f"cluster {cluster}"
    ax.set_title(f"{title} (P >= {threshold:g}; dashed: specific, orange: shifted)", fontsize=9)
    ax.set_axis_off()
    return ax


def _sorted_rows(result) -> np.ndarray:
    rows = np.argsort(result.clusters(), kind="stable")
    if len(rows) > MAX_ROWS_SHOWN:  # evenly spaced rows of the sorted order
        rows = rows[np.linspace(0, len(rows) - 1, MAX_ROWS_SHOWN).astype(int)]
    return rows


def plot_coclustering(result, *, ax: Axes | None = None) -> Axes:
    """Posterior co-clustering matrix, rows and columns sorted by the point partition
    (at most ``MAX_ROWS_SHOWN`` evenly spaced rows)."""
    ax = _axes(ax)
    rows = _sorted_rows(result)
    image = ax.imshow(result.coclustering(rows), vmin=0, vmax=1, cmap="Greys", aspect="auto")
    ax.set_title("co-clustering (sorted by cluster)")
    ax.set_xlabel("row")
    ax.set_ylabel("row")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="P(same cluster)")
    return ax


def plot_memberships(result, *, ax: Axes | None = None) -> Axes:
    """Membership probabilities of every row (stacked), rows sorted by the point partition."""
    ax = _axes(ax, (6.0, 2.5))
    rows = _sorted_rows(result)
    m = result.memberships()
    bottom = np.zeros(len(rows))
    for k in m.columns:
        values = m[k].to_numpy()[rows]
        ax.bar(np.arange(len(rows)), values, bottom=bottom, width=1.0, label=f"cluster {k}")
        bottom += values
    ax.set_xlim(-0.5, len(rows) - 0.5)
    ax.set_ylim(0, 1)
    ax.set_xlabel("row (sorted by cluster)")
    ax.set_ylabel("membership")
    ax.legend(fontsize=7, loc="upper right")
    return ax


def plot_n_clusters(result, *, ax: Axes | None = None) -> Axes:
    """Posterior over the number of occupied clusters."""
    ax = _axes(ax, (3.5, 3.0))
    post = result.n_clusters()
    ax.bar([str(k) for k in post.index], post.to_numpy(), color="tab:blue")
    for x, p in enumerate(post.to_numpy()):
        ax.text(x, p, f"{p:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("occupied clusters K")
    ax.set_ylabel("posterior probability")
    ax.set_title("number of clusters")
    return ax


def plot_effects(
    result, *, min_probability: float = 0.5, prob: float = 0.94, ax: Axes | None = None
) -> Axes:
    """Forest plot: posterior mean and HDI of every effect *given that the edge is present*
    (``mean_if_present``, ``hdi_*_if_present`` of ``effects()``) with ``p_in_cluster >=
    min_probability``, one marker per shown cluster (standardised units)."""
    table = result.effects(min_probability=min_probability, prob=prob)
    pairs = list(dict.fromkeys(zip(table.parent, table.child, strict=True)))
    ax = _axes(ax, (5.0, 0.4 * max(len(pairs), 3) + 1.0))
    clusters = sorted(table.cluster.unique())
    offsets = np.linspace(-0.25, 0.25, len(clusters)) if len(clusters) > 1 else [0.0]
    index = {pair: i for i, pair in enumerate(pairs)}
    for k, off in zip(clusters, offsets, strict=True):
        rows = table[table.cluster == k]
        y = np.array([index[(p, c)] for p, c in zip(rows.parent, rows.child, strict=True)]) + off
        mean = rows["mean_if_present"].to_numpy()
        low, high = rows.hdi_low_if_present.to_numpy(), rows.hdi_high_if_present.to_numpy()
        err = np.vstack([mean - low, high - mean])
        ax.errorbar(mean, y, xerr=err, fmt="o", markersize=4, capsize=2, label=f"cluster {k}")
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_yticks(range(len(pairs)), [f"{p} → {c}" for p, c in pairs])
    ax.invert_yaxis()
    ax.set_xlabel(f"effect given the edge is present (standardised), {prob:.0%} HDI")
    ax.set_title("effects")
    if clusters:
        ax.legend(fontsize=7)
    return ax


def plot_elbo(result, *, ax: Axes | None = None, skip: int = 0) -> Axes:
    """ELBO trace of every SVI restart (or log density of every NUTS chain), after ``skip``
    initial steps; the line width is the restart's posterior weight."""
    ax = _axes(ax, (5.0, 3.0))
    rs = result.idata["restarts"]
    history, weights = rs["elbo_history"].values, rs["weight"].values
    for r, trace in enumerate(history):
        ax.plot(
            np.arange(skip, trace.shape[0]),
            trace[skip:],
            lw=0.8 + 2.0 * float(weights[r]),
            label=f"{r} (w {weights[r]:.2f})",
        )
    nuts = result.method != "svi"  # chains: NUTS or Gibbs
    ax.set_xlabel("transition" if nuts else "step")
    ax.set_ylabel("log density" if nuts else "ELBO")
    ax.set_title("chains" if nuts else "restarts")
    ax.legend(fontsize=7, title="chain" if nuts else "restart", title_fontsize=7)
    return ax


def plot_overview(result, figsize: tuple[float, float] = (15.0, 9.0)) -> np.ndarray:
    """One figure: pooled edge probabilities, pooled graph, posterior over K, co-clustering,
    effects and the ELBO traces. Returns the ``(2, 3)`` array of Axes."""
    fig, axes = plt.subplots(2, 3, figsize=figsize)
    plot_edge_probabilities(result, ax=axes[0, 0])
    plot_graph(result, ax=axes[0, 1])
    plot_n_clusters(result, ax=axes[0, 2])
    plot_coclustering(result, ax=axes[1, 0])
    plot_effects(result, ax=axes[1, 1])
    plot_elbo(result, ax=axes[1, 2])
    fig.tight_layout()
    return axes
