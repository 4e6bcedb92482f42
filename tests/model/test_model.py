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


def _two_piece_reference(y, mean, sigma, df, log_skew):
    """Fernandez-Steel two-piece Student-t with the given mean, from scipy's t density."""
    g = np.exp(log_skew)
    mode = mean - sigma * stats.t(df).expect(np.abs) * (g - 1.0 / g)
    z = (y - mode) / sigma
    piece = np.where(z >= 0, stats.t.logpdf(z / g, df), stats.t.logpdf(z * g, df))
    return np.log(2.0 / (g + 1.0 / g)) - np.log(sigma) + piece


def test_student_t_and_skew_t_noise_match_scipy_through_component_loglik():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 2))
    y = np.column_stack([x[:, 0], 0.8 * x[:, 0] + rng.standard_t(3, 40)])
    w = np.zeros((2, 2, 2))
    w[:, 0, 1] = [0.8, -0.4]
    b, sigma = rng.normal(size=(2, 2)), np.array([[0.7, 1.1], [1.3, 0.5]])
    df, log_skew = np.array([3.5, 12.0]), np.array([0.4, -0.9])
    args = (*map(jnp.asarray, (y, x)), (0, 0), *map(jnp.asarray, (np.zeros(2), w, b, sigma)))
    t = component_loglik(*args, noise_family="student_t", noise_df=jnp.asarray(df))
    skew = component_loglik(
        *args, noise_family="skew_t", noise_df=jnp.asarray(df), noise_log_skew=jnp.asarray(log_skew)
    )
    for k in range(2):
        eta = b[k] + x @ w[k]
        want_t = sum(stats.t.logpdf(y[:, j], df[j], eta[:, j], sigma[k, j]) for j in range(2))
        want_skew = sum(
            _two_piece_reference(y[:, j], eta[:, j], sigma[k, j], df[j], log_skew[j])
            for j in range(2)
        )
        np.testing.assert_allclose(t[:, k], want_t, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(skew[:, k], want_skew, rtol=1e-5, atol=1e-4)


def test_the_skew_t_linear_predictor_is_the_noise_mean():
    v = np.linspace(-80.0, 80.0, 400_001)
    sigma, df, log_skew = 1.7, 4.5, 0.6
    out = component_loglik(
        jnp.asarray(v[:, None]), jnp.zeros((v.size, 1)), (0,), jnp.zeros(1),
        jnp.zeros((1, 1, 1)), jnp.full((1, 1), 0.3), jnp.full((1, 1), sigma),
        noise_family="skew_t", noise_df=jnp.asarray([df]), noise_log_skew=jnp.asarray([log_skew]),
    )  # fmt: skip
    density = np.exp(np.asarray(out, np.float64)[:, 0])
    assert np.trapezoid(density, v) == pytest.approx(1.0, abs=1e-4)
    assert np.trapezoid(v * density, v) == pytest.approx(0.3, abs=2e-3)  # the intercept


@settings(max_examples=25, deadline=None)
@given(
    df=st.floats(1.0, 200.0),
    log_skew=st.floats(-2.0, 2.0),
    sigma=st.floats(0.2, 5.0),
)
def test_skew_t_is_a_density_and_its_hand_written_gradient_is_jax_s(df, log_skew, sigma):
    from bayes_hcl.model.likelihoods import skew_t_loglik

    # integral over the real line as one over (-pi/2, pi/2) with v = 0.3 + sigma tan(u)
    u = np.linspace(-np.pi / 2, np.pi / 2, 200001)[1:-1]
    v = 0.3 + sigma * np.tan(u)
    log_f = skew_t_loglik(jnp.asarray(v[:, None]), 0.3, jnp.full((1, 1), sigma), df, log_skew)
    area = np.trapezoid(np.exp(np.asarray(log_f, np.float64)[:, 0]) * sigma / np.cos(u) ** 2, u)
    assert area == pytest.approx(1.0, abs=2e-3)
    # against plain autodiff of the same density written without the custom backward pass
    rng = np.random.default_rng(0)
    y = jnp.asarray(rng.normal(size=(30, 1, 2)) * 2)
    eta = jnp.asarray(rng.normal(size=(30, 3, 2)))
    scales = jnp.full((1, 3, 2), sigma)
    weights = jnp.asarray(rng.normal(size=(30, 3, 2)))

    def plain(eta, scales, df, log_skew):
        z = (y - eta) / scales
        z = z * jnp.exp(-jnp.where(z >= 0, log_skew, -log_skew))
        norm = jax.scipy.special.gammaln(0.5 * (df + 1)) - jax.scipy.special.gammaln(0.5 * df)
        norm = norm - 0.5 * jnp.log(df * jnp.pi) - jnp.log(jnp.cosh(log_skew))
        return norm - jnp.log(scales) - 0.5 * (df + 1) * jnp.log1p(z**2 / df)

    def total(f):
        return lambda *a: (weights * f(*a)).sum()

    point = (eta, scales, jnp.asarray([df, df]), jnp.asarray([log_skew, -log_skew]))
    fast = jax.grad(total(lambda *a: skew_t_loglik(y, *a)), argnums=(0, 1, 2, 3))(*point)
    slow = jax.grad(total(plain), argnums=(0, 1, 2, 3))(*point)
    for got, want in zip(fast, slow, strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)


def test_the_default_model_learns_degrees_of_freedom_and_skew_per_node():
    y = jnp.zeros((7, 4))
    ones = jnp.ones((7, 4))
    tr = handlers.trace(handlers.seed(hcl_model, 0)).get_trace(
        y, y, jnp.zeros((7, 4)), ones, 0.5, types=(0, 0, 1, 3), config=ModelConfig()
    )
    assert tr["noise_df"]["value"].shape == (4,) and tr["noise_log_skew"]["value"].shape == (4,)
    gaussian = handlers.trace(handlers.seed(hcl_model, 0)).get_trace(
        y, y, jnp.zeros((7, 4)), ones, 0.5, types=(0, 0, 1, 3),
        config=ModelConfig(noise_family="gaussian"),
    )  # fmt: skip
    assert "noise_df" not in gaussian and "noise_log_skew" not in gaussian
    symmetric = handlers.trace(handlers.seed(hcl_model, 0)).get_trace(
        y, y, jnp.zeros((7, 4)), ones, 0.5, types=(0, 0, 1, 3),
        config=ModelConfig(noise_family="student_t"),
    )  # fmt: skip
    assert "noise_df" in symmetric and "noise_log_skew" not in symmetric
