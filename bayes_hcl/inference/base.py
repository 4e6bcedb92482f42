"""What every inference method returns: the :class:`Fit` protocol the results layer reads.

An inference method is a function ``fit_<name>(data, config, *, seed, progress) -> Fit``
listed in :data:`bayes_hcl.inference.FIT_METHODS`; the results layer builds the posterior
from the protocol alone and never asks which method made it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

__all__ = ["ChainFit", "Fit", "default_progress"]


def default_progress() -> bool:
    """Progress bars are on, except under CI (environment variable ``CI`` set and true)."""
    return os.environ.get("CI", "").lower() not in {"1", "true", "yes"}


@runtime_checkable
class Fit(Protocol):
    """Raw output of an inference method, before it becomes an ``HCLResult``.

    Attributes
    ----------
    method : str
        The method's name (``"svi"``, ``"nuts"``), as recorded in results.
    draws : dict of str to ndarray
        Posterior draws, cluster axes aligned across draws (see :meth:`chain_draws`).
    restart_elbo, restart_weights : ndarray
        ``(R,)`` per restart (SVI) or per chain (NUTS): final ELBO or mean log joint, and
        the weight of its draws.
    elbo_history : ndarray
        ``(R, steps)`` ELBO or log joint trace of every restart or chain.
    restart_summary : dict of str to ndarray
        Per restart or chain: ``score``, ``order``, ``partition``, ``inclusion``,
        ``forced_one_cluster``, ``faults``.
    membership_mean : ndarray or None
        ``(n, K)`` mean memberships of a fit that keeps no per-draw memberships.
    batch_size : int
        Rows per SVI step (0: every row).
    devices : int
        Devices the rows were split over.
    timings : dict of str to float
        Seconds (and steps per second) of the fit's phases.
    """

    method: str
    draws: dict[str, np.ndarray]
    restart_elbo: np.ndarray
    restart_weights: np.ndarray
    elbo_history: np.ndarray
    restart_summary: dict[str, np.ndarray]
    membership_mean: np.ndarray | None
    batch_size: int
    devices: int
    timings: dict[str, float]

    def chain_draws(self) -> dict[str, np.ndarray]:
        """Draws with leading ``(chain, draw)`` axes."""
        ...

    def chain_stats(self) -> dict[str, np.ndarray]:
        """Per-draw statistics with leading ``(chain, draw)`` axes."""
        ...

    @property
    def evidence_fit(self) -> Any:
        """The fit whose restarts carry the evidence for the number of clusters (an SVI fit;
        a NUTS fit names the SVI fit it started from; ``None`` when there is none)."""
        ...


@dataclass
class ChainFit:
    """Raw output of a sampler that started from an SVI fit (NUTS, Gibbs): the
    :class:`Fit` protocol with chains in place of restarts.

    ``draws`` have leading ``(chain, draw)`` axes, ``elbo_history`` is each chain's log
    density (NUTS: the joint; Gibbs: the likelihood with memberships summed out) per draw,
    ``restart_summary`` holds each chain's mean order, partition and edge inclusion,
    ``sample_stats`` the sampler's per-transition statistics and ``svi`` the fit that
    initialised the chains. A subclass names its ``method`` and its ``label``.
    """

    draws: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    restart_elbo: np.ndarray
    restart_weights: np.ndarray
    elbo_history: np.ndarray
    restart_summary: dict[str, np.ndarray]
    svi: Any
    num_clusters: int
    timings: dict[str, float] = field(default_factory=dict)
    membership_mean: None = None
    batch_size: int = 0
    devices: int = 1
    method: ClassVar[str] = ""
    label: ClassVar[str] = ""  # the sampler's name in messages

    def chain_draws(self) -> dict[str, np.ndarray]:
        """Draws with their ``(chain, draw)`` axes."""
        return self.draws

    def chain_stats(self) -> dict[str, np.ndarray]:
        """The sampler's per-transition statistics, ``(chain, draw)``."""
        return self.sample_stats

    @property
    def evidence_fit(self) -> Any:
        """The SVI fit the chains started from (its restarts carry the evidence)."""
        return self.svi
