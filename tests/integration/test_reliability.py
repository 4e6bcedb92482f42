"""Issue #8 so far: inputs that used to slip through or crash, and result files."""

import copy
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import bayes_hcl as bh
from bayes_hcl.errors import ConfigError
from bayes_hcl.results.io.posterior import RESULT_FORMAT
from tests.conftest import SMALL_FIT


def test_a_table_of_ten_rows_fits_with_many_spare_clusters():
    # ten rows over eight clusters left no cluster with two rows' worth of membership at
    # the order search, which then indexed an empty array (IndexError from deep inside)
    data = bh.simulate(5, d=3, seed=0).data
    result = bh.fit(data, seed=0, num_steps=100, num_restarts=2, num_samples=20, progress=False)
    probs = result.edge_probabilities().to_numpy()
    assert np.isfinite(probs).all() and len(result.clusters()) == 10


def test_a_typo_in_a_numeric_csv_column_is_refused_not_made_categorical(tmp_path):
    df = bh.simulate(20, d=3, seed=0).data.round(3).astype(object)
    df.iloc[3, 1] = "abc"
    df.to_csv(tmp_path / "typo.csv", index=False)
    message = r"column 'X1' holds numbers and text \('abc' in row 3\)"
    with pytest.raises(bh.DataError, match=message):
        bh.prepare(tmp_path / "typo.csv")
    with pytest.raises(bh.DataError, match="holds numbers and text"):
        bh.describe_types(pd.read_csv(tmp_path / "typo.csv"))
    # declared categorical, it is one (every distinct value a level, if few enough)
    small = pd.DataFrame({"g": ["1", "2", "x"] * 10, "y": np.arange(30.0) % 7})
    assert bh.prepare(small, types={"g": "categorical"}).types[0] == "categorical"


def test_text_levels_that_are_not_mostly_numbers_stay_categorical():
    df = pd.DataFrame({"g": ["low", "mid", "high", "7"] * 10, "y": np.arange(40.0) % 9})
    assert bh.prepare(df).types[0] == "categorical"


def test_a_bad_preset_value_is_refused_even_when_overridden(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[svi]\nnum_steps = "many"\n')
    with pytest.raises(bh.ConfigError, match=r"svi\.num_steps in preset 'bad' must be int"):
        bh.load_config(path, svi_overrides={"num_steps": 50})


def test_empty_column_names_are_refused(tmp_path):
    (tmp_path / "blank.csv").write_text(",b,c\n1,2,3\n4,5,6\n")
    with pytest.raises(bh.DataError, match=r"empty column name \(column 1 of the header\)"):
        bh.prepare(tmp_path / "blank.csv")
    frame = pd.DataFrame(np.arange(12.0).reshape(4, 3), columns=["a", " ", "c"])
    with pytest.raises(bh.DataError, match=r"column 2 \(counting from 1\) has an empty name"):
        bh.prepare(frame)


def test_versions_record_the_platform():
    info = bh.versions()
    assert {"python", "platform", "bayes_hcl", "jax", "numpyro"} <= set(info)
    assert info["platform"] and info["platform"] != "unknown"


def test_result_files_of_another_kind_or_a_later_format_are_refused(small_fit, tmp_path):
    assert json.loads(small_fit.idata.posterior.attrs["format"]) == RESULT_FORMAT
    (tmp_path / "noise.nc").write_bytes(b"\x89PNG not a netCDF file")
    with pytest.raises(bh.DataError, match=r"is not a result written by HCLResult\.save"):
        bh.load_result(tmp_path / "noise.nc")
    xr.Dataset({"a": ("x", np.arange(3))}).to_netcdf(tmp_path / "other.nc")
    with pytest.raises(bh.DataError, match="holds no bayes_hcl result"):
        bh.load_result(tmp_path / "other.nc")
    small_fit.save(tmp_path / "fit.nc")
    later = bh.load_result(tmp_path / "fit.nc").idata
    later.posterior.attrs["format"] = str(RESULT_FORMAT + 1)
    later.to_netcdf(str(tmp_path / "later.nc"))
    with pytest.raises(bh.DataError, match=f"result format {RESULT_FORMAT + 1}; this version"):
        bh.load_result(tmp_path / "later.nc")


def test_a_file_with_another_separator_gets_a_hint(tmp_path):
    (tmp_path / "semi.csv").write_text("a;b;c\n1;2;3\n4;5;6\n")
    with pytest.raises(bh.DataError, match="is the file separated by ';'"):
        bh.prepare(tmp_path / "semi.csv")


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            KeyboardInterrupt(),
            130,
            "bayes-hcl: interrupted; outputs are moved into --out only once complete",
        ),
        (
            FloatingPointError("every SVI restart ended with a non-finite ELBO"),
            1,
            "bayes-hcl: numerical failure: every SVI restart ended with a non-finite ELBO",
        ),
    ],
)
def test_cli_stops_cleanly_on_interrupt_and_numerical_failure(
    monkeypatch, capsys, tmp_path, error, code, message
):
    from bayes_hcl.cli import commands as cli

    def fail(args):
        raise error

    monkeypatch.setitem(cli._COMMANDS, "fit", fail)
    assert cli.main(["fit", "data.csv", "--out", str(tmp_path / "out")]) == code
    assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "out").exists()


