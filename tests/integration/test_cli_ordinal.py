"""Every refusal of a text column names a way out that works from the command line."""

import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bayes_hcl.data import parse_types, prepare
from bayes_hcl.errors import DataError


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true"}
    return subprocess.run(
        [sys.executable, "-m", "bayes_hcl.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def _grades(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    grade = np.array(["low", "mid", "high"])[np.digitize(a + rng.normal(size=n), [-0.5, 0.5])]
    return pd.DataFrame({"a": a, "grade": grade, "c": a + rng.normal(size=n)})


def _suggested_types(message: str) -> str:
    """The ``--types`` value an error message suggests (quoted as for a shell)."""
    found = re.search(r"--types ('[^']*')", message)
    assert found, message
    return shlex.split(found.group(1))[0]


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("ordinal") / "grades.csv"
    _grades().to_csv(path, index=False)
    return path


def test_nuts_refusal_of_a_text_column_names_options_that_work(csv, tmp_path):
    proc = run_cli("fit", str(csv), "--out", str(tmp_path / "out"), "--method", "nuts")
    assert proc.returncode == 2
    message = proc.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "method 'nuts' does not support categorical variables yet (column 'grade')" in message
    assert "--method svi" in message and "drop the column" in message
    # the ordinal way out is one --types value; with the levels put in order it is accepted
    spec = _suggested_types(message)
    assert spec.startswith("grade=ordinal:")
    assert set(spec.split(":", 1)[1].split("<")) == {"low", "mid", "high"}
    data = prepare(csv, parse_types("grade=ordinal:low<mid<high"))
    assert data.types[1] == "ordinal"


def test_ordinal_refusal_of_text_names_an_order_declaration(csv, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("fit", str(csv), "--out", str(out), "--types", "grade=ordinal")
    assert proc.returncode == 2
    message = proc.stderr.strip()
    assert "\n" not in message and "ordered pandas Categorical" not in message
    assert "--types 'grade=ordinal:high<low<mid'" in message and "categorical" in message
    assert "types={'grade': ['high', 'low', 'mid']}" in message
    assert not out.exists()


@pytest.mark.parametrize(
    "types",
    [
        {"grade": ["low", "mid", "high"]},
        {"grade": ("low", "mid", "high")},
        {"grade": "ordinal:low<mid<high"},
        {"grade": "Ordinal: low < mid < high "},
        parse_types("grade=ordinal:low<mid<high"),
    ],
)
def test_declared_order_gives_an_ordinal_column_with_that_order(types):
    df = _grades()
    data = prepare(df, types)
    j = data.columns.index("grade")
    assert data.types[j] == "ordinal"
    assert data.levels[j] == ("low", "mid", "high")
    ranks = df["grade"].map({"low": 0, "mid": 1, "high": 2}).to_numpy(float)
    expected = (ranks - ranks.mean()) / ranks.std()
    np.testing.assert_allclose(data.y[:, j], expected)
    assert data.to_dict()["levels"]["grade"] == ["low", "mid", "high"]


def test_cli_parses_an_ordinal_order():
    assert parse_types("a=binary, grade=Ordinal:low< mid <high,b=nb") == {
        "a": "binary",
        "grade": "ordinal:low<mid<high",
        "b": "negative_binomial",
    }
    # '=' in a column name still works, and so does '=' in a level
    assert parse_types("x=y=ordinal:a=1<b=2") == {"x=y": "ordinal:a=1<b=2"}


def test_ordered_numbers_and_masked_cells():
    df = pd.DataFrame({"a": np.linspace(0, 1, 40), "g": np.resize([3.0, 1.0, 2.0, np.nan], 40)})
    data = prepare(df, {"g": ["3", "1", "2"]}, missing="mask")
    assert data.levels[1] == ("3", "1", "2") and data.observed[:, 1].sum() == 30


@pytest.mark.parametrize(
    ("types", "match"),
    [
        (
            {"grade": ["low", "mid"]},
            r"column 'grade' has a value 'high' \(row \d+\) that is not "
            r"in its declared order low<mid; add it to the order",
        ),
        (
            {"grade": ["low", "mid", "high", "top"]},
            r"no row with level 'top' of its declared "
            r"order; drop that level",
        ),
        ({"grade": ["low"]}, r"an ordinal order needs at least 2 non-empty levels"),
        ({"grade": "ordinal:low<<high"}, r"an ordinal order needs at least 2 non-empty levels"),
        ({"grade": ["low", "mid", "low"]}, r"level 'low' appears twice in its order"),
        ({"grade": "ordinal"}, r"give its levels lowest first"),
    ],
)
def test_bad_orders_get_one_line_errors(types, match):
    with pytest.raises(DataError, match=match) as info:
        prepare(_grades(), types)
    assert "\n" not in str(info.value)
