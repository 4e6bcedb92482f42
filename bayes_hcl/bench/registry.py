"""The suites of ``bayes-hcl bench``: one table, readable without starting JAX.

Each row of :data:`SUITE_TABLE` names a suite, says in one line what it measures and gives
the dotted path of its runner, a function ``runner(options: SuiteOptions) -> DataFrame`` that
runs the suite, writes its files into ``options.out`` and returns the table the command line
prints. The path is a string, imported only when the suite runs, so this module imports
nothing of JAX, NumPyro or the model (an import-linter contract in ``pyproject.toml`` keeps it
so): the command line builds ``--suite``'s choices and help from it at no cost.

Adding a suite is one :class:`Suite` row here plus its runner (see
:mod:`bayes_hcl.bench.runners`).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayes_hcl.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SUITES", "SUITE_TABLE", "Suite", "SuiteOptions", "get_suite"]


@dataclass(frozen=True)
class SuiteOptions:
    """What ``bayes-hcl bench`` hands to a suite's runner.

    Parameters
    ----------
    suite : str
        The suite's name (one runner may serve several suites, e.g. ``quick`` and ``full``).
    out : Path, optional
        Folder for the suite's files; ``None`` writes nothing.
    repeats : int
        Seeds per setting (each suite says how it reads it).
    baselines : bool
        Run the GES baselines (needs the ``bench`` extra).
    log : callable, optional
        Called with a line per finished step (progress).
    """

    suite: str
    out: Path | None = None
    repeats: int = 1
    baselines: bool = True
    log: Callable[[str], None] | None = None

    @property
    def seeds(self) -> int:
        """``repeats``, at least 1: the seeds of a suite that always runs one."""
        return max(self.repeats, 1)

    @property
    def echo(self) -> Callable[[str], None]:
        """``log``, or ``print`` when none is given."""
        return self.log or print

    def write_csv(self, name: str, table: pd.DataFrame) -> None:
        """Write ``table`` to ``out/name`` without its index (nothing when ``out`` is None)."""
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            table.to_csv(self.out / name, index=False)

    def write_json(self, name: str, value: Any) -> None:
        """Write ``value`` as indented JSON to ``out/name`` (nothing when ``out`` is None)."""
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / name).write_text(json.dumps(value, indent=2, default=float))


@dataclass(frozen=True)
class Suite:
    """One row of the suite table.

    Parameters
    ----------
    name : str
        The name ``bayes-hcl bench --suite`` takes.
    description : str
        One line: what the suite runs and measures.
    runner : str
        Dotted path ``package.module.function`` of its runner, imported when it runs.
    """

    name: str
    description: str
    runner: str

    def load(self) -> Callable[[SuiteOptions], pd.DataFrame]:
        """Import the runner and return it.

        Returns
        -------
        callable
            ``runner(options)``, which runs the suite and returns its table.
        """
        module, _, function = self.runner.rpartition(".")
        return getattr(importlib.import_module(module), function)


#: Every suite of ``bayes-hcl bench``, in the order ``--help`` lists them.
SUITE_TABLE: tuple[Suite, ...] = (
    Suite(
        "quick",
        "one small setting (d = 5, K = 2) against the GES baselines",
        "bayes_hcl.bench.runners.settings_suite",
    ),
    Suite(
        "full",
        "d = 5, 10, 20 x K = 1, 2, 3, and four harder d = 10 settings",
        "bayes_hcl.bench.runners.settings_suite",
    ),
    Suite(
        "mixed",
        "the two mixed-type settings of full",
        "bayes_hcl.bench.runners.settings_suite",
    ),
    Suite(
        "speed",
        "cold fits in fresh processes, then warm refits (n = 2000)",
        "bayes_hcl.bench.runners.speed_suite",
    ),
    Suite(
        "scaling",
        "cold fits over n, d and K: time, memory, the cost model",
        "bayes_hcl.bench.runners.scaling_suite",
    ),
    Suite(
        "minibatch",
        "cold minibatch-SVI fits up to n = 10^6, beside full batch",
        "bayes_hcl.bench.runners.minibatch_suite",
    ),
    Suite(
        "ges-ratio",
        "bayes_hcl against pooled GES on the same data (d = 20)",
        "bayes_hcl.bench.runners.ges_ratio_suite",
    ),
    Suite(
        "identifiability",
        "full's settings, bayes_hcl only: identified edges right?",
        "bayes_hcl.bench.runners.identifiability_suite",
    ),
    Suite(
        "factors",
        "two latent factors against one; runtime for m = 1, 2, 3",
        "bayes_hcl.bench.runners.factors_suite",
    ),
    Suite(
        "sachs",
        "the Sachs data: presets hcl and heavy_tailed, and baselines",
        "bayes_hcl.bench.runners.sachs_suite",
    ),
    Suite(
        "single-cell",
        "single-cell-like counts: the single_cell preset vs lognorm",
        "bayes_hcl.bench.runners.single_cell_suite",
    ),
    Suite(
        "exact",
        "NUTS and SVI against exact enumeration (d = 3, 4)",
        "bayes_hcl.bench.runners.exact_suite",
    ),
    Suite(
        "calibration",
        "reliability and ECE of NUTS and SVI on data from the prior",
        "bayes_hcl.bench.runners.calibration_suite",
    ),
    Suite(
        "nuts-speed",
        "NUTS wall time and ESS per second (n = 2000, d = 10)",
        "bayes_hcl.bench.runners.nuts_speed_suite",
    ),
    Suite(
        "gibbs",
        "Gibbs against exact enumeration, mechanism change, speed",
        "bayes_hcl.bench.gibbs.gibbs_suite",
    ),
    Suite(
        "misspecified",
        "non-Gaussian noise and outliers, K = 1, 2: per noise family",
        "bayes_hcl.bench.misspecified.misspecified_suite",
    ),
)

#: The suites' names, in table order (the choices of ``bayes-hcl bench --suite``).
SUITES: tuple[str, ...] = tuple(suite.name for suite in SUITE_TABLE)


def get_suite(name: str) -> Suite:
    """The table's row for suite ``name``.

    Parameters
    ----------
    name : str
        A suite's name.

    Returns
    -------
    Suite
        Its row of :data:`SUITE_TABLE`.

    Raises
    ------
    ConfigError
        One line naming the unknown suite and listing the suites.
    """
    for suite in SUITE_TABLE:
        if suite.name == name:
            return suite
    raise ConfigError(f"unknown bench suite {name!r}; choose one of {', '.join(SUITES)}")
