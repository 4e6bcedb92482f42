"""The identifiability diagnostic (``docs/identifiability.md``): the report object, the rules
that fill it and the orientation evidence they read."""

from __future__ import annotations

from bayes_hcl.results.identifiability.inputs import IdentifiabilityInputs
from bayes_hcl.results.identifiability.report import IdentifiabilityReport
from bayes_hcl.results.identifiability.rules import identifiability_report

__all__ = [
    "IdentifiabilityInputs",
    "IdentifiabilityReport",
    "identifiability_report",
]
