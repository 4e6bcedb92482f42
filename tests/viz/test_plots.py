"""Every figure shows what the result's tables say, on the given Axes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.container import ErrorbarContainer
from matplotlib.patches import FancyArrowPatch

from bayes_hcl.viz import plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_edge_probability_heat_map_is_the_table(small_fit):
    _, ax = plt.subplots()
    out = plots.plot_edge_probabilities(small_fit, ax=ax)
    assert out is ax
    np.testing.assert_allclose(ax.images[0].get_array(), small_fit.edge_probabilities())
    d = len(small_fit.columns)
    assert len(ax.texts) == d * (d - 1)
    k = small_fit.occupied_clusters()[0]
    per = plots.plot_edge_probabilities(small_fit, k, annotate=False)
    np.testing.assert_allclose(per.images[0].get_array(), small_fit.edge_probabilities(k))
    assert not per.texts and per.get_title() == f"cluster {k}"


def test_graph_draws_every_edge_with_one_layout(small_fit):
    ax = plots.plot_graph(small_fit)
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == small_fit.graph().number_of_edges() > 0
    pos = plots.graph_layout(small_fit)
    assert pos.keys() == set(small_fit.columns)
    assert plots.graph_layout(small_fit) == pos  # stable: the same for every call / cluster
    for k in small_fit.occupied_clusters():
        cluster_ax = plots.plot_graph(small_fit, k, pos=pos)
        drawn = [p for p in cluster_ax.patches if isinstance(p, FancyArrowPatch)]
        assert len(drawn) == small_fit.graph(k).number_of_edges()
    shifted = set(small_fit.shift_targets(0.5).variable)
    colours = ax.collections[0].get_facecolors()
    orange = matplotlib.colors.to_rgba("tab:orange")
    assert sum(np.allclose(c, orange) for c in colours) == len(shifted)


def test_cluster_figures_match_the_posterior(small_fit):
    ax = plots.plot_n_clusters(small_fit)
    post = small_fit.n_clusters()
    np.testing.assert_allclose([b.get_height() for b in ax.patches], post.to_numpy())
    ax = plots.plot_coclustering(small_fit)
    labels = small_fit.clusters()
    rows = np.argsort(labels, kind="stable")
    np.testing.assert_allclose(
        ax.images[0].get_array(), small_fit.coclustering()[np.ix_(rows, rows)]
    )
    ax = plots.plot_memberships(small_fit)
    assert len(ax.containers) == len(small_fit.occupied_clusters())
    heights = np.sum([[b.get_height() for b in c] for c in ax.containers], axis=0)
    np.testing.assert_allclose(heights, 1.0, atol=1e-5)


def test_effects_forest_plot_and_traces(small_fit):
    ax = plots.plot_effects(small_fit)
    table = small_fit.effects(min_probability=0.5)
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == table.cluster.nunique()
    shown = {t.get_text() for t in ax.get_yticklabels()}
    assert shown == {f"{p} → {c}" for p, c in zip(table.parent, table.child, strict=True)}
    ax = plots.plot_elbo(small_fit)
    assert len(ax.lines) == small_fit.idata["restarts"].sizes["restart"]
    assert ax.get_ylabel() == "ELBO"


def test_overview_is_one_figure_of_axes(small_fit):
    axes = small_fit.plot()
    assert axes.shape == (2, 3)
    assert all(isinstance(a, Axes) for a in axes.ravel())
    assert len({id(a.figure) for a in axes.ravel()}) == 1
