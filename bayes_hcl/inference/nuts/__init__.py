"""NUTS over the continuous latents given the causal order, with Metropolis order moves."""

from __future__ import annotations

from bayes_hcl.inference.nuts.driver import NUTSFit, fit_nuts

__all__ = [
    "NUTSFit",
    "fit_nuts",
]
