"""Ground-truth generators: heterogeneous linear SEMs, single-cell-like counts, and data with
several independent hidden factors."""

from __future__ import annotations

from bayes_hcl.simulate.cells import simulate_single_cell
from bayes_hcl.simulate.factors import FactorData, simulate_factors
from bayes_hcl.simulate.sem import NOISE_KINDS, SimulatedData, simulate

__all__ = [
    "NOISE_KINDS",
    "FactorData",
    "SimulatedData",
    "simulate",
    "simulate_factors",
    "simulate_single_cell",
]
