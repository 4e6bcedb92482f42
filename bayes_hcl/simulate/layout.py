"""From causal positions to stored columns: the hidden column order and the data frame.

The simulators work over causal positions (position ``p`` precedes ``q`` whenever ``p < q``)
and store position ``p`` in column ``perm[p]`` of a random permutation, so column order
carries no information about causal order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["ColumnOrder", "data_frame"]


@dataclass(frozen=True)
class ColumnOrder:
    """Where every causal position is stored.

    Attributes
    ----------
    perm : numpy.ndarray
        ``(d,)`` column of every causal position (the truth's ``order``).
    inverse : numpy.ndarray
        ``(d,)`` causal position of every column.
    columns : tuple of str
        Column names ``{prefix}0 .. {prefix}{d-1}``.
    """

    perm: np.ndarray
    inverse: np.ndarray
    columns: tuple[str, ...]

    @classmethod
    def draw(cls, d: int, prefix: str, rng: np.random.Generator) -> ColumnOrder:
        """Draw a random column order (one permutation of ``d``).

        Parameters
        ----------
        d : int
            Number of variables.
        prefix : str
            Prefix of the column names.
        rng : numpy.random.Generator
            Source of randomness.

        Returns
        -------
        ColumnOrder
            The drawn order.
        """
        perm = rng.permutation(d)
        return cls(perm, np.argsort(perm), tuple(f"{prefix}{j}" for j in range(d)))

    def vectors(self, by_position: np.ndarray) -> np.ndarray:
        """Reorder the columns of ``(m, d)`` values from positions to columns."""
        return by_position[:, self.inverse]

    def graphs(self, by_position: np.ndarray) -> np.ndarray:
        """Reorder both node axes of ``(K, d, d)`` graphs from positions to columns."""
        inverse = self.inverse
        return by_position[np.ix_(range(by_position.shape[0]), inverse, inverse)]

    def types(self, by_position: Sequence[str]) -> tuple[str, ...]:
        """Variable types per column from types per position."""
        return tuple(by_position[p] for p in self.inverse)

    def name(self, position: int) -> str:
        """Column name of a causal position."""
        return self.columns[self.perm[position]]

    def names(self, positions: Iterable[int]) -> tuple[str, ...]:
        """Column names of the given causal positions."""
        return tuple(self.name(p) for p in positions)


def data_frame(values: np.ndarray, columns: Sequence[str], types: Sequence[str]) -> pd.DataFrame:
    """The observed data frame from ``(n, d)`` float values in column order.

    Parameters
    ----------
    values : numpy.ndarray
        ``(n, d)`` values, categorical levels as codes.
    columns : sequence of str
        Column names.
    types : sequence of str
        Type of every column.

    Returns
    -------
    pandas.DataFrame
        Continuous columns as floats, categorical levels as letters ``"a", "b", ...``, binary
        and count columns as ``int64``.
    """
    frame = pd.DataFrame(values, columns=list(columns))
    for col, kind in zip(columns, types, strict=True):
        if kind == "categorical":
            frame[col] = [chr(ord("a") + int(v)) for v in frame[col]]
        elif kind != "continuous":
            frame[col] = frame[col].astype(np.int64)
    return frame