def _poison_chunks(monkeypatch, which):
    """Make chosen restarts' chunk ELBOs non-finite: ``which(call, restarts)`` lists them."""
    import jax.numpy as jnp

    from bayes_hcl.inference.svi.programs import Programs

    original = Programs.run_chunk
    calls = {"n": 0}

    def run_chunk(self, states, step0, active, args, rates, scale):
        states, loss = original(self, states, step0, active, args, rates, scale)
        calls["n"] += 1
        rows = which(calls["n"], loss.shape[0])
        if rows:
            loss = loss.at[jnp.asarray(rows), 5].set(jnp.nan)
        return states, loss

    monkeypatch.setattr(Programs, "run_chunk", run_chunk)


# the shared fixture's settings (its compiled programs serve: the step count is not compiled in)
FAULT_FIT = {**SMALL_FIT, "num_steps": 300}


def test_a_restart_that_goes_non_finite_is_rolled_back_and_the_fit_goes_on(monkeypatch, small_sim):
    _poison_chunks(monkeypatch, lambda call, restarts: [1] if call == 3 else [])
    with pytest.warns(bh.ConvergenceWarning, match=r"SVI restarts \[1\] met a non-finite ELBO"):
        result = bh.fit(small_sim.data, seed=0, progress=False, **FAULT_FIT)
    assert result.idata["restarts"]["faults"].values.tolist() == [0, 1, 0, 0]
    assert np.isfinite(result.edge_probabilities().to_numpy()).all()
    assert np.isfinite(result.memberships().to_numpy()).all()


def test_restarts_that_keep_failing_are_given_up_and_all_failing_is_one_error(
    monkeypatch, small_sim
):
    _poison_chunks(monkeypatch, lambda call, restarts: [0])
    with pytest.warns(bh.ConvergenceWarning, match=r"restarts given up: \[0\]"):
        result = bh.fit(small_sim.data, seed=0, progress=False, **FAULT_FIT)
    assert result.idata["restarts"]["weight"].values[0] == 0.0
    assert np.isfinite(result.edge_probabilities().to_numpy()).all()
    _poison_chunks(monkeypatch, lambda call, restarts: list(range(restarts)))
    with pytest.raises(FloatingPointError, match="every SVI restart met a non-finite ELBO"):
        bh.fit(small_sim.data, seed=0, progress=False, **FAULT_FIT)


# ------------------------------------------------------------------ any table at all

_CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 5),
    st.booleans(),
    st.none(),
    st.text(max_size=4),
    st.sampled_from(["1.5", "abc", "", "nan", "inf", "x", "y"]),
)


@st.composite
def messy_frames(draw) -> pd.DataFrame:
    """Tables as users bring them: mostly usable columns, some messy cells or names, some
    sizes too small (drawn often enough that each kind of problem meets a usable rest)."""
    n = draw(st.sampled_from([12, 20, 25, 30, 0, 1, 5, 9]))
    d = draw(st.sampled_from([2, 3, 4, 2, 3, 0, 1]))
    if draw(st.sampled_from(["plain", "plain", "plain", "odd"])) == "plain":
        names = [f"c{j}" for j in range(d)]
    else:
        name = st.one_of(st.text(max_size=3), st.sampled_from(["a", "a", "b"]))
        names = draw(st.lists(name, min_size=d, max_size=d))
    columns = []
    for _ in range(d):
        kind = draw(st.sampled_from(["floats", "floats", "ints", "text", "cells", "constant"]))
        if kind == "floats":
            cell = st.floats(-1e3, 1e3, allow_nan=False)
        elif kind == "ints":
            cell = st.integers(0, 9)
        elif kind == "constant":
            cell = st.just(draw(_CELLS))
        elif kind == "text":
            cell = st.sampled_from(["lo", "mid", "hi"])
        else:
            cell = _CELLS
        columns.append(draw(st.lists(cell, min_size=n, max_size=n)))
    frame = pd.DataFrame(dict(enumerate(columns)), index=range(n))
    frame.columns = names
    return frame


PROPERTY_EXAMPLES = 300


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(messy_frames(), st.sampled_from(["error", "mask"]))
def test_any_table_is_prepared_or_refused_with_the_packages_own_error(frame, missing):
    try:
        data = bh.prepare(frame, missing=missing)
    except (bh.DataError, bh.ConfigError) as err:
        message = str(err)
        assert message and "\n" not in message  # one line
        return
    assert np.isfinite(data.x).all() and np.isfinite(data.offset).all()
    assert data.n == len(frame) and data.d == frame.shape[1]


