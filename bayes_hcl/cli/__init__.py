"""The command line ``bayes-hcl``: argument parser, commands, atomic outputs and the demo."""

from __future__ import annotations

from bayes_hcl.cli.commands import BENCH_SUITES, build_parser, main
from bayes_hcl.cli.outputs import write_outputs

__all__ = [
    "BENCH_SUITES",
    "build_parser",
    "main",
    "write_outputs",
]
