"""The posterior arrays of a fit, as every readout reads them.

:class:`PosteriorDraws` wraps the ``InferenceData`` of a fit: its metadata decoded, its
draws with chain and draw stacked, the mean memberships, and the rows an occupied cluster
must hold. :class:`~bayes_hcl.results.HCLResult` and
:class:`~bayes_hcl.results.factors.FactorReadout` are both built on it, so neither reads
the other's internals.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np

from bayes_hcl.config import Config, min_cluster_size
from bayes_hcl.results.io.posterior import decode_attr

__all__ = ["PosteriorDraws"]


class PosteriorDraws:
    """Read-only access to a fit's posterior draws and metadata.

    Parameters
    ----------
    idata : arviz.InferenceData or xarray.DataTree
        As built by :func:`~bayes_hcl.results.io.posterior.build_inference_data` (or read
        from a result file).

    Attributes
    ----------
    meta : dict
        The fit's metadata (version, seed, method, config, data scalers, timings), decoded.
    config : Config
        The configuration the fit ran with.
    columns, types : list of str
        Variable names and their types.
    seed : int
    method : str
    """

    def __init__(self, idata) -> None:
        self.idata = idata
        attrs = idata.posterior.attrs
        self.meta: dict[str, Any] = {k: decode_attr(v) for k, v in attrs.items()}
        self.config = Config.from_dict(self.meta["config"])
        self.columns: list[str] = list(self.meta["data"]["columns"])
        self.types: list[str] = list(self.meta["data"]["types"])
        self.seed: int = int(self.meta["seed"])
        self.method: str = str(self.meta["method"])

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable with chain and draw stacked into one axis."""
        value = self.idata.posterior[name].values
        return value.reshape((-1, *value.shape[2:]))

    def has(self, name: str) -> bool:
        """Whether the posterior holds a variable called ``name``."""
        return name in self.idata.posterior

    @property
    def compact(self) -> bool:
        """Whether the fit was by minibatches and keeps mean memberships and per-draw
        cluster sizes instead of per-draw memberships (see
        :mod:`bayes_hcl.inference.svi.minibatch`)."""
        return self.has("cluster_size")

    def mean_membership(self) -> np.ndarray:
        """``(n, K)`` posterior mean membership of every row in every cluster."""
        if self.compact:
            return self.idata["memberships"]["mean"].values.astype(np.float64)
        return self.draws("membership").mean(0)

    @cached_property
    def min_size(self) -> int:
        """Rows an occupied cluster must hold: the share below which the fit prunes."""
        n = self.idata.observed_data.sizes["obs"]
        return min_cluster_size(n, self.config.svi.prune_fraction)

    @property
    def levels(self) -> dict[str, list]:
        """Levels of every categorical or ordinal variable (``{}`` when there are none)."""
        return self.meta["data"].get("levels", {})
