"""Bundled real data with known structure: the Sachs et al. (2005) flow-cytometry data.

The files ship inside the package (``bayes_hcl/_data/sachs``, with their provenance and
licence note in ``README.md`` there): 7,466 single T cells, 11 phosphorylated proteins and
lipids, 9 experimental conditions, the targets of each condition's reagent, and the widely
used 17-edge consensus network. Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["SachsData", "load_sachs"]

_SACHS = ("_data", "sachs")


@dataclass(frozen=True)
class SachsData:
    """The Sachs data with its labels and reference network.

    Attributes
    ----------
    data : DataFrame
        ``7466 × 11`` measurements (natural log of the raw intensities unless
        ``load_sachs(log=False)``), columns Raf, Mek, Plcg, PIP2, PIP3, Erk, Akt, PKA, PKC, P38,
        Jnk.
    conditions : Series
        The experimental condition of every row (categorical, 9 levels). Not given to the
        model: it is what its clusters can be compared with.
    condition_table : DataFrame
        One row per condition: ``condition_id``, ``condition``, ``n_cells``, ``targets``
        (tuple of variables its reagent acts on, empty for the two stimulation-only
        conditions), ``description``.
    consensus : DataFrame
        The 17-edge consensus network, columns ``cause``, ``effect``. Not a measured truth.
    provenance : str
        Source, licence and caveats (the bundled ``README.md``).
    """

    data: pd.DataFrame
    conditions: pd.Series
    condition_table: pd.DataFrame
    consensus: pd.DataFrame
    provenance: str

    @property
    def targets(self) -> dict[str, tuple[str, ...]]:
        """Condition -> variables its reagent targets."""
        return dict(zip(self.condition_table.condition, self.condition_table.targets, strict=True))

    @property
    def intervention_targets(self) -> list[str]:
        """Every variable targeted by some condition, in column order."""
        hit = {t for targets in self.condition_table.targets for t in targets}
        return [c for c in self.data.columns if c in hit]

    def consensus_adjacency(self) -> np.ndarray:
        """``(11, 11)`` 0/1 adjacency of the consensus (row = cause), in column order."""
        index = {c: k for k, c in enumerate(self.data.columns)}
        adj = np.zeros((len(index),) * 2, dtype=int)
        for cause, effect in zip(self.consensus.cause, self.consensus.effect, strict=True):
            adj[index[cause], index[effect]] = 1
        return adj


def _read(name: str):
    return resources.files("bayes_hcl").joinpath(*_SACHS, name)


def load_sachs(log: bool = True) -> SachsData:
    """Load the bundled Sachs flow-cytometry data.

    Parameters
    ----------
    log : bool
        Return ``log`` of the raw intensities (all are >= 1, so the log is finite). The raw
        intensities are heavy-tailed; the log is the usual scale for linear models.

    Returns
    -------
    SachsData
    """
    with _read("sachs_9cond.csv").open("r") as handle:
        table = pd.read_csv(handle)
    with _read("sachs_conditions.csv").open("r") as handle:
        conditions = pd.read_csv(handle, keep_default_na=False)
    with _read("sachs_17edges.csv").open("r") as handle:
        consensus = pd.read_csv(handle)
    provenance = _read("README.md").read_text(encoding="utf-8")
    conditions["targets"] = [tuple(t for t in str(v).split(";") if t) for v in conditions.targets]
    measured = table.drop(columns=["condition", "condition_id"]).astype(float)
    if log:
        measured = np.log(measured)
    labels = pd.Series(
        pd.Categorical(table.condition, categories=list(conditions.condition)), name="condition"
    )
    return SachsData(measured, labels, conditions, consensus, provenance)
