"""Ground-truth generators: heterogeneous linear SEMs, single-cell-like counts, and data with
several independent hidden factors.

Modules, each importing only those above it:

- :mod:`~bayes_hcl.simulate.draws`: random graphs, weights, noise, sizes, types and rows;
- :mod:`~bayes_hcl.simulate.densities`: the log-densities of those laws;
- :mod:`~bayes_hcl.simulate.layout`: causal positions to stored columns;
- :mod:`~bayes_hcl.simulate.truth`: :class:`SimulatedData`, the data and its truth;
- :mod:`~bayes_hcl.simulate.sem`, :mod:`~bayes_hcl.simulate.cells`,
  :mod:`~bayes_hcl.simulate.factors`: the three simulators.
"""

from __future__ import annotations

from bayes_hcl.simulate.cells import SingleCellData, simulate_single_cell
from bayes_hcl.simulate.draws import NOISE_KINDS
from bayes_hcl.simulate.factors import FactorData, simulate_factors
from bayes_hcl.simulate.sem import simulate
from bayes_hcl.simulate.truth import SimulatedData

__all__ = [
    "NOISE_KINDS",
    "FactorData",
    "SimulatedData",
    "SingleCellData",
    "simulate",
    "simulate_factors",
    "simulate_single_cell",
]
