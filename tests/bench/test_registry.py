"""The suite table of ``bayes-hcl bench``: runners, the CLI's choices, a JAX-free import, the
files each suite writes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_hcl.bench import registry
from bayes_hcl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

#: Every suite's files (the output contract of ``bayes-hcl bench --out``).
SUITE_FILES = {
    "quick": {"results.csv", "results.json"},
    "full": {"results.csv", "results.json"},
    "mixed": {"results.csv", "results.json"},
    "speed": {"speed.csv"},
    "scaling": {"scaling.csv", "cost_model.csv"},
    "minibatch": {"minibatch.csv"},
    "ges-ratio": {"ges-ratio.csv"},
    "identifiability": {"identifiability.csv", "identifiability.json"},
    "factors": {"factors.csv", "factors_runtime.csv"},
    "sachs": {"sachs.csv"},
    "single-cell": {"single_cell.csv"},
    "exact": {"exact.csv"},
    "calibration": {"calibration.csv", "calibration.json"},
    "nuts-speed": {"nuts-speed.csv"},
    "gibbs": {"gibbs-exact.csv", "gibbs-mechanism.csv", "gibbs-speed.csv"},
    "misspecified": {"misspecified.csv", "misspecified_speed.csv"},
}


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )


def test_every_suite_has_a_name_a_description_and_a_runner_that_resolves():
    names = [suite.name for suite in registry.SUITE_TABLE]
    assert len(set(names)) == len(names) and registry.SUITES == tuple(names)
    assert set(names) == set(SUITE_FILES)
    for suite in registry.SUITE_TABLE:
        assert suite.description and "\n" not in suite.description
        assert len(suite.description) <= 60, suite.name  # one --help line in 80 columns
        assert suite.runner.startswith("bayes_hcl.bench.")
        assert callable(suite.load()), suite.name
        assert registry.get_suite(suite.name) is suite


def test_the_cli_offers_exactly_the_registry_suites(capsys):
    from bayes_hcl.cli import BENCH_SUITES, build_parser

    assert BENCH_SUITES == registry.SUITES
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    offered = re.search(r"--suite \{([^}]*)\}", helptext).group(1)
    assert tuple(offered.split(",")) == registry.SUITES
    for row in registry.SUITE_TABLE:
        assert f"{row.name} {row.description}" in helptext
    for name in registry.SUITES:
        assert build_parser().parse_args(["bench", "--suite", name]).suite == name


def test_unknown_suite_is_one_line_naming_the_suites():
    from bayes_hcl.bench import run_bench

    with pytest.raises(ConfigError) as err:
        run_bench("nope")
    message = str(err.value)
    assert "\n" not in message and "'nope'" in message
    assert all(name in message for name in registry.SUITES)
    with pytest.raises(ConfigError, match="unknown bench suite 'quik'"):
        registry.get_suite("quik")


def test_the_registry_and_the_bench_package_import_no_jax():
    # the top-level bayes_hcl package is stood in for, so only bench's own imports count
    proc = _python(
        "import sys, types\n"
        "pkg = types.ModuleType('bayes_hcl'); pkg.__path__ = ['bayes_hcl']\n"
        "sys.modules['bayes_hcl'] = pkg\n"
        "import bayes_hcl.bench.registry as r\n"
        "assert r.SUITES and r.SUITE_TABLE\n"
        "heavy = [m for m in ('jax', 'numpyro', 'pandas', 'bayes_hcl.bench.suites',\n"
        "         'bayes_hcl.inference', 'bayes_hcl.model') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_importing_the_registry_does_not_start_jax():
    proc = _python(
        "import sys\n"
        "import bayes_hcl\n"
        "top = 'jax' in sys.modules\n"
        "import bayes_hcl.bench.registry\n"
        "print(top, 'jax' in sys.modules)\n"
    )
    assert proc.returncode == 0, proc.stderr
    # neither the package (its JAX-backed names load on first use) nor the table imports JAX
    assert proc.stdout.split() == ["False", "False"]


def _fake_setting(setting, seed, baselines=True):
    methods = ["bayes_hcl", *(["ges_pooled"] if baselines else [])]
    return [
        {
            "setting": setting.name,
            "seed": seed,
            "method": method,
            "wall_s": 1.0 + seed,
            "ari": 0.5 + 0.25 * seed,
            "f1": 0.75,
            "cluster_f1": 0.5,
            "ident_correct": seed,
            "ident_reversed": 1,
            "ident_absent": 0,
            "n_identified": seed + 1,
            "n_true_adjacent": 3,
            "heterogeneity": "clusters",
            "ari_ceiling": 0.9,
        }
        for method in methods
    ]


def _table(*args, **kwargs) -> pd.DataFrame:
    if kwargs.get("log"):
        kwargs["log"]("a line")
    return pd.DataFrame({"n": [10], "d": [2], "max_clusters": [3], "steps_per_s": [100.0]})


@pytest.fixture
def stubbed(monkeypatch):
    """Every suite's work replaced by a stub returning a small table."""
    from bayes_hcl.bench import gibbs, misspecified, runners, suites

    monkeypatch.setattr(suites, "run_setting", _fake_setting)
    for name in (
        "run_scaling",
        "run_minibatch",
        "run_ges_ratio",
        "run_speed",
        "run_factors",
        "run_factor_runtime",
        "run_single_cell",
        "run_sachs",
        "run_exact",
    ):
        monkeypatch.setattr(runners, name, _table)
    figures = {"ece_nuts": np.float64(0.1), "config": {"model": {}}}
    monkeypatch.setattr(runners, "run_calibration", lambda **kw: (_table(**kw), figures))
    monkeypatch.setattr(runners, "run_nuts_speed", lambda seed, log: {"seed": seed})
    for name in ("run_gibbs_exact", "run_mechanism_change", "run_gibbs_speed"):
        monkeypatch.setattr(gibbs, name, _table)
    monkeypatch.setattr(misspecified, "run_misspecified", _fake_misspecified)


