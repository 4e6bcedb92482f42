import numpy as np
import pytest
from scipy import integrate

from bayes_hcl.simulate.densities import (
    cell_state_loglik,
    count_logpmf,
    noise_logpdf,
    parent_values,
    row_loglik,
)
from bayes_hcl.simulate.draws import NOISE_KINDS


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_noise_densities_integrate_to_one(kind):
    grid = np.linspace(-12.0, 12.0, 240_001)
    density = np.exp(noise_logpdf(kind, grid))
    assert integrate.trapezoid(density, grid) == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize("phi", [0.0, 0.4])
def test_count_pmf_sums_to_one_with_the_right_mean(phi):
    y = np.arange(400.0)
    p = np.exp(count_logpmf(y, np.log(6.0), phi))
    assert p.sum() == pytest.approx(1.0)
    assert (y * p).sum() == pytest.approx(6.0)
    assert ((y - 6.0) ** 2 * p).sum() == pytest.approx(6.0 + phi * 36.0)


def test_parent_values_use_log1p_for_counts_and_scores_for_levels():
    values = np.array([[1.5, 3.0, 2.0], [0.0, 0.0, 0.0]])
    scores = [np.array([]), np.array([]), np.array([-1.0, 0.0, 1.0])]
    out = parent_values(values, ("continuous", "count", "categorical"), scores)
    assert out.tolist() == [[1.5, np.log1p(3.0), 1.0], [0.0, 0.0, -1.0]]


def test_row_loglik_of_independent_gaussians():
    values = np.array([[0.5, -1.0]])
    out = row_loglik(
        values,
        values,
        np.zeros((2, 2)),
        np.zeros(2),
        np.array([1.0, 2.0]),
        ("continuous", "continuous"),
        "gaussian",
    )
    expected = -0.5 * (0.25 + 0.25) - np.log(2.0) - np.log(2.0 * np.pi)
    assert out == pytest.approx([expected])


def test_cell_state_loglik_has_one_column_per_state():
    counts = np.array([[3.0, 0.0], [10.0, 2.0], [1.0, 1.0]])
    out = cell_state_loglik(
        counts,
        np.ones(3),
        np.log([4.0, 2.0]),
        np.array([0.2, 0.3]),
        np.zeros((2, 2, 2)),
        np.array([[0.0, 0.0], [1.0, 0.0]]),
    )
    assert out.shape == (3, 2) and np.isfinite(out).all()
    # without regulation the genes are independent NB2 counts
    assert out[0, 0] == pytest.approx(
        count_logpmf(3.0, np.log(4.0), 0.2) + count_logpmf(0.0, np.log(2.0), 0.3)
    )