def test_a_csv_saved_with_its_row_index_gets_a_hint(tmp_path):
    bh.simulate(10, d=3, seed=0).data.to_csv(tmp_path / "indexed.csv")  # index=True
    with pytest.raises(bh.DataError, match=r"a saved row index\? write the file with index=False"):
        bh.prepare(tmp_path / "indexed.csv")


def test_half_numbers_half_words_stays_categorical():
    df = pd.DataFrame({"g": ["a", "b", "1", "2"] * 8, "y": np.arange(32.0) % 5})
    assert bh.prepare(df).types[0] == "categorical"


def test_distributed_options_alone_or_a_failed_join_are_one_line_errors(capsys, tmp_path):
    from bayes_hcl.cli import commands as cli

    out = str(tmp_path / "out")
    assert cli.main(["fit", "d.csv", "--out", out, "--process-id", "1"]) == 2
    assert "--process-id applies only with --distributed" in capsys.readouterr().err


def test_a_masked_fit_after_an_unmasked_one_reuses_nothing_it_cannot():
    # minibatch programs are shared whatever the number of rows; whether cells are missing
    # changes their arguments (the options of test_minibatch's trace test: programs reused)
    data = bh.simulate(61, d=3, seed=1).data
    options = {"num_steps": 100, "num_restarts": 2, "num_samples": 20, "batch_size": 48}
    bh.fit(data, seed=0, progress=False, **options)
    data.iloc[4, 1] = np.nan
    masked = bh.fit(data, seed=0, progress=False, missing="mask", **options)
    assert masked.missing_cells() == {data.columns[1]: 1}


# ------------------------------------------------------------------ any table through fit

_FAMILIES = ("normal", "student1", "lognormal", "uniform", "rounded")


