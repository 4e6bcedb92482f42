"""Stochastic variational inference: the driver, its compiled programs, minibatches and the
warm start."""

from __future__ import annotations

from bayes_hcl.inference.svi.driver import SVIFit, default_progress, fit_svi

__all__ = [
    "SVIFit",
    "default_progress",
    "fit_svi",
]
