"""Inference layer: SVI (:mod:`.svi`), NUTS (:mod:`.nuts`), Gibbs (:mod:`.gibbs`), the order
search (:mod:`.search`),
devices and label alignment. Every method returns a :class:`~bayes_hcl.inference.base.Fit`.

Adding an inference method: a subpackage with ``fit_<name>(data, config, *, seed, progress)``
returning an object with the :class:`Fit` protocol, and one row in :data:`FIT_METHODS`.
"""

from __future__ import annotations

from collections.abc import Callable

from bayes_hcl.inference.base import Fit, default_progress
from bayes_hcl.inference.devices import initialize_distributed
from bayes_hcl.inference.gibbs import GibbsFit, fit_gibbs
from bayes_hcl.inference.nuts import NUTSFit, fit_nuts
from bayes_hcl.inference.svi import SVIFit, fit_svi

#: Inference methods by name: what ``bayes_hcl.fit(method=...)`` and ``--method`` offer.
FIT_METHODS: dict[str, Callable[..., Fit]] = {
    "svi": fit_svi,
    "nuts": fit_nuts,
    "gibbs": fit_gibbs,
}

__all__ = [
    "FIT_METHODS",
    "Fit",
    "GibbsFit",
    "NUTSFit",
    "SVIFit",
    "default_progress",
    "fit_gibbs",
    "fit_nuts",
    "fit_svi",
    "initialize_distributed",
]
