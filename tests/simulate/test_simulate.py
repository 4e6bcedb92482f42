import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes_hcl.simulate.sem import simulate


def test_truth_is_consistent_with_data():
    sim = simulate([200, 100, 50], d=6, n_clusters=3, seed=2)
    assert sim.data.shape == (350, 6)
    assert np.bincount(sim.labels).tolist() == [200, 100, 50]
    position = np.argsort(sim.order)
    for k in range(3):
        graph = nx.DiGraph(sim.adjacency[k])
        assert nx.is_directed_acyclic_graph(graph)
        # every edge follows the shared causal order
        assert all(position[i] < position[j] for i, j in graph.edges)
        assert np.array_equal(sim.weights[k] != 0, sim.adjacency[k] > 0)
    truth = json.loads(sim.truth_json())
    assert truth["labels"] == sim.labels.tolist()
    assert len(truth["pooled_edges"]) == int(sim.pooled_adjacency.sum())


def test_mechanism_only_setting_has_no_shifts_but_different_weights():
    sim = simulate(
        300, d=8, n_clusters=2, mean_shift=0.0, noise_shift=0.0, weight_change=1.0, seed=3
    )
    assert np.allclose(sim.intercepts, 0.0)
    assert np.allclose(sim.noise_scales[0], sim.noise_scales[1])
    common = sim.universal_adjacency > 0
    assert np.all(np.sign(sim.weights[0][common]) == -np.sign(sim.weights[1][common]))


def test_mixed_types_and_no_silent_standardisation():
    sim = simulate(400, d=10, binary_fraction=0.3, count_fraction=0.2, seed=4)
    assert sim.types.count("binary") == 3 and sim.types.count("count") == 2
    for col, kind in zip(sim.data.columns, sim.types, strict=True):
        values = sim.data[col]
        if kind == "binary":
            assert set(values.unique()) <= {0, 1}
        elif kind == "count":
            assert values.min() >= 0 and values.dtype.kind == "i"
    cont = [c for c, t in zip(sim.data.columns, sim.types, strict=True) if t == "continuous"]
    assert not np.allclose(sim.data[cont].std(), 1.0)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(2, 12),
    st.integers(1, 3),
    st.sampled_from(["er", "scale_free"]),
    st.sampled_from(["gaussian", "laplace", "uniform", "exponential", "student_t"]),
    st.integers(0, 1000),
)
def test_any_setting_gives_finite_data_and_dags(d, k, graph, noise, seed):
    sim = simulate(30, d=d, n_clusters=k, graph=graph, noise=noise, seed=seed)
    assert np.isfinite(sim.data.to_numpy()).all()
    assert all(nx.is_directed_acyclic_graph(nx.DiGraph(a)) for a in sim.adjacency)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="n_per_cluster"):
        simulate([10, 10], n_clusters=3)
    with pytest.raises(ValueError, match="noise"):
        simulate(10, noise="cauchy")
