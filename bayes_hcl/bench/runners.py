"""One runner per row of the suite table (:mod:`bayes_hcl.bench.registry`).

A runner takes the :class:`~bayes_hcl.bench.registry.SuiteOptions` of ``bayes-hcl bench``,
runs its suite's functions, writes the suite's files into ``options.out`` and returns the
table the command line prints. The file names written here are the benchmark's output
contract (``docs/cli.md``).
"""

from __future__ import annotations

import json

import pandas as pd

from bayes_hcl.bench.calibration import run_calibration, run_exact, run_nuts_speed
from bayes_hcl.bench.cells import run_single_cell
from bayes_hcl.bench.factors import run_factor_runtime, run_factors
from bayes_hcl.bench.registry import SuiteOptions
from bayes_hcl.bench.sachs import run_sachs
from bayes_hcl.bench.scaling import (
    cost_model,
    run_ges_ratio,
    run_minibatch,
    run_scaling,
    run_speed,
)
from bayes_hcl.bench.suites import SETTINGS, median_table, run_identifiability, run_settings

__all__ = [
    "calibration_suite",
    "exact_suite",
    "factors_suite",
    "ges_ratio_suite",
    "identifiability_suite",
    "minibatch_suite",
    "nuts_speed_suite",
    "sachs_suite",
    "scaling_suite",
    "settings_suite",
    "single_cell_suite",
    "speed_suite",
]


def settings_suite(options: SuiteOptions) -> pd.DataFrame:
    """``quick``, ``full``, ``mixed``: the suite's settings; medians over seeds.

    Writes ``results.csv`` and ``results.json`` (one row per setting, seed and method).
    """
    rows = run_settings(SETTINGS[options.suite], options.repeats, options.baselines, options.log)
    raw = pd.DataFrame(rows)
    options.write_csv("results.csv", raw)
    options.write_json("results.json", rows)
    return median_table(raw)


def identifiability_suite(options: SuiteOptions) -> pd.DataFrame:
    """``identifiability``: writes ``identifiability.csv`` and the totals' ``.json``."""
    raw, totals = run_identifiability(options.seeds, options.log)
    options.write_csv("identifiability.csv", raw)
    options.write_json("identifiability.json", totals)
    options.echo(json.dumps(totals))
    return raw


def sachs_suite(options: SuiteOptions) -> pd.DataFrame:
    """``sachs``: presets ``hcl`` and ``heavy_tailed`` (and baselines); ``sachs.csv``."""
    presets = ("hcl", "heavy_tailed")
    table = pd.concat([run_sachs(s, presets, options.baselines) for s in range(options.seeds)])
    options.write_csv("sachs.csv", table)
    return table


def single_cell_suite(options: SuiteOptions) -> pd.DataFrame:
    """``single-cell``: one data set per seed; writes ``single_cell.csv``."""
    seeds = range(options.seeds)
    table = pd.concat([run_single_cell(s, options.baselines, options.log) for s in seeds])
    options.write_csv("single_cell.csv", table)
    return table


def scaling_suite(options: SuiteOptions) -> pd.DataFrame:
    """``scaling``: writes ``scaling.csv`` and its ``cost_model.csv``."""
    table = run_scaling(options.repeats, log=options.echo)
    options.write_csv("scaling.csv", table)
    options.write_csv("cost_model.csv", cost_model(table))
    return table


def minibatch_suite(options: SuiteOptions) -> pd.DataFrame:
    """``minibatch``: writes ``minibatch.csv``."""
    table = run_minibatch(options.repeats, log=options.echo)
    options.write_csv("minibatch.csv", table)
    return table


def ges_ratio_suite(options: SuiteOptions) -> pd.DataFrame:
    """``ges-ratio``: writes ``ges-ratio.csv``."""
    table = run_ges_ratio()
    options.write_csv("ges-ratio.csv", table)
    return table


def speed_suite(options: SuiteOptions) -> pd.DataFrame:
    """``speed``: at least 3 cold fits, then warm refits; writes ``speed.csv``."""
    table = run_speed(repeats=max(options.repeats, 3))
    options.write_csv("speed.csv", table)
    return table


def factors_suite(options: SuiteOptions) -> pd.DataFrame:
    """``factors``: writes ``factors.csv`` and ``factors_runtime.csv``."""
    table = run_factors(options.seeds, log=options.echo)
    runtime = run_factor_runtime(log=options.echo)
    options.write_csv("factors.csv", table)
    options.write_csv("factors_runtime.csv", runtime)
    return table


def exact_suite(options: SuiteOptions) -> pd.DataFrame:
    """``exact``: seeds ``0..repeats-1``; writes ``exact.csv``."""
    table = run_exact(seeds=tuple(range(options.seeds)))
    options.write_csv("exact.csv", table)
    return table


def calibration_suite(options: SuiteOptions) -> pd.DataFrame:
    """``calibration``: 50 x ``repeats`` datasets; ``calibration.csv`` and ``.json``."""
    table, figures = run_calibration(num_datasets=50 * options.seeds, log=options.echo)
    options.write_csv("calibration.csv", table)
    options.write_json("calibration.json", figures)
    shown = {k: v for k, v in figures.items() if k != "config"}
    options.echo(json.dumps(shown, default=float))
    return table


def nuts_speed_suite(options: SuiteOptions) -> pd.DataFrame:
    """``nuts-speed``: one NUTS fit per seed; writes ``nuts-speed.csv``."""
    rows = [run_nuts_speed(seed=s, log=options.echo) for s in range(options.seeds)]
    table = pd.DataFrame(rows)
    options.write_csv("nuts-speed.csv", table)
    return table
