"""Results layer: :class:`HCLResult` and every readout of a posterior (summaries, factors,
convergence, identifiability), and result files."""

from __future__ import annotations

from bayes_hcl.results.facade import HCLResult, load_result
from bayes_hcl.results.io.posterior import build_inference_data

__all__ = [
    "HCLResult",
    "build_inference_data",
    "load_result",
]
