"""Figures and the HTML report. Functions here read a result through its public readouts only
(any object with :class:`~bayes_hcl.results.HCLResult`'s methods) and import nothing else of
the package."""

from __future__ import annotations

from bayes_hcl.viz.report import render_report, write_report

__all__ = [
    "render_report",
    "write_report",
]
