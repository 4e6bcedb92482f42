"""Inference layer: SVI (:mod:`.svi`), NUTS (:mod:`.nuts`), the order search (:mod:`.search`),
devices and label alignment. Every method returns a :class:`~bayes_hcl.inference.base.Fit`."""

from __future__ import annotations

from bayes_hcl.inference.devices import initialize_distributed
from bayes_hcl.inference.nuts import NUTSFit, fit_nuts
from bayes_hcl.inference.svi import SVIFit, default_progress, fit_svi

__all__ = [
    "NUTSFit",
    "SVIFit",
    "default_progress",
    "fit_nuts",
    "fit_svi",
    "initialize_distributed",
]
