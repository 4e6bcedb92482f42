"""Tests for bayes_hcl.data: type inference, encoding and input validation."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_hcl.data import (
    PreparedData,
    describe_types,
    infer_types,
    parse_types,
    prepare,
    read_table,
)
from bayes_hcl.errors import DataError
from bayes_hcl.vartypes import TYPE_CODES, VARIABLE_TYPES


def _raises(match: str, func, *args, **kwargs) -> str:
    """Assert ``func`` raises a one-line DataError matching ``match``; return the message."""
    with pytest.raises(DataError, match=match) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    return message


@pytest.fixture
def mixed() -> pd.DataFrame:
    """A hand-built frame with one column of each inference case."""
    return pd.DataFrame(
        {
            "real": [0.5, -1.25, 2.0, 3.5, 0.0, 1.0],
            "bin_int": [0, 1, 1, 0, 1, 0],
            "bin_float": [0.0, 1.0, 0.0, 0.0, 1.0, 1.0],
            "flag": [True, False, True, True, False, False],
            "nullable_flag": pd.array([True, False, True, True, False, False], dtype="boolean"),
            "cnt_int": [0, 3, 1, 7, 2, 0],
            "cnt_float": [0.0, 3.0, 1.0, 7.0, 2.0, 0.0],
            "neg_int": [-1, 3, 1, 7, 2, 0],
            "two_vals": [1, 2, 1, 2, 2, 1],
        }
    )


# ------------------------------------------------------------------------------ inference


def test_variable_types_and_codes():
    assert VARIABLE_TYPES == ("continuous", "binary", "count", "categorical", "ordinal")
    assert TYPE_CODES == {
        "continuous": 0,
        "binary": 1,
        "count": 2,
        "categorical": 4,
        "ordinal": 0,
    }
    assert issubclass(DataError, ValueError)


def test_infer_types_mixed_frame(mixed):
    assert infer_types(mixed) == {
        "real": "continuous",
        "bin_int": "binary",
        "bin_float": "binary",
        "flag": "binary",
        "nullable_flag": "binary",
        "cnt_int": "count",
        "cnt_float": "count",
        "neg_int": "continuous",
        "two_vals": "continuous",
    }


def test_infer_types_ignores_missing_and_stringifies_names():
    df = pd.DataFrame({0: [0.0, 1.0, np.nan], 1: [1.0, 2.0, 5.0]})
    assert infer_types(df) == {"0": "binary", "1": "count"}


def test_infer_types_rejects_numbers_mixed_with_text():
    df = pd.DataFrame({"a": [1, 2], "g": [1, "abc"]})
    _raises(r"column 'g' is not numeric \(value 'abc' in row 1\)", infer_types, df)


def test_describe_types_reasons(mixed):
    table = describe_types(mixed)
    assert list(table.columns) == [
        "column",
        "type",
        "likelihood",
        "missing",
        "reason",
        "flag",
        "note",
    ]
    assert list(table["column"]) == list(mixed.columns)
    reasons = dict(zip(table["column"], table["reason"], strict=True))
    assert reasons["bin_int"] == "values in {0, 1}"
    assert reasons["flag"] == "boolean dtype"
    assert reasons["cnt_int"] == "non-negative integers"
    assert reasons["real"].startswith("real-valued")
    assert "negative" in reasons["neg_int"]
    assert "2 distinct" in reasons["two_vals"]
    types = dict(zip(table["column"], table["type"], strict=True))
    assert types == infer_types(mixed)


def test_describe_types_declared_override(mixed):
    table = describe_types(mixed, {"cnt_int": "continuous"}).set_index("column")
    assert table.loc["cnt_int", "type"] == "continuous"
    assert table.loc["cnt_int", "reason"] == "declared continuous (inferred: count)"
    assert table.loc["bin_int", "type"] == "binary"
    assert table.loc["bin_int", "likelihood"].startswith("Bernoulli")
    nb = describe_types(mixed, {"cnt_int": "NB"}).set_index("column").loc["cnt_int"]
    assert nb["type"] == "count" and nb["likelihood"].startswith("negative binomial")
    assert nb["reason"] == "declared negative_binomial (inferred: count)"
    default = describe_types(mixed, count_likelihood="negative_binomial").set_index("column")
    assert default.loc["cnt_int", "likelihood"].startswith("negative binomial")


# ------------------------------------------------------------------------------ encoding


@pytest.fixture
def tiny() -> pd.DataFrame:
    return pd.DataFrame({"c": [1.5, 2.5, 3.5, 4.5], "b": [0, 1, 1, 1], "k": [0, 1, 3, 8]})


def test_prepare_exact_values(tiny):
    p = prepare(tiny, min_rows=4)
    assert p.columns == ("c", "b", "k")
    assert p.types == ("continuous", "binary", "count")
    assert (p.n, p.d) == (4, 3)
    assert p.y.dtype == np.float64 and p.x.dtype == np.float64
    assert p.y.shape == p.x.shape == (4, 3)

    sd_c = math.sqrt(1.25)
    z = (np.array([1.5, 2.5, 3.5, 4.5]) - 3.0) / sd_c
    np.testing.assert_allclose(p.y[:, 0], z, rtol=0, atol=1e-14)
    np.testing.assert_allclose(p.x[:, 0], z, rtol=0, atol=1e-14)

    np.testing.assert_array_equal(p.y[:, 1], [0.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(p.x[:, 1], [-0.75, 0.25, 0.25, 0.25], atol=1e-15)

    np.testing.assert_array_equal(p.y[:, 2], [0.0, 1.0, 3.0, 8.0])
    logk = np.log([1.0, 2.0, 4.0, 9.0])
    np.testing.assert_allclose(p.x[:, 2], (logk - logk.mean()) / logk.std(), atol=1e-14)

    np.testing.assert_allclose(p.center, [3.0, 0.75, logk.mean()], atol=1e-15)
    np.testing.assert_allclose(p.scale, [sd_c, 1.0, logk.std()], atol=1e-15)
    # logit(0.75) = log(3); log(mean count) = log(12 / 4)
    np.testing.assert_allclose(p.offset, [0.0, math.log(3.0), math.log(3.0)], atol=1e-15)
    np.testing.assert_array_equal(p.type_codes(), [0, 1, 2])
    assert p.type_codes().dtype.kind == "i"


def test_offsets_are_clipped():
    n = 2000
    rare = np.zeros(n)
    rare[0] = 1.0
    df = pd.DataFrame({"b": rare, "k": rare, "c": np.arange(n) + 0.5})
    p = prepare(df, {"k": "count"})
    assert p.types == ("binary", "count", "continuous")
    np.testing.assert_allclose(p.offset[0], math.log(1e-3 / (1 - 1e-3)), rtol=1e-12)
    np.testing.assert_allclose(p.offset[1], math.log(1e-3), rtol=1e-12)
    np.testing.assert_allclose(p.center[0], 1 / n)


def test_types_override(tiny):
    assert prepare(tiny, min_rows=4).types == ("continuous", "binary", "count")
    p = prepare(tiny, {"k": "continuous", "b": "Continuous"}, min_rows=4)
    assert p.types == ("continuous", "continuous", "continuous")
    np.testing.assert_allclose(p.x[:, 1].std(), 1.0)  # 0/1 treated as continuous: z-scored
    np.testing.assert_allclose(p.y[:, 2].mean(), 0.0, atol=1e-15)  # counts z-scored in y
    np.testing.assert_array_equal(p.offset, 0.0)
    two = pd.DataFrame({"a": [1, 2, 1, 2], "z": [0.1, 0.2, 0.3, 0.5]})
    assert prepare(two, min_rows=4).types[0] == "continuous"
    declared = prepare(two, {"a": "count"}, min_rows=4)
    assert declared.types[0] == "count"
    np.testing.assert_array_equal(declared.y[:, 0], [1.0, 2.0, 1.0, 2.0])  # raw counts
    np.testing.assert_allclose(declared.offset[0], math.log(1.5))


def test_frame_round_trip(tiny):
    df = tiny.assign(c=[0.1, -3.7, 2.25, 1e3]).set_axis(["r1", "r2", "r3", "r4"])
    p = prepare(df, min_rows=4)
    back = p.frame()
    assert p.index == ("r1", "r2", "r3", "r4")
    assert list(back.index) == list(df.index) and list(back.columns) == list(df.columns)
    np.testing.assert_allclose(back.to_numpy(), df.to_numpy(dtype=float), rtol=0, atol=1e-12)


def test_to_dict_is_json_metadata(tiny):
    p = prepare(tiny, min_rows=4)
    meta = json.loads(json.dumps(p.to_dict()))
    assert set(meta) == {
        "columns",
        "types",
        "center",
        "scale",
        "offset",
        "n",
        "d",
        "missing",
        "size_factors",
        "count_likelihoods",
        "levels",
    }
    assert meta["missing"] == {} and meta["size_factors"] is False
    assert meta["count_likelihoods"] == {} and meta["levels"] == {}
    assert meta["columns"] == ["c", "b", "k"] and meta["n"] == 4 and meta["d"] == 3
    np.testing.assert_allclose(meta["offset"], p.offset)


def test_numpy_input_and_column_names():
    arr = np.random.default_rng(1).normal(size=(12, 3))
    p = prepare(arr)
    assert p.columns == ("x0", "x1", "x2")
    assert p.index == tuple(range(12))
    np.testing.assert_allclose(p.frame().to_numpy(), arr, atol=1e-12)
    df = pd.DataFrame(arr, columns=[3, "b", 2.5])
    assert prepare(df).columns == ("3", "b", "2.5")
    assert prepare(df, {3: "continuous"}).types[0] == "continuous"


def test_object_column_of_numbers_accepted():
    df = pd.DataFrame({"a": pd.Series([1, 2.5, 3, 4], dtype=object), "b": [0, 1, 0, 1]})
    p = prepare(df, min_rows=4)
    np.testing.assert_allclose(p.frame()["a"], [1, 2.5, 3, 4], atol=1e-12)


def test_csv_path_input(tmp_path, tiny):
    path = tmp_path / "data.csv"
    tiny.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), tiny)
    p = prepare(str(path), min_rows=4)
    assert p.types == ("continuous", "binary", "count")
    tsv = tmp_path / "data.tsv"
    tiny.to_csv(tsv, index=False, sep="\t")
    assert list(read_table(tsv).columns) == ["c", "b", "k"]


def test_prepared_data_checks_shapes():
    ok = {
        "columns": ("a", "b"),
        "types": ("continuous", "count"),
        "y": np.zeros((3, 2)),
        "x": np.zeros((3, 2)),
        "center": [0, 0],
        "scale": [1, 1],
        "offset": [0, 0],
    }
    p = PreparedData(**ok)
    assert p.index == (0, 1, 2) and isinstance(p.center, np.ndarray)
    _raises(r"PreparedData\.x has shape", PreparedData, **{**ok, "x": np.zeros((3, 3))})
    _raises(r"PreparedData\.scale has shape", PreparedData, **{**ok, "scale": [1.0]})
    _raises(r"unknown type 'nominal'", PreparedData, **{**ok, "types": ("nominal", "count")})


# ---------------------------------------------------------------------------- parse_types


def test_parse_types():
    assert parse_types("a=binary,b=count") == {"a": "binary", "b": "count"}
    assert parse_types(" a = Binary , b=COUNT, ") == {"a": "binary", "b": "count"}
    assert parse_types("") == {}
    assert parse_types("x=y=continuous") == {"x=y": "continuous"}


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("a", r"bad type specification 'a'"),
        ("a=binary,=count", r"bad type specification '=count'"),
        ("a=", r"bad type specification 'a='"),
        ("a=nominal", r"column 'a': unknown type 'nominal' \(valid types: continuous, binary"),
        ("a=binary,a=count", r"column 'a' is given a type more than once"),
    ],
)
def test_parse_types_errors(spec, match):
    _raises(match, parse_types, spec)


# ------------------------------------------------------------------------------ bad input


def _base(n: int = 12) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"a": rng.normal(size=n), "b": rng.normal(size=n)}


def _with(column: str, values) -> pd.DataFrame:
    data = _base(len(values))
    data[column] = values
    return pd.DataFrame(data)


BAD_FRAMES = [
    (pd.DataFrame(), r"data is empty \(0 rows, 0 columns\)"),
    (pd.DataFrame({"a": [], "b": []}), r"data is empty \(0 rows, 2 columns\)"),
    (pd.DataFrame(index=range(5)), r"data is empty \(5 rows, 0 columns\)"),
    (pd.DataFrame({"only": np.arange(20.0)}), r"single column 'only'; at least 2 variables"),
    (pd.DataFrame(_base(5)), r"data has 5 rows but at least 10 are needed"),
    (pd.DataFrame(np.ones((12, 3)), columns=["a", "d", "d"]), r"duplicate column name 'd'"),
    (pd.DataFrame(np.ones((12, 2)), columns=[1, "1"]), r"duplicate column name '1'"),
    (
        _with("g", ["x"] * 12),
        r"column 'g' is categorical with a single level 'x'; it carries no information",
    ),
    (
        _with("g", [1.0] * 3 + ["abc"] + [2.0] * 8),
        r"column 'g' is not numeric \(value 'abc' in row 3\)",
    ),
    (
        _with("g", [str(i) for i in range(12)]),
        r"column 'g' has 12 levels for 12 observed rows; a categorical variable may have at "
        r"most 2 here \(5 rows per level",
    ),
    (
        _with("g", pd.Categorical(range(3), categories=range(4)).repeat(4)),
        r"column 'g' has a level with no observed row \('3'\); remove unused categories",
    ),
    (_with("g", np.arange(12) + 1j), r"column 'g' is not numeric \(dtype complex128"),
    (
        _with("g", [1.0, 2.0, np.nan] + [3.0] * 8 + [np.nan]),
        r"column 'g' has 2 missing values \(first in row 2\)",
    ),
    (
        _with("g", pd.array([1, None] + [2] * 10, dtype="Int64")),
        r"column 'g' has 1 missing value \(first in row 1\)",
    ),
    (
        _with("g", [1.0, 2.0, 3.0, -np.inf] + [3.0] * 8),
        r"column 'g' has 1 infinite value \(first: -inf in row 3\)",
    ),
    (_with("g", [1.5] * 12), r"column 'g' is constant \(every value is 1\.5\); drop it"),
    (_with("g", [1e308, -1e308, 1e308] * 4), r"column 'g' has values too large in magnitude"),
    (
        _with("g", [1.0, np.nextafter(1.0, 2.0), 1.0] * 4),
        r"column 'g' cannot be standardised reliably \(sd 1\.28e-16 .*\); rescale or drop it",
    ),
    (_with("g", [0.0, 5e-324, 1e-323] * 4), r"column 'g' cannot be standardised reliably"),
]


@pytest.mark.parametrize(("frame", "match"), BAD_FRAMES)
def test_prepare_rejects_bad_frames(frame, match):
    _raises(match, prepare, frame)


def test_row_labels_named_in_messages():
    df = _with("g", [1.0, np.nan] + [2.0] * 10).set_axis([f"r{i}" for i in range(12)])
    _raises(r"column 'g' has 1 missing value \(first in row 'r1'\)", prepare, df)


def test_check_order_structure_before_values():
    df = pd.DataFrame({"g": ["x", "y", "x"], "h": [np.nan] * 3})
    _raises(r"data has 3 rows but at least 10", prepare, df)
    _raises(r"column 'g' has 2 levels for 3 observed rows", prepare, df, min_rows=3)
    _raises(r"types names column 'zz'", prepare, df, {"zz": "binary"}, min_rows=3)


@pytest.mark.parametrize(
    ("types", "values", "match"),
    [
        (
            {"zz": "binary"},
            None,
            r"types names column 'zz', which is not in the data \(columns: 'a'",
        ),
        (
            {"a": "nominal"},
            None,
            r"column 'a': unknown type 'nominal' \(valid types: continuous, binary, count, "
            r"categorical",
        ),
        ({"a": 3}, None, r"column 'a': unknown type 3"),
        (
            {"g": "binary"},
            [0, 1, 2] * 4,
            r"column 'g' is declared binary but has a value not in \{0, 1\} \(2 in row 2\)",
        ),
        ({"g": "binary"}, [1] * 12, r"column 'g' is constant \(every value is 1\)"),
        (
            {"g": "count"},
            [0, 1, -2] * 4,
            r"column 'g' is declared count but has a negative value \(-2 in row 2\)",
        ),
        (
            {"g": "count"},
            [0, 1, 2.5] * 4,
            r"column 'g' is declared count but has a non-integer value \(2\.5 in row 2\)",
        ),
    ],
)
def test_prepare_rejects_bad_types(types, values, match):
    frame = pd.DataFrame(_base()) if values is None else _with("g", values)
    _raises(match, prepare, frame, types)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (np.zeros(12), r"2-D .* got shape \(12,\)"),
        ([[1, 2], [3, 4]], r"got list"),
    ],
)
def test_prepare_rejects_bad_input_kinds(data, match):
    _raises(match, prepare, data)


@pytest.mark.parametrize("min_rows", [1, 2.5, True, "10"])
def test_prepare_rejects_bad_min_rows(min_rows):
    _raises(r"min_rows must be an integer >= 2", prepare, pd.DataFrame(_base()), min_rows=min_rows)


def test_read_table_errors(tmp_path):
    missing = tmp_path / "missing.csv"
    _raises(re.escape(f"file '{missing}' does not exist"), read_table, missing)
    _raises(r"is a directory", read_table, tmp_path)
    files = {
        "empty.csv": ("", r"'.*empty\.csv' is empty"),
        "header.csv": ("a,b\n", r"'.*header\.csv' has a header but no data rows"),
        "dup.csv": ("a,a\n1,2\n", r"'.*dup\.csv' has duplicate column name 'a'"),
        "ragged.csv": ("a,b\n1,2\n3,4,5,6\n", r"could not parse file '.*ragged\.csv' as CSV"),
        "latin.csv": (b"a,b\n\xff\xfe,1\n", r"'.*latin\.csv' is not UTF-8"),
    }
    for name, (text, match) in files.items():
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        _raises(match, read_table, path)
        _raises(match, prepare, path)


# ------------------------------------------------------------------------------ property


@st.composite
def float_frames(draw) -> pd.DataFrame:
    """Finite float frames whose columns are all clearly non-constant."""
    n = draw(st.integers(3, 15))
    d = draw(st.integers(2, 4))
    elements = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    columns = {}
    for j in range(d):
        col = draw(st.lists(elements, min_size=n, max_size=n))
        col[1] = col[0] + draw(st.floats(1e-2, 1e3)) * draw(st.sampled_from([-1.0, 1.0]))
        columns[f"v{j}"] = col
    return pd.DataFrame(columns)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(float_frames())
def test_prepare_standardises_and_round_trips(df):
    p = prepare(df, {c: "continuous" for c in df.columns}, min_rows=3)
    np.testing.assert_allclose(p.x.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(p.x.std(axis=0), 1.0, atol=1e-9)
    np.testing.assert_array_equal(p.x, p.y)
    np.testing.assert_array_equal(p.offset, 0.0)
    tol = 1e-12 * max(1.0, float(np.abs(df.to_numpy()).max()))
    np.testing.assert_allclose(p.frame().to_numpy(), df.to_numpy(), rtol=0, atol=tol)

    inferred = prepare(df, min_rows=3)
    assert set(inferred.types) <= set(VARIABLE_TYPES)
    np.testing.assert_allclose(inferred.x.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(inferred.frame().to_numpy(), df.to_numpy(), rtol=0, atol=tol)