def _fake_misspecified(seeds, log=None):
    rows = [
        {"seed": s, "true_k": 2, "law": law, "family": family, "wall_s": 1.0 + s}
        for s in range(seeds)
        for law in ("gaussian", "laplace")
        for family in ("gaussian", "skew_t")
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("suite", sorted(SUITE_FILES))
def test_each_suite_writes_its_files(stubbed, tmp_path, suite):
    from bayes_hcl.bench import run_bench

    lines = []
    table = run_bench(suite, tmp_path / "out", repeats=2, baselines=True, log=lines.append)
    assert isinstance(table, pd.DataFrame) and len(table)
    assert {p.name for p in (tmp_path / "out").iterdir()} == SUITE_FILES[suite]
    assert run_bench(suite, None, repeats=1, log=lines.append) is not None  # out=None: no files


def test_settings_suite_writes_rows_and_returns_medians(stubbed, tmp_path):
    from bayes_hcl.bench import SETTINGS, run_bench

    lines = []
    medians = run_bench("quick", tmp_path, repeats=2, baselines=False, log=lines.append)
    raw = pd.read_csv(tmp_path / "results.csv")
    expected = _fake_setting(SETTINGS["quick"][0], 1, baselines=False)
    assert list(raw.columns) == list(expected[0]) and raw.seed.tolist() == [0, 1]
    assert json.loads((tmp_path / "results.json").read_text())[1] == expected[0]
    assert medians.ari.tolist() == [0.625] and "seed" not in medians
    assert len(lines) == 2 and lines[0].startswith("d5-K2") and "ARI 0.500" in lines[0]


def test_identifiability_suite_writes_totals(stubbed, tmp_path, capsys):
    from bayes_hcl.bench import SETTINGS, run_bench

    raw = run_bench("identifiability", tmp_path, repeats=1)
    totals = json.loads((tmp_path / "identifiability.json").read_text())
    n_settings = len(SETTINGS["full"])
    assert totals["fits"] == len(raw) == n_settings and totals["reversed"] == n_settings
    assert json.loads(capsys.readouterr().out) == totals


@pytest.mark.slow  # about 15 s with a warm compilation cache, 35 s cold
def test_quick_suite_runs_end_to_end(tmp_path):
    env = {**os.environ, "CI": "true"}
    out = tmp_path / "bench"
    command = ["bench", "--suite", "quick", "--no-baselines", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "bayes_hcl.cli", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == SUITE_FILES["quick"]
    raw = pd.read_csv(out / "results.csv")
    assert raw.method.tolist() == ["bayes_hcl"] and raw.setting.tolist() == ["d5-K2"]
    for column in ("ari", "f1", "f1_cpdag", "cluster_f1", "auprc", "p_k_true", "ari_ceiling"):
        assert 0.0 <= raw.loc[0, column] <= 1.0, column
    assert "d5-K2" in proc.stdout and "bayes_hcl" in proc.stdout
