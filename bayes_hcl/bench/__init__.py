"""Benchmarks (``bayes-hcl bench``): the suite registry, baselines, suites, calibration and
exact enumeration."""

from __future__ import annotations

from bayes_hcl.bench.suites import (
    SETTINGS,
    Setting,
    identified_scores,
    run_bench,
    run_identifiability,
    run_sachs,
    run_setting,
)

__all__ = [
    "SETTINGS",
    "Setting",
    "identified_scores",
    "run_bench",
    "run_identifiability",
    "run_sachs",
    "run_setting",
]
