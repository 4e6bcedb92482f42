import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpyro import handlers
from scipy import stats

from bayes_hcl.config import ModelConfig
from bayes_hcl.model import (
    SpikeAndSlab,
    component_loglik,
    hard_order_mask,
    hcl_model,
    log_abs_det_unit,
    mixed_order_mask,
    noise_mixture,
    order_mask,
    stick_breaking_log_weights,
)


def test_spike_and_slab_density_and_responsibility_are_exact():
    w = np.array([-0.5, 0.0, 0.02, 1.3])
    d = SpikeAndSlab(0.3, 0.8, 0.05, 0.4)
    spike = 0.7 * stats.norm(0, 0.05).pdf(w)
    slab = 0.3 * stats.norm(0.8, 0.4).pdf(w)
    np.testing.assert_allclose(d.log_prob(jnp.asarray(w)), np.log(spike + slab), rtol=1e-5)
    np.testing.assert_allclose(d.responsibility(jnp.asarray(w)), slab / (spike + slab), rtol=1e-5)
    draws = d.sample(jax.random.PRNGKey(0), (20000,))
    assert (
        abs(
            float((jnp.abs(draws) > 0.25).mean())
            - 0.3 * stats.norm(0.8, 0.4).sf(0.25)
            - 0.3 * stats.norm(0.8, 0.4).cdf(-0.25)
        )
        < 0.02
    )


def test_stick_breaking_weights_sum_to_one():
    v = jnp.array([0.5, 0.25, 0.9])
    pi = np.exp(stick_breaking_log_weights(v))
    np.testing.assert_allclose(pi, [0.5, 0.125, 0.3375, 0.0375], rtol=1e-6)


def test_component_loglik_matches_scipy_per_type():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    y = np.column_stack([x[:, 0], rng.integers(0, 2, 5), rng.poisson(3, 5)]).astype(float)
    w = np.zeros((2, 3, 3))
    w[:, 0, 1], w[:, 0, 2] = [0.5, -1.0], [0.3, 0.2]
    b = rng.normal(size=(2, 3))
    sigma = np.array([[0.7, 1.0, 1.0], [1.3, 1.0, 1.0]])
    offset = np.array([0.0, 0.1, np.log(3.0)])
    got = component_loglik(
        jnp.asarray(y),
        jnp.asarray(x),
        (0, 1, 2),
        jnp.asarray(offset),
        jnp.asarray(w),
        jnp.asarray(b),
        jnp.asarray(sigma),
    )
    for k in range(2):
        eta = offset + b[k] + x @ w[k]
        want = (
            stats.norm(eta[:, 0], sigma[k, 0]).logpdf(y[:, 0])
            + stats.bernoulli(1 / (1 + np.exp(-eta[:, 1]))).logpmf(y[:, 1])
            + stats.poisson(np.exp(eta[:, 2])).logpmf(y[:, 2])
        )
        np.testing.assert_allclose(got[:, k], want, rtol=1e-4)
    laplace = component_loglik(
        *map(jnp.asarray, (y, x)),
        (0, 1, 2),
        *map(jnp.asarray, (offset, w, b, sigma)),
        noise_family="laplace",
    )
    for k in range(2):
        eta = offset + b[k] + x @ w[k]
        # sigma is the noise sd in every family: Laplace scale sigma / sqrt(2)
        gauss = stats.norm(eta[:, 0], sigma[k, 0]).logpdf(y[:, 0])
        lap = stats.laplace(eta[:, 0], sigma[k, 0] / np.sqrt(2)).logpdf(y[:, 0])
        np.testing.assert_allclose(laplace[:, k] - got[:, k], lap - gauss, rtol=1e-4, atol=1e-5)


def test_cyclic_jacobian_penalises_two_cycles_and_vanishes_on_dags():
    x = jnp.zeros((1, 2))
    phi = jnp.array([0.0, 0.1])
    dag = jnp.array([[[0.0, 0.8], [0.0, 0.0]]])
    cyc = jnp.array([[[0.0, 0.8], [0.8, 0.0]]])
    args = (x, x, (0, 0), jnp.zeros(2))
    shifts = (jnp.zeros((1, 2)), jnp.ones((1, 2)))
    base = component_loglik(*args, jnp.zeros((1, 2, 2)), *shifts, phi)
    np.testing.assert_allclose(component_loglik(*args, dag, *shifts, phi), base, atol=1e-6)
    with_cycle = component_loglik(*args, cyc, *shifts, phi)
    np.testing.assert_allclose(with_cycle - base, np.log(1 - 0.64), rtol=1e-5)
    # without node potentials the weights are taken as a DAG and no Jacobian is added
    np.testing.assert_allclose(component_loglik(*args, cyc, *shifts) - base, 0.0, atol=1e-6)


@jax.jit
def _log_abs_det_and_grad(a, phi):
    return jax.value_and_grad(lambda m: log_abs_det_unit(m, jnp.argsort(phi)).sum())(a)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.sampled_from([2, 5, 12]), temperature=st.floats(0.05, 2))