@st.composite
def fit_frames(draw) -> pd.DataFrame:
    """40 rows of one continuous, one binary and one count column with values of any
    scale and tail, ties, outliers and near-constant stretches (the column kinds stay
    fixed, so every example runs the same compiled programs)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = 40
    family = draw(st.sampled_from(_FAMILIES))
    scale = 10.0 ** draw(st.integers(-6, 12))
    base = {
        "normal": rng.normal(size=n),
        "student1": rng.standard_t(1, size=n),
        "lognormal": rng.lognormal(0, 3, size=n),
        "uniform": rng.uniform(size=n),
        "rounded": rng.normal(size=n).round(),
    }[family]
    cont = base * scale + draw(st.floats(-1e9, 1e9))
    if draw(st.booleans()):
        cont[: draw(st.integers(1, n - 2))] = cont[0]  # a long run of one value
    binary = (rng.uniform(size=n) < draw(st.floats(0.03, 0.97))).astype(int)
    lam = 10.0 ** draw(st.floats(-1, 6))
    count = rng.poisson(lam, size=n)
    frame = pd.DataFrame({"cont": cont, "flag": binary, "count": count})
    if draw(st.booleans()):
        frame = frame[["count", "cont", "flag"]]  # any column order
    return frame


FIT_PROPERTY_EXAMPLES = 6  # about 3 s each; the slow variant below runs 60
_TINY_FIT = {"num_steps": 100, "num_restarts": 2, "num_samples": 20, "max_clusters": 2}


@settings(max_examples=FIT_PROPERTY_EXAMPLES, deadline=None)
@given(fit_frames())
def test_any_such_table_fits_with_finite_probabilities_or_is_refused(frame):
    _fits_or_is_refused(frame)


@pytest.mark.slow
@settings(max_examples=10 * FIT_PROPERTY_EXAMPLES, deadline=None)
@given(fit_frames())
def test_many_such_tables_fit_with_finite_probabilities_or_are_refused(frame):
    _fits_or_is_refused(frame)


def _fits_or_is_refused(frame):
    types = {"cont": "continuous", "flag": "binary", "count": "count"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence of 100 steps is not the point
            result = bh.fit(frame, types=types, seed=0, progress=False, **_TINY_FIT)
    except (bh.DataError, bh.ConfigError) as err:
        assert str(err) and "\n" not in str(err)
        return
    for table in (result.edge_probabilities(), result.memberships(), result.n_clusters()):
        values = np.asarray(table, dtype=float)
        assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1 + 1e-9).all()
    assert len(result.clusters()) == len(frame)


# ------------------------------------------------------------------ nothing lost


def test_save_writes_beside_and_renames_so_an_interrupted_save_keeps_the_old_file(
    small_fit, tmp_path, monkeypatch
):
    from bayes_hcl.results.io import arviz_io

    path = tmp_path / "fit.nc"
    small_fit.save(path)
    before = path.read_bytes()

    def interrupted(data, target):
        with open(target, "wb") as f:
            f.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(arviz_io, "write_netcdf", interrupted)
    with pytest.raises(KeyboardInterrupt):
        small_fit.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["fit.nc"]  # no temporary file left


def test_cli_out_is_replaced_whole_or_not_at_all(small_fit, tmp_path, monkeypatch, capsys):
    from bayes_hcl import api
    from bayes_hcl.cli import commands as cli

    fitted = bh.HCLResult(copy.deepcopy(small_fit.idata))  # the CLI records its command on it
    monkeypatch.setattr(api, "fit", lambda *a, **k: fitted)
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"old": true}')
    (out / "clusters").mkdir()
    (out / "clusters" / "7").mkdir()
    real_write = cli.write_outputs

    def interrupted(result, folder, extra):
        folder.mkdir(parents=True)
        (folder / "edge_probabilities.csv").write_text("partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "write_outputs", interrupted)
    assert cli.main(["fit", "d.csv", "--out", str(out)]) == 130
    assert sorted(p.name for p in out.iterdir()) == ["clusters", "summary.json"]
    assert (out / "summary.json").read_text() == '{"old": true}'
    monkeypatch.setattr(cli, "write_outputs", real_write)
    assert cli.main(["fit", "d.csv", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == small_fit.seed
    clusters = {p.name for p in (out / "clusters").iterdir()}
    assert clusters == {str(k) for k in small_fit.occupied_clusters()}  # old cluster 7 gone
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # nothing left beside it
    capsys.readouterr()


def test_cli_refuses_an_out_folder_holding_other_files_before_fitting(
    tmp_path, monkeypatch, capsys
):
    from bayes_hcl import api
    from bayes_hcl.cli import commands as cli

    def never(*args, **kwargs):
        raise AssertionError("fit ran")

    monkeypatch.setattr(api, "fit", never)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert cli.main(["fit", "d.csv", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already holds files bayes-hcl did not write ('thesis.tex')" in err
    assert (out / "thesis.tex").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    assert cli.main(["fit", "d.csv", "--out", str(tmp_path / "file")]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err


def test_a_fit_folder_with_its_report_may_be_fitted_again(tmp_path):
    """The README's quick start writes report.html into the fit folder; running it again in
    the same place replaces the folder (its stale report too) instead of refusing."""
    from bayes_hcl.cli.outputs import check_out_folder

    out = tmp_path / "results"
    (out / "clusters" / "0").mkdir(parents=True)
    for name in ("summary.json", "memberships.csv", "report.html"):
        (out / name).write_text("{}")
    check_out_folder(out)  # no error
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"'notes\.txt'"):
        check_out_folder(out)


def test_huge_counts_are_fitted_with_a_warning():
    frame = pd.DataFrame({"a": np.linspace(0, 1, 30), "b": np.r_[np.arange(29), 2**63 - 1]})
    with pytest.warns(UserWarning, match=r"column 'b' holds counts up to 9\.22e\+18, beyond 2\^24"):
        data = bh.prepare(frame)
    assert data.types == ("continuous", "count") and np.isfinite(data.x).all()


def test_nuts_draws_with_a_non_finite_value_are_refused():
    from bayes_hcl.inference.nuts.driver import check_finite_draws

    draws = {"phi": np.zeros((2, 5, 3)), "W": np.zeros((2, 5, 1, 3, 3))}
    check_finite_draws(draws)
    draws["W"][1, 3, 0, 1, 2] = np.nan
    with pytest.raises(FloatingPointError, match="NUTS chain 1 produced non-finite values of 'W'"):
        check_finite_draws(draws)


def test_a_replacement_that_fails_puts_the_previous_outputs_back(tmp_path, monkeypatch):
    import os

    from bayes_hcl.cli import outputs

    out, new = tmp_path / "out", tmp_path / "new"
    out.mkdir()
    (out / "summary.json").write_text("old")
    new.mkdir()
    (new / "summary.json").write_text("new")
    real_replace = os.replace

    def failing(src, dst):
        if str(src) == str(new):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", failing)
    with pytest.raises(OSError, match="disk full"):
        outputs.replace_folder(new, out)
    assert (out / "summary.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "out"]
    # files that appear in --out during a fit are kept; the new outputs go beside
    monkeypatch.setattr(outputs.os, "replace", real_replace)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(bh.ConfigError, match="received files bayes-hcl did not write"):
        outputs.replace_folder(new, out)
    assert (out / "notes.txt").read_text() == "mine"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("out.new.")]
    assert len(kept) == 1 and (kept[0] / "out" / "summary.json").read_text() == "new"


def test_a_saved_result_has_ordinary_file_permissions(small_fit, tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        small_fit.save(tmp_path / "fit.nc")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "fit.nc").st_mode) == 0o644
