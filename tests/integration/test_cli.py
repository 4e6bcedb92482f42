"""The command line, run as a user would: in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_hcl as bh
from bayes_hcl.cli.commands import main
from bayes_hcl.errors import DataError
from tests.conftest import REPORT_SECTIONS

EXPECTED_FILES = {
    "edge_probabilities.csv",
    "memberships.csv",
    "effects.csv",
    "identifiability.json",
    "summary.json",
    "posterior.nc",
    "clusters",
}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true"}
    return subprocess.run(
        [sys.executable, "-m", "bayes_hcl.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def fitted_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    csv = folder / "data.csv"
    proc = run_cli(
        "simulate",
        "--out",
        str(csv),
        "--d",
        "4",
        "--n-per-cluster",
        "250",
        "--mean-shift",
        "3",
        "--seed",
        "3",
    )
    assert proc.returncode == 0, proc.stderr
    out = folder / "out"
    proc = run_cli("fit", str(csv), "--out", str(out), "--max-clusters", "4", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    return folder


def test_simulate_writes_data_and_truth(fitted_dir):
    data = pd.read_csv(fitted_dir / "data.csv")
    truth = json.loads((fitted_dir / "data.truth.json").read_text())
    assert data.shape == (500, 4)
    assert truth["columns"] == list(data.columns) and len(truth["labels"]) == 500


def test_fit_writes_exactly_the_contract(fitted_dir):
    out = fitted_dir / "out"
    assert {p.name for p in out.iterdir()} == EXPECTED_FILES
    pooled = pd.read_csv(out / "edge_probabilities.csv", index_col=0)
    assert list(pooled.index) == list(pooled.columns) == [f"X{j}" for j in range(4)]
    members = pd.read_csv(out / "memberships.csv", index_col=0)
    clusters = sorted(p.name for p in (out / "clusters").iterdir())
    assert list(members.columns) == [*clusters, "cluster"]
    np.testing.assert_allclose(members[clusters].sum(axis=1), 1.0, rtol=1e-5)
    for k in clusters:
        per = pd.read_csv(out / "clusters" / k / "edge_probabilities.csv", index_col=0)
        assert per.shape == (4, 4)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "svi" and summary["seed"] == 1
    assert summary["n_clusters"] == len(clusters)
    assert {"jax", "numpyro", "arviz"} <= set(summary["versions"])
    # the fitted noise law of every continuous variable, in strict JSON (no Infinity)
    law = summary["noise_law"]
    assert [row["variable"] for row in law] == list(per.columns)
    assert all(row["family"] == "skew_t" and row["df"] > 0 for row in law)
    assert all(isinstance(row["non_gaussian"], bool) for row in law)
    json.loads((out / "summary.json").read_text(), parse_constant=_refuse)
    ident = json.loads((out / "identifiability.json").read_text())
    assert set(ident) == REPORT_SECTIONS
    assert ident["clusters"]["heterogeneity"] in {
        "supported",
        "weak",
        "not supported",
        "possibly non-Gaussian noise",
    }
    result = bh.load_result(out / "posterior.nc")
    np.testing.assert_allclose(result.edge_probabilities().to_numpy(), pooled.to_numpy(), rtol=1e-6)
    truth = json.loads((fitted_dir / "data.truth.json").read_text())
    assert bh.metrics.adjusted_rand_index(truth["labels"], members["cluster"]) >= 0.9


def _bad_inputs(folder: Path) -> list[tuple[str, list[str], str]]:
    rng = np.random.default_rng(0)
    good = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    cases = {
        "nan": (good.assign(b=good.b.where(good.index != 5)), "'b'"),
        "const": (good.assign(c=1.5), "'c'"),
        "text": (good.assign(a=["x"] * 40), "'a'"),
        "single": (good[["a"]], "column"),
        "short": (good.head(3), "rows"),
        "inf": (good.assign(a=np.where(good.index == 2, np.inf, good.a)), "'a'"),
    }
    out = []
    for name, (frame, needle) in cases.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        out.append((name, [str(path)], needle))
    dup = folder / "dup.csv"
    dup.write_text("a,a,b\n" + "\n".join(f"{i},{i * 2 % 7},{i % 5}" for i in range(30)))
    out.append(("dup", [str(dup)], "'a'"))
    empty = folder / "empty.csv"
    empty.write_text("")
    out.append(("empty", [str(empty)], "empty"))
    out.append(("missing", [str(folder / "nope.csv")], "nope.csv"))
    good_path = folder / "good.csv"
    good.to_csv(good_path, index=False)
    preset = folder / "bad.toml"
    preset.write_text("[model]\nmax_clustrs = 2\n")
    out.append(("preset-key", [str(good_path), "--model", str(preset)], "max_clustrs"))
    out.append(("preset-name", [str(good_path), "--model", "nonesuch"], "nonesuch"))
    out.append(("types", [str(good_path), "--types", "a=nominal"], "nominal"))
    out.append(("method", [str(good_path), "--method", "mcmc"], "mcmc"))
    out.append(("chains", [str(good_path), "--method", "nuts", "--num-chains", "0"], "num_chains"))
    return out


def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    # in-process for speed; the subprocess path is covered by the next test
    for name, args, needle in _bad_inputs(tmp_path):
        out = tmp_path / f"out-{name}"
        code = main(["fit", *args, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bayes-hcl: error:"), (name, lines)
        assert needle in lines[0], (name, lines[0])
        assert not out.exists(), name


def test_method_names_are_case_insensitive(tmp_path, capsys):
    from bayes_hcl.cli import build_parser

    good = tmp_path / "good.csv"
    pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=list("abc")).to_csv(
        good, index=False
    )
    args = build_parser().parse_args(["fit", str(good), "--out", "o", "--method", "NUTS"])
    assert args.method == "nuts"
    # each is refused before any fit, by the rules of the lower-case method it names
    cases = [
        (["--method", "NUTS", "--num-chains", "0"], "num_chains must be a positive integer"),
        (
            ["--method", "Svi", "--num-warmup", "5"],
            "num_warmup apply to method='nuts' or 'gibbs' only",
        ),
        (["--method", "MCMC"], "method 'mcmc' is not available; choose one of svi, nuts"),
    ]
    for extra, needle in cases:
        out = tmp_path / "out"
        code = main(["fit", str(good), "--out", str(out), *extra])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and needle in lines[0], (extra, lines)
        assert not out.exists()


def test_bad_input_in_subprocess_has_no_traceback(tmp_path):
    csv = tmp_path / "nan.csv"
    csv.write_text("a,b\n1,2\n" + "\n".join(f"{i},{i % 3}" for i in range(20)) + "\n,4\n")
    proc = run_cli("fit", str(csv), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "'a'" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_usage_error_is_exit_2():
    proc = run_cli("fit")
    assert proc.returncode == 2 and "bayes-hcl: error:" in proc.stderr
    proc = run_cli("bench", "--suite", "nope")
    assert proc.returncode == 2 and "invalid choice: 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bench_suites_offered_are_the_suites_run():
    from bayes_hcl.bench.registry import SUITE_TABLE
    from bayes_hcl.cli import build_parser

    bench = build_parser()._subparsers._group_actions[0].choices["bench"]
    (suite,) = [a for a in bench._actions if a.dest == "suite"]
    assert list(suite.choices) == [s.name for s in SUITE_TABLE]
    assert all(s.name in bench.epilog for s in SUITE_TABLE)  # listed in `bench --help`


def test_demo_runs_and_compares_with_truth():
    proc = run_cli("demo", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "adjusted Rand index vs truth" in proc.stdout
    # the true parameters' ARI is a reference on this sample, not a bound (issue #21)
    assert "what the true parameters give on this sample" in proc.stdout
    assert "can exceed it by chance" in proc.stdout
    assert "pooled graph vs truth" in proc.stdout


@pytest.mark.slow  # NUTS through the API is in test_nuts.py; this checks the CLI's files
def test_fit_by_nuts_writes_convergence(fitted_dir):
    out = fitted_dir / "nuts"
    proc = run_cli(
        "fit",
        str(fitted_dir / "data.csv"),
        "--out",
        str(out),
        "--method",
        "nuts",
        "--max-clusters",
        "3",
        "--num-steps",
        "400",
        "--num-warmup",
        "60",
        "--num-samples",
        "60",
        "--num-chains",
        "2",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    conv = summary["convergence"]
    assert summary["method"] == "nuts" and conv["num_chains"] == 2 and conv["num_draws"] == 60
    assert {"log_likelihood", "n_clusters", "partition_ari"} == set(conv["quantities"])
    assert summary["config"]["nuts"]["num_warmup"] == 60
    result = bh.load_result(out / "posterior.nc")
    assert result.method == "nuts" and result.to_arviz().posterior.sizes["chain"] == 2


def _refuse(name: str):
    raise AssertionError(f"{name} is not JSON")


def test_noise_option_reaches_the_fit_and_gibbs_names_it(tmp_path, capsys):
    from bayes_hcl.cli import build_parser
    from bayes_hcl.cli.commands import _fit_options

    good = tmp_path / "good.csv"
    pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=list("abc")).to_csv(
        good, index=False
    )
    args = build_parser().parse_args(["fit", str(good), "--out", "o", "--noise", "gaussian"])
    assert _fit_options(args)["noise"] == "gaussian"
    assert (
        _fit_options(build_parser().parse_args(["fit", str(good), "--out", "o"]))["noise"] is None
    )
    with pytest.raises(DataError, match="invalid choice: 'cauchy'"):
        build_parser().parse_args(["fit", str(good), "--out", "o", "--noise", "cauchy"])
    # the default noise law is one the Gibbs sampler refuses, in one line naming the option
    out = tmp_path / "out"
    code = main(["fit", str(good), "--out", str(out), "--method", "gibbs"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--noise gaussian" in lines[0], lines
    assert not out.exists()
