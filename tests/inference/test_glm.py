"""Weighted logistic and Poisson IRLS against scikit-learn's unpenalised fits."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.linear_model import LogisticRegression, PoissonRegressor

from bayes_hcl.inference.search.glm import fit_glm, glm_loglik
from bayes_hcl.vartypes import BINARY, COUNT


def _design(x):
    return np.column_stack([np.ones(len(x)), x])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), q=st.integers(0, 3))
def test_weighted_logistic_matches_sklearn(seed, q):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, q))
    eta = 0.3 + x @ rng.uniform(-1, 1, q)
    y = (rng.random(400) < 1 / (1 + np.exp(-eta))).astype(float)
    weight = rng.uniform(0.1, 1.0, 400)
    fit = fit_glm(_design(x), y, weight, BINARY)
    if q:
        ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)
        ref.fit(x, y, sample_weight=weight)
        want = np.concatenate([ref.intercept_, ref.coef_[0]])
    else:
        p = weight @ y / weight.sum()
        want = np.array([np.log(p / (1 - p))])
    np.testing.assert_allclose(fit.coef, want, atol=1e-4)
    eta_hat = _design(x) @ fit.coef
    loglik = weight @ stats.bernoulli(1 / (1 + np.exp(-eta_hat))).logpmf(y)
    assert fit.loglik == pytest.approx(loglik, rel=1e-8)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), q=st.integers(1, 3))
def test_weighted_poisson_matches_sklearn(seed, q):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, q))
    y = rng.poisson(np.exp(1.0 + x @ rng.uniform(-0.5, 0.5, q))).astype(float)
    weight = rng.uniform(0.1, 1.0, 400)
    fit = fit_glm(_design(x), y, weight, COUNT)
    ref = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(x, y, sample_weight=weight)
    np.testing.assert_allclose(fit.coef, np.concatenate([[ref.intercept_], ref.coef_]), atol=1e-4)
    eta_hat = _design(x) @ fit.coef
    assert fit.loglik == pytest.approx(weight @ stats.poisson(np.exp(eta_hat)).logpmf(y), rel=1e-8)


def test_separable_binary_data_stay_finite():
    x = np.linspace(-1, 1, 50)
    y = (x > 0).astype(float)
    fit = fit_glm(_design(x), y, np.ones(50), BINARY)
    assert np.isfinite(fit.coef).all() and np.isfinite(fit.loglik)
    assert fit.loglik > -1.0  # nearly perfect separation


def test_unknown_family_is_an_error():
    with pytest.raises(ValueError, match="unknown GLM family"):
        glm_loglik(np.zeros(2), np.zeros(2), 7)
