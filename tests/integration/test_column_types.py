"""The column types a fit assumed travel with it (issue #21): recorded in the result, kept by
save/load, printed by ``bayes-hcl fit``, written to ``summary.json`` and shown in the report."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_hcl as bh
from bayes_hcl.data.type_inference import TYPE_TABLE_COLUMNS
from tests.integration.test_cli import run_cli

TINY = {"num_steps": 50, "num_restarts": 1, "num_samples": 20}


def _issue_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """The issue's table, small: two hidden populations, a text column, a count, an integer
    age unrelated to the populations, and a 1-5 score."""
    rng = np.random.default_rng(seed)
    population = np.repeat([0, 1], n // 2)
    x = rng.normal(size=n) + 2.5 * population
    return pd.DataFrame(
        {
            "x": x,
            "y": 0.8 * x + rng.normal(size=n),
            "visits": rng.poisson(np.exp(0.5 + 0.3 * x)),
            "site": rng.choice(["north", "south"], n),
            "age": rng.integers(18, 91, n),
            "score": rng.permutation(np.resize([1, 2, 3, 4, 5], n)),
        }
    )


@pytest.fixture(scope="module")
def issue_fit():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = bh.fit(_issue_table(), seed=0, progress=False, **TINY)
    return result, [str(w.message) for w in caught if w.category is UserWarning]


def test_the_issue_age_is_continuous_and_the_types_are_recorded(issue_fit):
    result, messages = issue_fit
    table = result.column_types().set_index("column")
    assert list(result.column_types().columns) == list(TYPE_TABLE_COLUMNS)
    assert table.loc["age", "type"] == "continuous" and table.loc["age", "flag"] == "measurement"
    assert table.loc["visits", "type"] == "count"
    assert table.loc["visits", "likelihood"].startswith("Poisson")
    assert table.loc["site", "type"] == "categorical"
    assert table.loc["score", "flag"] == "short_scale"
    assert list(table["type"]) == result.types
    (scale,) = [m for m in messages if "short integer scale" in m]
    assert "types={'score': 'ordinal'}" in scale and "--types score=ordinal" in scale


def test_the_type_table_round_trips_through_save_and_load(issue_fit, tmp_path):
    result, _ = issue_fit
    result.save(tmp_path / "posterior.nc")
    loaded = bh.load_result(tmp_path / "posterior.nc")
    pd.testing.assert_frame_equal(loaded.column_types(), result.column_types())


def test_a_result_without_a_recorded_table_falls_back_to_columns_and_types(issue_fit):
    result, _ = issue_fit
    older = bh.HCLResult(result.idata.copy())
    del older.meta["column_types"]
    table = older.column_types()
    assert list(table.columns) == ["column", "type"]
    assert list(table["column"]) == result.columns and list(table["type"]) == result.types


def test_the_cli_prints_the_types_and_writes_them(tmp_path):
    csv = tmp_path / "data.csv"
    _issue_table(200, seed=1).to_csv(csv, index=False)
    out = tmp_path / "out"
    steps = ("--num-steps", "50", "--num-restarts", "1", "--num-samples", "20")
    proc = run_cli("fit", str(csv), "--out", str(out), *steps)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    start = lines.index("column types (declare others with --types NAME=TYPE):")
    assert lines[start + 1].split()[:2] == ["x", "continuous"]
    age = next(line for line in lines if line.split()[:1] == ["age"])
    assert age.split()[1] == "continuous" and "measurements" in age
    assert any("note:" in line and "--types score=ordinal" in line for line in lines)
    assert "short integer scale" in proc.stderr  # the warning
    summary = json.loads((out / "summary.json").read_text())
    types = {row["column"]: row for row in summary["column_types"]}
    assert types["age"]["type"] == "continuous" and types["visits"]["type"] == "count"
    assert set(types["score"]) == set(TYPE_TABLE_COLUMNS)
    report = run_cli("report", str(out))
    assert report.returncode == 0, report.stderr
    page = (out / "report.html").read_text()
    assert '<section id="types">' in page and "look like measurements" in page


def test_quiet_silences_the_type_table(tmp_path, monkeypatch, capsys, issue_fit):
    import bayes_hcl.api as api
    from bayes_hcl.cli.commands import main

    result, _ = issue_fit
    monkeypatch.setattr(api, "fit", lambda *args, **kwargs: result)  # no second fit
    csv = tmp_path / "data.csv"
    _issue_table().to_csv(csv, index=False)
    assert main(["fit", str(csv), "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    assert "column types" not in capsys.readouterr().out
    assert main(["fit", str(csv), "--out", str(tmp_path / "loud")]) == 0
    assert "column types" in capsys.readouterr().out
