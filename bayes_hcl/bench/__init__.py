"""Benchmarks (``bayes-hcl bench``): the suite table, baselines, suites, calibration and
exact enumeration.

The names below are loaded on first use, so that ``bayes_hcl.bench.registry`` (the suite
table the command line reads) is imported without the suites, and without JAX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bayes_hcl.bench.registry import SUITES
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
    "SUITES",
    "Setting",
    "identified_scores",
    "run_bench",
    "run_identifiability",
    "run_sachs",
    "run_setting",
]

#: Public name -> the module that defines it.
_HOMES = {
    "SETTINGS": "bayes_hcl.bench.suites",
    "SUITES": "bayes_hcl.bench.registry",
    "Setting": "bayes_hcl.bench.suites",
    "identified_scores": "bayes_hcl.bench.suites",
    "run_bench": "bayes_hcl.bench.suites",
    "run_identifiability": "bayes_hcl.bench.suites",
    "run_sachs": "bayes_hcl.bench.suites",
    "run_setting": "bayes_hcl.bench.suites",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
