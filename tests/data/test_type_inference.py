"""Type inference of integer columns: measurements, identifiers, short scales and
overdispersed counts (``bayes_hcl.data.type_inference``), and the type table that a fit
records."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes_hcl.data import describe_types, infer_types, prepare
from bayes_hcl.data.type_inference import TYPE_TABLE_COLUMNS, type_warnings

N = st.integers(300, 1000)
SEED = st.integers(0, 2**31 - 1)


def _one(values, name: str = "v", count_likelihood: str = "poisson", types=None) -> pd.Series:
    """The describe_types row of one column (beside a continuous column)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=len(values)), name: values})
    table = describe_types(frame, types, count_likelihood=count_likelihood)
    return table.set_index("column").loc[name]


# ------------------------------------------------------------------ read as continuous


@settings(max_examples=25, deadline=None)
@given(seed=SEED, n=N, low=st.integers(15, 25), high=st.integers(70, 95))
def test_an_age_is_a_measurement(seed, n, low, high):
    age = np.random.default_rng(seed).integers(low, high + 1, n)
    row = _one(age, "age")
    assert row["type"] == "continuous" and row["flag"] == "measurement"
    assert row["reason"].startswith("integers that look like measurements")
    assert "types={'age': 'count'}" in row["note"] and "--types age=count" in row["note"]


@settings(max_examples=25, deadline=None)
@given(seed=SEED, n=st.integers(200, 1000), start=st.integers(1950, 2000), span=st.integers(20, 40))
def test_a_year_is_a_measurement(seed, n, start, span):
    year = np.random.default_rng(seed).integers(start, start + span + 1, n)
    row = _one(year, "year")
    assert row["type"] == "continuous" and row["flag"] == "measurement"


@settings(max_examples=25, deadline=None)
@given(seed=SEED, n=st.integers(20, 600), start=st.integers(0, 5000))
def test_an_identifier_is_continuous_and_flagged(seed, n, start):
    ids = np.random.default_rng(seed).permutation(np.arange(start, start + n))
    row = _one(ids, "id")
    assert row["type"] == "continuous" and row["flag"] == "identifier"
    assert "drop it" in row["note"]


# ----------------------------------------------------------------------- stay counts


@settings(max_examples=40, deadline=None)
@given(seed=SEED, n=N, rate=st.floats(0.3, 300))
def test_poisson_counts_stay_counts_unflagged(seed, n, rate):
    counts = np.random.default_rng(seed).poisson(rate, n)
    if len(np.unique(counts)) < 3:
        return  # {0, 1} is binary, two values continuous: not what this test is about
    row = _one(counts)
    assert row["type"] == "count" and row["likelihood"].startswith("Poisson")
    # a Poisson(4) sample without a zero spans 1..10: offered as ordinal, never more
    assert row["flag"] in ("", "short_scale")
    if rate > 20:
        assert row["flag"] == ""


@settings(max_examples=30, deadline=None)
@given(
    seed=SEED,
    n=st.integers(500, 1000),
    low=st.floats(1.0, 5.0),
    ratio=st.floats(1.0, 4.0),
    weight=st.floats(0.2, 0.8),
)
def test_a_few_poisson_populations_are_not_flagged_overdispersed(seed, n, low, ratio, weight):
    rng = np.random.default_rng(seed)
    means = np.where(rng.random(n) < weight, low, low * ratio)
    row = _one(rng.poisson(means))
    assert row["type"] == "count" and row["flag"] in ("", "short_scale")


@settings(max_examples=30, deadline=None)
@given(seed=SEED, n=N, mean=st.floats(3.0, 50.0), size=st.floats(0.2, 0.5))
def test_overdispersed_counts_are_flagged_with_the_fix(seed, n, mean, size):
    counts = np.random.default_rng(seed).negative_binomial(size, size / (size + mean), n)
    row = _one(counts, "reads")
    assert row["type"] == "count" and row["flag"] == "overdispersed"
    for fix in ("types={'reads': 'nb'}", "--types reads=nb", 'count_likelihood = "negative'):
        assert fix in row["note"]
    # under a negative binomial likelihood, or declared, there is nothing to flag
    assert _one(counts, "reads", count_likelihood="negative_binomial")["flag"] == ""
    assert _one(counts, "reads", types={"reads": "count"})["flag"] == ""


@settings(max_examples=25, deadline=None)
@given(seed=SEED, n=N, zeros=st.floats(0.5, 0.9), rate=st.floats(2.0, 30.0))
def test_counts_with_many_zeros_stay_counts(seed, n, zeros, rate):
    rng = np.random.default_rng(seed)
    counts = np.where(rng.random(n) < zeros, 0, rng.poisson(rate, n))
    row = _one(counts)
    assert row["type"] == "count" and row["flag"] in ("", "overdispersed")


def test_skewed_negative_binomial_counts_far_from_zero_stay_counts():
    # a highly expressed gene: no value near zero, but skewed like a count
    rng = np.random.default_rng(4)
    counts = rng.negative_binomial(2, 2 / 502, 1000)
    assert counts.min() >= 10
    assert _one(counts)["type"] == "count"


