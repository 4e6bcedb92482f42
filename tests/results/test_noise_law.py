"""The fitted noise law: exact moments of the two-piece Student-t and the per-variable table."""

import numpy as np
import pytest
from scipy import integrate, stats

from bayes_hcl.results.noise_law import noise_law_table, two_piece_t_moments


def _numerical_moments(df, log_skew):
    g = np.exp(log_skew)

    def density(x):
        piece = stats.t.pdf(x / g, df) if x >= 0 else stats.t.pdf(x * g, df)
        return 2.0 / (g + 1.0 / g) * piece

    raw = [integrate.quad(lambda x, r=r: x**r * density(x), -np.inf, np.inf, limit=400)[0]
           for r in range(5)]  # fmt: skip
    mean, var = raw[1], raw[2] - raw[1] ** 2
    third = raw[3] - 3 * mean * raw[2] + 2 * mean**3
    fourth = raw[4] - 4 * mean * raw[3] + 6 * mean**2 * raw[2] - 3 * mean**4
    return third / var**1.5, fourth / var**2 - 3.0


@pytest.mark.parametrize(("df", "log_skew"), [(10.0, 0.5), (6.0, -0.3), (30.0, 0.0), (5.5, 1.0)])
def test_two_piece_moments_are_the_integrals(df, log_skew):
    skewness, kurtosis = two_piece_t_moments(df, log_skew)
    want_skew, want_kurt = _numerical_moments(df, log_skew)
    assert skewness == pytest.approx(want_skew, rel=1e-5, abs=1e-7)
    assert kurtosis == pytest.approx(want_kurt, rel=1e-5)


def test_gaussian_and_undefined_moments():
    skewness, kurtosis = two_piece_t_moments([np.inf, np.inf, 3.5, 2.5], [0.0, 0.7, 0.0, 0.0])
    assert skewness[0] == 0.0 and kurtosis[0] == 0.0
    # the two-piece normal with gamma = e^0.7, from the same integrals
    assert skewness[1] == pytest.approx(0.792353, abs=1e-5)
    assert kurtosis[2] == np.inf and np.isnan(skewness[3])


def test_the_table_flags_a_law_only_when_the_posterior_is_sure():
    rng = np.random.default_rng(0)
    columns = ["heavy", "gaussianish", "flag", "skewed"]
    continuous = np.array([True, True, False, True])
    df = np.column_stack(
        [rng.uniform(3.0, 5.0, 200), rng.uniform(30.0, 60.0, 200), np.ones(200), np.full(200, 40.0)]
    )
    skew = np.column_stack(
        [np.zeros(200), rng.normal(0, 0.01, 200), np.zeros(200), np.full(200, 0.5)]
    )
    table = noise_law_table(columns, continuous, "skew_t", df, skew).set_index("variable")
    assert list(table.index) == ["heavy", "gaussianish", "skewed"]  # the binary one is left out
    assert table.loc["heavy", "non_gaussian"] and table.loc["heavy", "p_non_gaussian"] == 1.0
    assert not table.loc["gaussianish", "non_gaussian"]
    assert table.loc["gaussianish", "p_non_gaussian"] == 0.0  # kurtosis <= 0.23, |skew| small
    assert table.loc["skewed", "non_gaussian"]
    assert table.loc["heavy", "df_low"] == pytest.approx(np.quantile(df[:, 0], 0.05))
    assert table.loc["skewed", "skewness"] == pytest.approx(two_piece_t_moments(40.0, 0.5)[0])


def test_the_table_of_the_fixed_laws():
    columns, continuous = ["a", "b"], np.array([True, True])
    gaussian = noise_law_table(columns, continuous, "gaussian", None, None)
    assert (gaussian.df == np.inf).all() and not gaussian.non_gaussian.any()
    assert (gaussian.skewness == 0.0).all() and (gaussian.excess_kurtosis == 0.0).all()
    laplace = noise_law_table(columns, continuous, "laplace", None, None)
    assert laplace.non_gaussian.all() and (laplace.excess_kurtosis == 3.0).all()
    mixture = noise_law_table(columns, continuous, "mixture", None, None)
    assert mixture.non_gaussian.all() and mixture.skewness.isna().all()
