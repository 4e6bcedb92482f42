"""Encoding of a validated data table for the model, with missing cells and size factors.

:func:`prepare` checks the table (column checks in :mod:`bayes_hcl.data.columns`, per-column
encoding in :mod:`bayes_hcl.data.encoding`; every failure a
:class:`~bayes_hcl.errors.DataError` whose message is a single line naming the column, row
or key) and turns it into a :class:`PreparedData` holding, per column, the response ``y``
(continuous and ordinal: z-scored; binary: 0/1; count: raw counts; categorical: the level
code), the covariate ``x`` used when the column is a parent (continuous and ordinal:
z-scored; binary: 0/1 minus its mean; count: z-scored ``log1p(count / s)`` with ``s`` the
row's size factor, 1 without size factors; categorical: a score of its level indicators) and
the baseline ``offset`` of the linear predictor (0; ``logit(mean)``; ``log(mean count / s)``).
Standard deviations are population ones (``ddof=0``).

A categorical column is a block of model columns, one per non-reference level
(:mod:`bayes_hcl.data.categorical`); :meth:`PreparedData.model_arrays` gives the arrays the model
takes, one column per model column.

Missing cells (``missing="mask"``) are taken as missing at random: their likelihood terms are
masked (``PreparedData.observed``); as a parent a missing value enters at its conditional
mean given the row's observed cells, and ``y`` holds a neutral value there (the observed mean;
for a categorical column its most frequent level) so that auxiliary computations (the warm
start's order search, the diagnostics' residuals) see no outlier.

Size factors (count columns only) enter each count node's linear predictor as the offset
``log s_i``: from a column of the table (removed from the variables) or from each row's total
over the count columns, scaled to geometric mean 1.
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_hcl.data.categorical import one_hot_block
from bayes_hcl.data.columns import (
    MISSING_POLICIES,
    check_declared,
    check_types_arg,
    level_orders,
    to_frame,
)
from bayes_hcl.data.encoding import (
    PROB_CLIP,
    check_shape,
    conditional_mean_fill,
    encode_column,
    model_covariates,
    read_column,
    row_size_factors,
)
from bayes_hcl.data.type_inference import (
    continuous_likelihood,
    type_reason,
    type_records,
    type_warnings,
)
from bayes_hcl.errors import DataError
from bayes_hcl.vartypes import COUNT_LIKELIHOODS_CODES, TYPE_CODES, VARIABLE_TYPES

__all__ = [
    "PreparedData",
    "prepare",
]

#: Model node code of a count column under each count likelihood.


# ----------------------------------------------------------------------- the prepared data


@dataclass(frozen=True, eq=False)
class PreparedData:
    """A validated, encoded data table ready for the model.

    Parameters
    ----------
    columns : tuple of str
        Column (variable) names.
    types : tuple of str
        Variable type of each column, each in :data:`~bayes_hcl.vartypes.VARIABLE_TYPES`.
    y : numpy.ndarray
        ``(n, d)`` float64 response values: continuous columns z-scored, binary columns
        0/1, count columns the raw non-negative integer counts (at a missing cell: the
        column's observed mean).
    x : numpy.ndarray
        ``(n, d)`` float64 covariates used when a column is a parent: continuous columns
        z-scored, binary columns 0/1 minus their mean, count columns z-scored
        ``log1p(count / size factor)`` (at a missing cell: its conditional mean given the
        row's observed cells).
    center : numpy.ndarray
        ``(d,)`` value subtracted to make ``x`` (for count columns the mean of
        ``log1p(count / size factor)``).
    scale : numpy.ndarray
        ``(d,)`` value divided to make ``x``: the population sd (``ddof=0``), 1.0 for
        binary columns.
    offset : numpy.ndarray
        ``(d,)`` baseline of the linear predictor: 0 for continuous columns,
        ``logit(mean)`` for binary ones (mean clipped to ``[1e-3, 1 - 1e-3]``) and
        ``log(mean count / size factor)`` for count ones (mean clipped below at ``1e-3``).
    index : tuple, optional
        Row labels of the input table; empty means ``0, ..., n - 1``.
    observed : numpy.ndarray, optional
        ``(n, d)`` bool, False at a missing cell (``missing="mask"``); default all True.
    log_size_factor : numpy.ndarray, optional
        ``(n,)`` log size factor of each row, added to the linear predictor of every count
        column; default zeros (no size factors).
    count_likelihoods : tuple of str, optional
        Per column, a count likelihood declared for it (``"poisson"`` or
        ``"negative_binomial"``) or ``""`` for the preset's; default all ``""``.
    levels : tuple of tuple of str, optional
        Per column, the level labels of a categorical or ordinal column (``y`` holds the
        level code ``0 .. L - 1`` of a categorical column, the z-scored code of an ordinal
        one), ``()`` for other columns.
    design : numpy.ndarray, optional
        ``(n, D)`` covariates of the model columns when a column is categorical: such a
        column has one column per non-reference level (its z-scored indicator; at a missing
        cell, the conditional mean), every other column its ``x``. The
        ``x`` of a categorical column is its :func:`~bayes_hcl.data.categorical.proxy_score`.
    reasons : tuple of str, optional
        Per column, why it has its type (``"non-negative integers"``, ``"declared ordinal
        (inferred: count)"``, ...; see :mod:`bayes_hcl.data.type_inference`); default all
        ``""`` (not recorded).

    Notes
    -----
    Instances compare by identity (``eq=False``) since they hold arrays. Sequences are
    converted to tuples and arrays to float64 on construction, and the shapes are checked.
    """

    columns: tuple[str, ...]
    types: tuple[str, ...]
    y: np.ndarray
    x: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    index: tuple = ()
    observed: np.ndarray | None = field(default=None)
    log_size_factor: np.ndarray | None = field(default=None)
    count_likelihoods: tuple[str, ...] = ()
    levels: tuple[tuple[str, ...], ...] = ()
    design: np.ndarray | None = field(default=None)
    reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "columns", tuple(str(c) for c in self.columns))
        setattr_(self, "types", tuple(str(t) for t in self.types))
        for name in ("y", "x", "center", "scale", "offset"):
            setattr_(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        index = () if self.index is None else tuple(self.index)
        setattr_(self, "index", index or tuple(range(self.y.shape[0] if self.y.ndim else 0)))
        shape = self.y.shape if self.y.ndim == 2 else (len(self.index), len(self.columns))
        observed = np.ones(shape, bool) if self.observed is None else self.observed
        setattr_(self, "observed", np.asarray(observed, dtype=bool))
        size = np.zeros(shape[0]) if self.log_size_factor is None else self.log_size_factor
        setattr_(self, "log_size_factor", np.asarray(size, dtype=np.float64))
        families = tuple(self.count_likelihoods) or ("",) * len(self.columns)
        setattr_(self, "count_likelihoods", families)
        levels = tuple(tuple(str(v) for v in lv) for lv in self.levels) or ((),) * len(families)
        setattr_(self, "levels", levels)
        setattr_(self, "reasons", tuple(str(r) for r in self.reasons) or ("",) * len(families))
        self._check_shapes()

    def _check_shapes(self) -> None:
        """Raise :class:`~bayes_hcl.errors.DataError` if the fields do not fit together."""
        n, d = len(self.index), len(self.columns)
        bad = [t for t in self.types if t not in VARIABLE_TYPES]
        if bad:
            raise DataError(f"unknown type {bad[0]!r} (valid types: {', '.join(VARIABLE_TYPES)})")
        for name in ("types", "count_likelihoods", "levels", "reasons"):
            if len(getattr(self, name)) != d:
                raise DataError(
                    f"PreparedData has {d} columns but {len(getattr(self, name))} {name}"
                )
        expected = {
            "y": (n, d),
            "x": (n, d),
            "observed": (n, d),
            "center": (d,),
            "scale": (d,),
            "offset": (d,),
            "log_size_factor": (n,),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise DataError(
                    f"PreparedData.{name} has shape {getattr(self, name).shape}, expected {shape}"
                )

    @property
    def n(self) -> int:
        """Number of rows (observations)."""
        return int(self.y.shape[0])

    @property
    def d(self) -> int:
        """Number of columns (variables)."""
        return len(self.columns)

    def type_codes(self, count_likelihood: str = "poisson") -> np.ndarray:
        """Model node code of each column (continuous 0, binary 1, count 2 or 3).

        Parameters
        ----------
        count_likelihood : {"poisson", "negative_binomial"}
            Likelihood of the count columns without a declared one: code 2 (Poisson) or 3
            (negative binomial).

        Returns
        -------
        numpy.ndarray
            ``(d,)`` int64 array.
        """
        codes = np.array([TYPE_CODES[t] for t in self.types], dtype=np.int64)
        for j, family in enumerate(self.count_likelihoods):
            if self.types[j] == "count":
                codes[j] = COUNT_LIKELIHOODS_CODES[family or count_likelihood]
        return codes

    def model_layout(
        self, count_likelihood: str = "poisson"
    ) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
        """Type code of every model column, and the variable of each (``None`` when every
        variable is one column, i.e. no variable is categorical)."""
        codes = self.type_codes(count_likelihood)
        if self.design is None:
            return tuple(int(c) for c in codes), None
        node_of = self.node_of()
        return tuple(int(codes[j]) for j in node_of), tuple(int(j) for j in node_of)

    def node_of(self) -> np.ndarray:
        """``(D,)`` variable of every model column (one column per non-categorical variable,
        one per non-reference level of a categorical one)."""
        widths = [max(len(lv) - 1, 1) if t == "categorical" else 1 for t, lv in self._kinds()]
        return np.repeat(np.arange(self.d), widths)

    def model_terms(self) -> tuple[str, ...]:
        """Name of every model column: the variable's, or ``"name[level]"`` for each
        non-reference level of a categorical variable."""
        terms = []
        for name, kind, levels in zip(self.columns, self.types, self.levels, strict=True):
            own = [f"{name}[{lv}]" for lv in levels[1:]] if kind == "categorical" else [name]
            terms.extend(own)
        return tuple(terms)

    def _kinds(self):
        return zip(self.types, self.levels, strict=True)

    def model_arrays(self, sized: bool) -> tuple[np.ndarray, ...]:
        """``y, x, offset, observed`` of the model columns (see :meth:`model_layout`).

        A categorical column's responses are its level indicators and its offsets the log
        odds of each level against the reference; ``offset`` is per row when ``sized``.
        """
        offset = self.row_offset() if sized else self.offset[None, :]
        if self.design is None:
            return self.y, self.x, offset if sized else self.offset, self.observed
        ys, offsets = [], []
        for j, (kind, levels) in enumerate(self._kinds()):
            if kind != "categorical":
                ys.append(self.y[:, [j]])
                offsets.append(offset[:, [j]])
                continue
            indicators, _, _ = one_hot_block(self.y[:, j], len(levels))
            counts = np.bincount(self.y[self.observed[:, j], j].astype(int), minlength=len(levels))
            share = np.maximum(counts / counts.sum(), PROB_CLIP)
            ys.append(indicators)
            offsets.append(
                np.broadcast_to(np.log(share[1:] / share[0]), (len(offset), len(share) - 1))
            )
        full = np.concatenate(offsets, axis=1)
        node_of = self.node_of()
        return (
            np.concatenate(ys, axis=1),
            self.design,
            full if sized else full[0],
            self.observed[:, node_of],
        )

    def type_table(
        self,
        count_likelihood: str = "poisson",
        warn: bool = False,
        noise_family: str = "gaussian",
        noise_components: int = 1,
    ) -> list[dict[str, object]]:
        """What every column is treated as, and why (the table of
        :func:`~bayes_hcl.data.type_inference.describe_types`, for the encoded data).

        Parameters
        ----------
        count_likelihood : {"poisson", "negative_binomial"}
            Likelihood of the count columns without a declared one (the preset's).
        warn : bool, default False
            Also issue a ``UserWarning`` per kind of flag (row identifiers, short scales,
            overdispersed Poisson counts), naming the columns and the override;
            :func:`bayes_hcl.fit` does when it records the table.
        noise_family, noise_components : str, int
            The preset's noise law of continuous children, as the table states it.

        Returns
        -------
        list of dict
            One JSON-ready record per column with keys ``column``, ``type``,
            ``likelihood``, ``missing``, ``reason``, ``flag`` and ``note``.
        """
        records = type_records(
            self.columns,
            self.types,
            self.count_likelihoods,
            self.y,
            self.observed,
            self.reasons,
            count_likelihood,
            continuous_likelihood(noise_family, noise_components),
        )
        if warn:
            for message in type_warnings(records):
                # stack: here, the metadata of api.fit, fit, the caller of fit
                warnings.warn(message, UserWarning, stacklevel=4)
        return records

    def missing_counts(self) -> dict[str, int]:
        """Number of missing (masked) cells per column, for the columns that have any."""
        counts = (~self.observed).sum(0)
        return {c: int(k) for c, k in zip(self.columns, counts, strict=True) if k}

    def row_offset(self) -> np.ndarray:
        """``(n, d)`` baseline of each row's linear predictor: ``offset`` plus, on count
        columns, the row's log size factor."""
        is_count = np.asarray(self.types) == "count"
        return self.offset[None, :] + self.log_size_factor[:, None] * is_count[None, :]

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable metadata (not the arrays ``y``/``x`` nor the row labels).

        Returns
        -------
        dict
            Keys ``columns``, ``types``, ``center``, ``scale``, ``offset`` (lists), ``n``,
            ``d`` (ints), ``missing`` (column -> number of masked cells), ``size_factors``
            (whether rows have size factors), ``levels`` (categorical or ordinal column ->
            level labels) and ``count_likelihoods`` (column -> declared
            count likelihood).
        """
        return {
            "columns": list(self.columns),
            "types": list(self.types),
            "center": [float(v) for v in self.center],
            "scale": [float(v) for v in self.scale],
            "offset": [float(v) for v in self.offset],
            "n": self.n,
            "d": self.d,
            "missing": self.missing_counts(),
            "size_factors": bool(np.any(self.log_size_factor != 0)),
            "count_likelihoods": {
                c: f for c, f in zip(self.columns, self.count_likelihoods, strict=True) if f
            },
            "levels": {c: list(lv) for c, lv in zip(self.columns, self.levels, strict=True) if lv},
        }

    def frame(self) -> pd.DataFrame:
        """Reconstruct the values in original units, with the column names and row labels.

        Continuous columns are ``y * scale + center``; binary and count columns are ``y``;
        missing cells are NaN.

        Returns
        -------
        pandas.DataFrame
            ``(n, d)`` float64 frame.
        """
        values = self.y.copy()
        cont = np.asarray(self.types) == "continuous"
        values[:, cont] = values[:, cont] * self.scale[cont] + self.center[cont]
        values[~self.observed] = np.nan
        index = pd.Index(list(self.index), tupleize_cols=False)
        return pd.DataFrame(values, columns=list(self.columns), index=index)


def prepare(
    data: pd.DataFrame | np.ndarray | str | os.PathLike,
    types: Mapping[str, Any] | None = None,
    *,
    min_rows: int = 10,
    missing: str = "error",
    size_factors: str | None = None,
) -> PreparedData:
    """Validate a data table, settle the variable types and encode it for the model.

    Checks, in this order (each failure raises :class:`~bayes_hcl.errors.DataError` with a one-line
    message naming the column, row or key):

    1. the input kind (a 2-D array, a frame, or a CSV path read by
       :func:`~bayes_hcl.data.columns.read_table`); column names are converted to ``str``
       (arrays get ``"x0"``, ``"x1"``, ...) and must be unique; a size-factor column is set
       aside;
    2. the shape: at least one row and column, at least 2 columns, at least ``min_rows``
       rows;
    3. ``types``: every key a column, every value in
       :data:`~bayes_hcl.vartypes.DECLARABLE_TYPES` (a count likelihood declares a count);
    4. per column: all numbers, or all text or a pandas ``category`` (categorical or
       ordinal; text declared with a numeric type, or numbers mixed with text, is
       rejected), no infinite values, at least one observed value, and no missing cell
       unless ``missing="mask"``;
    5. per column: not constant; a categorical or ordinal column has at least 2 levels,
       every level observed, and (categorical) at most 50 levels and 5 observed rows per
       level on average;
    6. per column: values compatible with a declared type (binary: in {0, 1}; count:
       non-negative integers);
    7. size factors: positive (a column) or a positive total count in every row;
    8. per column: z-scoring is numerically sound.

    Undeclared types are inferred as described in
    :func:`~bayes_hcl.data.type_inference.infer_types`.

    Parameters
    ----------
    data : pandas.DataFrame, numpy.ndarray, str or os.PathLike
        An ``n x d`` table (numbers, text or pandas categories), or the path of a CSV file
        holding one.
    types : mapping of str to str, optional
        Explicit types for some or all columns, overriding inference (case-insensitive). An
        ordinal column's levels in order, lowest first (``["low", "mid", "high"]`` or
        ``"ordinal:low<mid<high"``), declare it ordinal with that order.
    min_rows : int, default 10
        Fewest rows accepted (at least 2).
    missing : {"error", "mask"}
        ``"error"`` refuses missing cells; ``"mask"`` keeps their rows and masks their
        likelihood terms (missing at random).
    size_factors : str, optional
        ``None``/``"none"``: no size factors; ``"total"``: each row's total over the count
        columns; otherwise the name of a column holding them (removed from the variables).
        Scaled to geometric mean 1; they offset the count columns' linear predictors.

    Returns
    -------
    PreparedData
        The encoded table.

    Raises
    ------
    DataError
        On any problem with the input.
    """
    if isinstance(min_rows, bool) or not isinstance(min_rows, numbers.Integral) or min_rows < 2:
        raise DataError(f"min_rows must be an integer >= 2, got {min_rows!r}")
    if missing not in MISSING_POLICIES:
        raise DataError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}")
    frame = to_frame(data)
    is_column = size_factors not in (None, "none", "total")
    df = frame.drop(columns=[size_factors]) if size_factors in frame.columns else frame
    check_shape(df, int(min_rows))
    columns = list(df.columns)
    declared = check_types_arg(types, columns)
    orders = level_orders(types)
    values, levels, chosen = {}, {}, {}
    for name in columns:
        values[name], levels[name], chosen[name] = read_column(
            name, df[name], declared, missing, orders.get(name)
        )
    kinds = {name: kind for name, (kind, _) in chosen.items()}
    for name in columns:
        check_declared(name, kinds[name], values[name], df.index)
    size = row_size_factors(frame if is_column else df, values, kinds, size_factors)
    encoded = [encode_column(name, kinds[name], values[name], size) for name in columns]
    stats = np.array([e[2] for e in encoded], dtype=np.float64).reshape(len(columns), 3)
    observed = np.stack([~np.isnan(values[name]) for name in columns], axis=1)
    x = np.stack([e[1] for e in encoded], axis=1)
    if "categorical" in kinds.values():
        design, x = model_covariates(
            x, observed, [kinds[c] for c in columns], [levels[c] for c in columns]
        )
    else:
        design, x = None, conditional_mean_fill(x, observed)
    return PreparedData(
        columns=tuple(columns),
        types=tuple(kinds[name] for name in columns),
        y=np.ascontiguousarray(np.stack([e[0] for e in encoded], axis=1)),
        x=np.ascontiguousarray(x),
        center=stats[:, 0].copy(),
        scale=stats[:, 1].copy(),
        offset=stats[:, 2].copy(),
        index=tuple(df.index),
        observed=observed,
        log_size_factor=np.log(size),
        count_likelihoods=tuple(chosen[name][1] for name in columns),
        levels=tuple(levels[name] for name in columns),
        design=design,
        reasons=tuple(type_reason(name, df[name], declared.get(name)) for name in columns),
    )