# ----------------------------------------------------------------------- short scales


@settings(max_examples=25, deadline=None)
@given(seed=SEED, n=st.integers(60, 600), top=st.integers(3, 10), low=st.integers(1, 2))
def test_a_short_scale_is_offered_as_ordinal(seed, n, top, low):
    rng = np.random.default_rng(seed)
    levels = np.arange(low, low + top)
    score = rng.permutation(np.resize(levels, n))  # every level present
    row = _one(score, "score")
    assert row["type"] == "count" and row["flag"] == "short_scale"
    assert "types={'score': 'ordinal'}" in row["note"] and "--types score=ordinal" in row["note"]


def test_a_scale_with_a_gap_or_a_zero_is_not_offered():
    assert _one(np.resize([1, 2, 4, 5], 60))["flag"] == ""  # not consecutive
    assert _one(np.resize([0, 1, 2, 3, 4], 60))["flag"] == ""  # starts at 0, as counts do


def test_declaring_a_numeric_scale_ordinal_works():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=100), "score": np.resize([1, 2, 3, 4, 5], 100)})
    data = prepare(frame, {"score": "ordinal"})
    assert data.types == ("continuous", "ordinal") and data.levels[1] == ("1", "2", "3", "4", "5")
    np.testing.assert_allclose(data.y[:, 1].mean(), 0.0, atol=1e-12)  # z-scored ranks
    np.testing.assert_allclose(data.y[:, 1].std(), 1.0, atol=1e-12)
    (row,) = [r for r in data.type_table() if r["column"] == "score"]
    assert row["type"] == "ordinal" and row["reason"] == "declared ordinal (inferred: count)"
    assert row["flag"] == row["note"] == ""


# ------------------------------------------------------------- declared, table, warnings


def test_a_declared_type_is_never_overridden_nor_warned_about():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 91, 300),
            "score": np.resize([1, 2, 3, 4, 5], 300),
            "reads": rng.negative_binomial(0.3, 0.3 / 10.3, 300),
            "id": np.arange(300),
        }
    )
    declared = {"age": "count", "score": "count", "reads": "poisson", "id": "continuous"}
    table = describe_types(frame, declared).set_index("column")
    assert list(table["type"]) == ["count", "count", "count", "continuous"]
    assert (table["flag"] == "").all() and (table["note"] == "").all()
    assert table.loc["age", "reason"] == "declared count (inferred: continuous)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records = prepare(frame, declared).type_table(warn=True)
    assert [r["type"] for r in records] == list(table["type"])
    assert infer_types(frame) == {
        "age": "continuous",
        "score": "count",
        "reads": "count",
        "id": "continuous",
    }


def test_the_type_table_of_prepared_data_matches_describe_types():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 91, 400).astype(float),
            "score": np.resize([1.0, 2.0, 3.0, 4.0], 400),
            "reads": rng.negative_binomial(0.3, 0.3 / 10.3, 400).astype(float),
            "g": np.resize(["a", "b"], 400),
        }
    )
    frame.loc[[3, 9], "reads"] = np.nan
    records = prepare(frame, missing="mask").type_table()
    described = describe_types(frame)
    assert list(described.columns) == list(TYPE_TABLE_COLUMNS)
    assert pd.DataFrame(records).equals(described)
    assert records[2]["missing"] == 2 and records[2]["flag"] == "overdispersed"


def test_the_warnings_name_the_columns_and_the_override():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "score": np.resize([1, 2, 3, 4, 5], 300),
            "grade": np.resize([1, 2, 3, 4, 5, 6, 7], 300),
            "reads": rng.negative_binomial(0.3, 0.3 / 10.3, 300),
            "row": np.arange(1, 301),
            "age": rng.integers(18, 91, 300),
        }
    )
    data = prepare(frame)
    with pytest.warns(UserWarning) as caught:
        data.type_table(warn=True)
    messages = [str(w.message) for w in caught]
    assert messages == type_warnings(data.type_table())
    ids, scales, wide = messages
    assert "'row'" in ids and "drop it" in ids
    assert "'score', 'grade'" in scales
    assert "types={'score': 'ordinal', 'grade': 'ordinal'}" in scales
    assert "--types score=ordinal,grade=ordinal" in scales
    assert "'reads'" in wide and "types={'reads': 'negative_binomial'}" in wide
    assert "--types reads=nb" in wide and 'count_likelihood = "negative_binomial"' in wide
    assert not any("'age'" in m for m in messages)  # stated in the table, not warned about
    # the preset's negative binomial leaves nothing to flag on the counts
    assert len(type_warnings(data.type_table("negative_binomial"))) == 2


def test_the_type_table_states_the_presets_noise_law():
    from bayes_hcl.data.type_inference import continuous_likelihood

    assert continuous_likelihood() == "Gaussian, identity link"
    assert continuous_likelihood("laplace") == "Laplace, identity link"
    assert continuous_likelihood("gaussian", 3) == (
        "Gaussian mixture (3 components), identity link"
    )
