import numpy as np
import pytest

from bayes_hcl.simulate.draws import (
    NOISE_KINDS,
    choose_types,
    cluster_graphs,
    cluster_sizes,
    gamma_rate,
    random_dag,
    sample_cluster,
    signed_uniform,
    unit_noise,
)


@pytest.mark.parametrize("kind", ["er", "scale_free"])
def test_random_dags_point_forward_in_the_causal_order(kind):
    adj = random_dag(12, kind, 2.0, np.random.default_rng(0))
    assert adj.shape == (12, 12) and set(np.unique(adj)) <= {0, 1}
    assert not np.tril(adj).any()
    if kind == "scale_free":
        # every node after the first takes round(edges_per_node) parents where it can
        assert adj.sum(axis=0).tolist() == [0, 1] + [2] * 10


def test_signed_uniform_has_both_signs_within_the_range():
    x = signed_uniform(np.random.default_rng(1), 0.5, 1.2, 1000)
    assert np.all((np.abs(x) >= 0.5) & (np.abs(x) < 1.2))
    assert (x > 0).any() and (x < 0).any()


@pytest.mark.parametrize("kind", [k for k in NOISE_KINDS if k != "student_t3"])
def test_noise_has_zero_mean_and_unit_variance(kind):
    eps = unit_noise(kind, np.random.default_rng(2), 200_000)
    assert abs(eps.mean()) < 0.02 and abs(eps.var() - 1.0) < 0.05


def test_student_t3_noise_is_t3_scaled_to_unit_variance():
    # its fourth moment is infinite, so the sample variance is no test: the law itself is
    from scipy import stats

    eps = unit_noise("student_t3", np.random.default_rng(2), 200_000)
    assert stats.kstest(eps * np.sqrt(3.0), "t", args=(3,)).pvalue > 0.01
    assert abs(np.median(eps)) < 0.01


def test_cluster_sizes_are_checked():
    assert cluster_sizes(5, 3) == [5, 5, 5]
    assert cluster_sizes([4, 2], 2) == [4, 2]
    with pytest.raises(ValueError, match="n_per_cluster"):
        cluster_sizes([4, 0], 2)
    with pytest.raises(ValueError, match="n_per_cluster"):
        cluster_sizes([4, 2], 3)


def test_choose_types_gives_the_requested_counts():
    types = choose_types(10, 0.2, 0.3, np.random.default_rng(3), 0.1)
    assert [types.count(t) for t in ("binary", "count", "categorical", "continuous")] == [
        2,
        3,
        1,
        4,
    ]
    with pytest.raises(ValueError, match="fractions"):
        choose_types(4, 0.5, 0.5, np.random.default_rng(3), 0.5)


def test_cluster_zero_is_the_universal_graph_and_others_add_edges():
    rng = np.random.default_rng(4)
    base = random_dag(8, "er", 1.0, rng)
    adj, weights = cluster_graphs(base, 3, 0.5, 0.3, (0.5, 1.2), rng)
    assert np.array_equal(adj[0], base)
    assert all((adj[k] >= base).all() and not np.tril(adj[k]).any() for k in range(3))
    assert np.all(np.abs(weights[adj > 0]) >= 0.5)


def test_gamma_rate_draws_nothing_for_poisson_counts():
    rng = np.random.default_rng(5)
    mean = np.full(3, 4.0)
    assert gamma_rate(mean, 0.0, rng) is mean
    assert rng.random() == np.random.default_rng(5).random()
    assert gamma_rate(mean, 0.5, rng).shape == (3,)


def test_sample_cluster_gives_every_type_its_support():
    types = ["continuous", "binary", "count", "categorical"]
    weights = np.triu(np.full((4, 4), 0.5), k=1)
    scores = {3: np.array([-1.0, 0.0, 1.0])}
    values = sample_cluster(
        weights,
        np.zeros(4),
        np.ones(4),
        types,
        "gaussian",
        500,
        np.random.default_rng(6),
        0.3,
        scores,
    )
    assert values.shape == (500, 4)
    assert set(np.unique(values[:, 1])) <= {0.0, 1.0}
    assert values[:, 2].min() >= 0 and np.array_equal(values[:, 2], np.round(values[:, 2]))
    assert set(np.unique(values[:, 3])) <= {0.0, 1.0, 2.0}
