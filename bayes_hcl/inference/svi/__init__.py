"""Stochastic variational inference: the driver, its compiled programs, feeds (all rows or
minibatches), restarts, fault recovery and the warm start."""

from __future__ import annotations

from bayes_hcl.inference.svi.driver import SVIFit, fit_svi

__all__ = ["SVIFit", "fit_svi"]