def test_log_abs_det_matches_numpy_on_soft_masked_weights(seed, d, temperature):
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=d)
    w = rng.normal(0.0, 0.7, size=(d, d)) * np.asarray(order_mask(jnp.asarray(phi), temperature))
    a = np.eye(d) - w
    got, grad = _log_abs_det_and_grad(jnp.asarray(a, jnp.float32), jnp.asarray(phi, jnp.float32))
    want = np.linalg.slogdet(a)[1]
    np.testing.assert_allclose(got, want, atol=2e-3 * d)
    # d log|det A| / dA = A^{-T}
    np.testing.assert_allclose(grad, np.linalg.inv(a).T, atol=5e-2, rtol=5e-2)


@pytest.mark.parametrize("seed", range(5))
def test_hard_order_mask_is_a_dag_and_soft_mask_tends_to_it(seed):
    phi = jax.random.normal(jax.random.PRNGKey(seed), (6,))
    hard = np.asarray(hard_order_mask(phi))
    assert nx.is_directed_acyclic_graph(nx.DiGraph(hard))
    assert hard.sum() == 15  # a total order over 6 nodes
    np.testing.assert_allclose(order_mask(phi, 1e-7), hard, atol=1e-3)


def test_model_trace_has_expected_sites_and_shapes():
    cfg = ModelConfig(max_clusters=3)
    y = jnp.zeros((7, 4))
    ones = jnp.ones((7, 4))
    tr = handlers.trace(handlers.seed(hcl_model, 0)).get_trace(
        y, y, jnp.zeros((7, 4)), ones, 0.5, types=(0, 0, 1, 3), config=cfg
    )
    shapes = {k: v["value"].shape for k, v in tr.items() if v["type"] == "sample"}
    assert shapes["W"] == (3, 4, 4) and shapes["v"] == (2,) and shapes["phi"] == (4,)
    assert shapes["b_shift"] == (3, 4)
    assert tr["loglik"]["fn"].log_prob(tr["loglik"]["value"]).shape == (7,)
    one = handlers.trace(handlers.seed(hcl_model, 0)).get_trace(
        y, y, jnp.zeros((7, 4)), ones, 0.5, types=(0, 0, 1, 2), config=ModelConfig(max_clusters=1)
    )
    assert "v" not in one and "alpha" not in one


def test_mixed_mask_is_hard_on_edges_touching_discrete_nodes():
    phi = jnp.array([0.0, 0.02, 0.04, 1.0])
    types = (0, 0, 1, 2)  # two continuous, one binary, one count
    mask = np.asarray(mixed_order_mask(phi, 0.5, types))
    soft = np.asarray(order_mask(phi, 0.5))
    hard = np.asarray(hard_order_mask(phi))
    # continuous pair: soft in both directions (close potentials)
    np.testing.assert_allclose(mask[:2, :2], soft[:2, :2])
    assert 0.4 < mask[1, 0] < 0.5
    # any edge into or out of a binary/count node follows the hard order
    for i, j in [(0, 2), (2, 0), (1, 3), (3, 1), (2, 3), (3, 2)]:
        assert mask[i, j] == hard[i, j]
    # the node potentials still get a gradient through the hard edges
    grad = jax.grad(lambda p: mixed_order_mask(p, 0.5, types)[2, 3] * 1.0)(phi)
    assert np.abs(np.asarray(grad)).sum() > 0
    # all-continuous data: the plain soft mask
    np.testing.assert_allclose(mixed_order_mask(phi, 0.5, (0, 0, 0, 0)), soft)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(2, 4))
def test_noise_mixture_is_a_standardised_density(seed, m):
    rng = np.random.default_rng(seed)
    logits, locs = rng.normal(size=(2, 1, m))
    log_scales = rng.normal(np.log(0.6), 0.4, size=(1, m))
    log_w, loc, scale = (np.asarray(a)[0] for a in noise_mixture(logits, locs, log_scales))
    w = np.exp(log_w)
    assert w.sum() == pytest.approx(1.0, abs=1e-5)
    assert w @ loc == pytest.approx(0.0, abs=1e-5)
    assert w @ (scale**2 + loc**2) == pytest.approx(1.0, abs=1e-4)
    # the continuous node's density under noise sd 0.7 integrates to one
    grid = np.linspace(-12, 12, 4001)
    shape = tuple(jnp.asarray(a)[None] for a in (log_w, loc, scale))
    ll = component_loglik(
        jnp.asarray(grid)[:, None],
        jnp.zeros((grid.size, 1)),
        (0,),
        jnp.zeros(1),
        jnp.zeros((1, 1, 1)),
        jnp.zeros((1, 1)),
        jnp.full((1, 1), 0.7),
        noise_shape=shape,
    )
    assert np.trapezoid(np.exp(np.asarray(ll)[:, 0]), grid) == pytest.approx(1.0, abs=1e-3)


def test_one_component_noise_mixture_is_the_gaussian():
    y = jnp.asarray(np.random.default_rng(0).normal(size=(20, 1)))
    args = (y, y * 0, (0,), jnp.zeros(1), jnp.zeros((1, 1, 1)), jnp.zeros((1, 1)))
    shape = noise_mixture(jnp.zeros((1, 1)), jnp.full((1, 1), 0.3), jnp.full((1, 1), 0.2))
    np.testing.assert_allclose(
        component_loglik(*args, jnp.full((1, 1), 0.8), noise_shape=shape),
        component_loglik(*args, jnp.full((1, 1), 0.8)),
        atol=1e-5,
    )
