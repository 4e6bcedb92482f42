"""Pólya-Gamma draws: their law, checked through its Laplace transform and moments."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayes_hcl.inference.gibbs.polya_gamma import polya_gamma, polya_gamma_mean

DRAWS = 200_000
_draw = jax.jit(polya_gamma)


def _laplace_transform(c, t):
    """``E[exp(-t omega)]`` of ``omega ~ PG(1, c)``: ``cosh(c/2) / cosh(sqrt((c^2/2 + t)/2))``."""
    return np.cosh(c / 2) / np.cosh(np.sqrt((c**2 / 2 + t) / 2))


# 0: the untilted law; |c| / 2 = 1.5 and 1.6 straddle the switch between the two
# inverse-Gaussian proposals (at 1 / 0.64); 40: a confident logit
@pytest.mark.parametrize("c", [0.0, 0.7, 3.0, 3.2, -5.0, 40.0])
def test_draws_have_the_polya_gamma_law(c):
    omega = np.asarray(_draw(jax.random.PRNGKey(7), jnp.full((DRAWS,), c))).astype(np.float64)
    assert (omega > 0).all() and np.isfinite(omega).all()
    for t in (0.5, 3.0, 30.0):  # the transform at several points pins the whole law
        values = np.exp(-t * omega)
        se = values.std() / np.sqrt(DRAWS)
        assert abs(values.mean() - _laplace_transform(abs(c), t)) < 4.5 * se, t
    mean = float(polya_gamma_mean(jnp.float32(c)))
    assert abs(omega.mean() - mean) < 4.5 * omega.std() / np.sqrt(DRAWS)
    a = abs(c)
    var = 1 / 24 if a == 0 else (np.sinh(a) - a) / (4 * a**3 * np.cosh(a / 2) ** 2)
    assert omega.var() == pytest.approx(var, rel=0.05)


def test_every_element_draws_its_own_tilt():
    c = jnp.asarray([0.0, 2.0, 8.0] * 50_000)
    omega = np.asarray(_draw(jax.random.PRNGKey(1), c)).reshape(-1, 3)
    expected = np.asarray(polya_gamma_mean(jnp.asarray([0.0, 2.0, 8.0])))
    np.testing.assert_allclose(omega.mean(0), expected, rtol=0.01)
    # independent elements: no correlation between neighbours drawn in the same rounds
    assert abs(np.corrcoef(omega[:, 0], omega[:, 1])[0, 1]) < 0.02


def test_the_mean_is_tanh_over_2c_and_a_quarter_at_zero():
    c = jnp.asarray([0.0, 1e-5, 1.0, -1.0, 10.0])
    expected = np.array([0.25, 0.25, np.tanh(0.5) / 2, np.tanh(0.5) / 2, np.tanh(5.0) / 20])
    np.testing.assert_allclose(np.asarray(polya_gamma_mean(c)), expected, rtol=1e-5)
