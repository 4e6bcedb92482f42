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
    tr = handlers.trace(handlers.seed(hcl_model, 0)).get_trace(
        y, y, jnp.zeros(4), 0.5, types=(0, 0, 1, 2), config=cfg
    )
    shapes = {k: v["value"].shape for k, v in tr.items() if v["type"] == "sample"}
    assert shapes["W"] == (3, 4, 4) and shapes["v"] == (2,) and shapes["phi"] == (4,)
    assert shapes["b_shift"] == (3, 4)
    assert tr["loglik"]["fn"].log_prob(tr["loglik"]["value"]).shape == (7,)
    one = handlers.trace(handlers.seed(hcl_model, 0)).get_trace(
        y, y, jnp.zeros(4), 0.5, types=(0, 0, 1, 2), config=ModelConfig(max_clusters=1)
    )
    assert "v" not in one and "alpha" not in one
