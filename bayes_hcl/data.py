"""Encoding of a validated data table for the model, with missing cells and size factors.

:func:`prepare` checks the table (column checks in :mod:`bayes_hcl.columns`; every
failure a :class:`~bayes_hcl.columns.DataError` whose message is a single line naming the
column, row or key) and turns it into a :class:`PreparedData` holding, per column, the
response ``y`` (continuous: z-scored; binary: 0/1; count: raw counts), the covariate ``x``
used when the column is a parent (continuous: z-scored; binary: 0/1 minus its mean; count:
z-scored ``log1p(count / s)`` with ``s`` the row's size factor, 1 without size factors) and
the baseline ``offset`` of the linear predictor (0; ``logit(mean)``; ``log(mean count / s)``).
Standard deviations are population ones (``ddof=0``).

Missing cells (``missing="mask"``) are taken as missing at random: their likelihood terms are
masked (``PreparedData.observed``); as a parent a missing value enters at its column's
mean (``x = 0``), and ``y`` holds the column's observed mean there so that auxiliary
computations (the warm start's order search, the diagnostics' residuals) see a neutral value.

Size factors (count columns only) enter each count node's linear predictor as the offset
``log s_i``: from a column of the table (removed from the variables) or from each row's total
over the count columns, scaled to geometric mean 1.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .columns import (
    MISSING_POLICIES,
    TYPE_CODES,
    VARIABLE_TYPES,
    DataError,
    _check_declared,
    _check_types_arg,
    _fmt_row,
    _fmt_value,
    _infer_one,
    _plural,
    _to_frame,
    column_values,
    describe_types,
    infer_types,
    parse_types,
    read_table,
    split_declared,
)

__all__ = [
    "COUNT_LIKELIHOODS_CODES",
    "MISSING_POLICIES",
    "TYPE_CODES",
    "VARIABLE_TYPES",
    "DataError",
    "PreparedData",
    "describe_types",
    "infer_types",
    "parse_types",
    "prepare",
    "read_table",
]

#: Model node code of a count column under each count likelihood.
COUNT_LIKELIHOODS_CODES: dict[str, int] = {"poisson": 2, "negative_binomial": 3}

_PROB_CLIP = 1e-3  # binary mean is clipped to [_PROB_CLIP, 1 - _PROB_CLIP] for the offset
_COUNT_FLOOR = 1e-3  # count mean is clipped below at this value for the offset
_STANDARDISE_TOL = 1e-6  # z-scored columns must have |mean| and |sd - 1| below this


# ----------------------------------------------------------------------- the prepared data


@dataclass(frozen=True, eq=False)
class PreparedData:
    """A validated, encoded data table ready for the model.

    Parameters
    ----------
    columns : tuple of str
        Column (variable) names.
    types : tuple of str
        Variable type of each column, each in :data:`~bayes_hcl.columns.VARIABLE_TYPES`.
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
        self._check_shapes()

    def _check_shapes(self) -> None:
        """Raise :class:`~bayes_hcl.columns.DataError` if the fields do not fit together."""
        n, d = len(self.index), len(self.columns)
        bad = [t for t in self.types if t not in VARIABLE_TYPES]
        if bad:
            raise DataError(f"unknown type {bad[0]!r} (valid types: {', '.join(VARIABLE_TYPES)})")
        for name in ("types", "count_likelihoods"):
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
            (whether rows have size factors) and ``count_likelihoods`` (column -> declared
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


# ------------------------------------------------------------------------------ encoding


def _check_not_constant(name: str, values: np.ndarray) -> None:
    """Raise if every observed value of the column is the same."""
    seen = values[~np.isnan(values)]
    if seen.min() == seen.max():
        raise DataError(
            f"column {name!r} is constant (every value is {_fmt_value(seen[0])}); drop it"
        )


def _zscore(name: str, values: np.ndarray, what: str) -> tuple[np.ndarray, float, float]:
    """Z-score ``values`` (population sd); raise if that is numerically unreliable."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        center = float(np.mean(values))
        scale = float(np.std(values))
        z = (values - center) / scale
    if not (np.isfinite(center) and np.isfinite(scale)):
        raise DataError(f"column {name!r} has {what} too large in magnitude to standardise")
    with np.errstate(over="ignore", invalid="ignore"):
        ok = scale > 0 and abs(z.mean()) < _STANDARDISE_TOL and abs(z.std() - 1) < _STANDARDISE_TOL
    if not ok:
        raise DataError(
            f"column {name!r} cannot be standardised reliably (sd {scale:.3g} of its {what} "
            f"is tiny relative to their size {center:.3g}); rescale or drop it"
        )
    return z, center, scale


def _encode(
    name: str, kind: str, values: np.ndarray, size: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Encode the observed values of one column: ``(y, x, (center, scale, offset))``.

    ``size`` holds the rows' size factors (used by count columns only).
    """
    if kind == "continuous":
        z, center, scale = _zscore(name, values, "values")
        return z, z, (center, scale, 0.0)
    if kind == "binary":
        mean = float(values.mean())
        p = min(max(mean, _PROB_CLIP), 1.0 - _PROB_CLIP)
        return values, values - mean, (mean, 1.0, float(np.log(p / (1.0 - p))))
    normalised = values / size
    x, center, scale = _zscore(name, np.log1p(normalised), "log1p counts")
    with np.errstate(over="ignore"):
        mean = float(normalised.mean())
    if not np.isfinite(mean):
        raise DataError(f"column {name!r} has counts too large to average")
    return values, x, (center, scale, float(np.log(max(mean, _COUNT_FLOOR))))


def _encode_column(name: str, kind: str, values: np.ndarray, size: np.ndarray):
    """Encode a column with missing cells (NaN): statistics from the observed cells only."""
    seen = ~np.isnan(values)
    y_seen, x_seen, stats = _encode(name, kind, values[seen], size[seen])
    y = np.full(values.shape, float(y_seen.mean()))
    x = np.zeros(values.shape)
    y[seen], x[seen] = y_seen, x_seen
    return y, x, stats


def _conditional_mean_fill(x: np.ndarray, observed: np.ndarray, iterations: int = 20):
    """Fill the missing cells of ``x`` with their conditional means given the row's observed
    cells, under a multivariate normal fitted to the incomplete table by EM.

    Filling a missing parent with its column mean would leave its children's rows unexplained
    and so look like a separate population; the conditional mean keeps the row's own
    information (the imputation is single, so it understates the uncertainty of the filled
    value).
    """
    if observed.all():
        return x
    filled = np.where(observed, x, 0.0)
    patterns, inverse = np.unique(~observed, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    mean, cov = filled.mean(0), np.cov(filled, rowvar=False, bias=True)
    for _ in range(iterations):
        correction = np.zeros_like(cov)
        for p, miss in enumerate(patterns):
            if not miss.any():
                continue
            rows, obs = inverse == p, ~miss
            gain = np.zeros((int(obs.sum()), int(miss.sum())))
            if obs.any():
                gain = np.linalg.lstsq(cov[np.ix_(obs, obs)], cov[np.ix_(obs, miss)], rcond=None)[0]
            centred = filled[np.ix_(rows, obs)] - mean[obs]
            filled[np.ix_(rows, miss)] = mean[miss] + centred @ gain
            # EM: the filled cells' conditional covariance joins the sufficient statistics
            conditional = cov[np.ix_(miss, miss)] - cov[np.ix_(miss, obs)] @ gain
            correction[np.ix_(miss, miss)] += rows.sum() * conditional
        mean = filled.mean(0)
        cov = np.cov(filled, rowvar=False, bias=True) + correction / len(x)
    return filled


def _check_shape(df: pd.DataFrame, min_rows: int) -> None:
    """Raise on an empty table, a single column or too few rows."""
    n, d = df.shape
    if n == 0 or d == 0:
        raise DataError(f"data is empty ({_plural(n, 'row')}, {_plural(d, 'column')})")
    if d < 2:
        raise DataError(
            f"data has a single column {df.columns[0]!r}; at least 2 variables are needed"
        )
    if n < min_rows:
        raise DataError(f"data has {_plural(n, 'row')} but at least {min_rows} are needed")


def _size_factors(
    df: pd.DataFrame, values: dict[str, np.ndarray], kinds: dict[str, str], source: str | None
) -> np.ndarray:
    """Size factor of every row (geometric mean 1): ``source`` is a column, ``"total"``, or
    ``None``/``"none"`` (all ones)."""
    if source in (None, "none"):
        return np.ones(len(df))
    counts = [name for name, kind in kinds.items() if kind == "count"]
    if not counts:
        raise DataError(f"size factors {source!r} were asked for, but no column is a count")
    if source == "total":
        raw = np.nansum(np.stack([values[c] for c in counts], axis=1), axis=1)
        empty = raw <= 0
        if empty.any():
            raise DataError(
                f"row {_fmt_row(df.index[int(np.argmax(empty))])} has no counts in any count "
                f"column ({_plural(int(empty.sum()), 'row')} in all), so its size factor "
                "(total count) is zero; drop such rows or give a size-factor column"
            )
    else:
        raw = _size_factor_column(df, source)
    log_raw = np.log(raw)
    return np.exp(log_raw - log_raw.mean())


def _size_factor_column(df: pd.DataFrame, name: str) -> np.ndarray:
    """The values of a size-factor column, which must be finite and positive."""
    if name not in df.columns:
        raise DataError(
            f"size-factor column {name!r} is not in the data; give a column name, 'total' "
            "(from the counts) or 'none'"
        )
    values = column_values(name, df[name])
    bad = values <= 0
    if bad.any():
        pos = int(np.argmax(bad))
        raise DataError(
            f"size-factor column {name!r} has {_plural(int(bad.sum()), 'value')} <= 0 "
            f"(first: {_fmt_value(values[pos])} in row {_fmt_row(df.index[pos])}); size "
            "factors must be positive"
        )
    return values


def prepare(
    data: pd.DataFrame | np.ndarray | str | os.PathLike,
    types: Mapping[str, str] | None = None,
    *,
    min_rows: int = 10,
    missing: str = "error",
    size_factors: str | None = None,
) -> PreparedData:
    """Validate a data table, settle the variable types and encode it for the model.

    Checks, in this order (each failure raises :class:`~bayes_hcl.columns.DataError` with a one-line
    message naming the column, row or key):

    1. the input kind (a 2-D array, a frame, or a CSV path read by
       :func:`~bayes_hcl.columns.read_table`); column names are converted to ``str``
       (arrays get ``"x0"``, ``"x1"``, ...) and must be unique; a size-factor column is set
       aside;
    2. the shape: at least one row and column, at least 2 columns, at least ``min_rows``
       rows;
    3. ``types``: every key a column, every value in
       :data:`~bayes_hcl.columns.DECLARABLE_TYPES` (a count likelihood declares a count);
    4. per column: numeric (text, even numbers written as text, is rejected), no infinite
       values, at least one observed value, and no missing cell unless
       ``missing="mask"``;
    5. per column: not constant;
    6. per column: values compatible with a declared type (binary: in {0, 1}; count:
       non-negative integers);
    7. size factors: positive (a column) or a positive total count in every row;
    8. per column: z-scoring is numerically sound.

    Undeclared types are inferred as described in :func:`~bayes_hcl.columns.infer_types`.

    Parameters
    ----------
    data : pandas.DataFrame, numpy.ndarray, str or os.PathLike
        An ``n x d`` table of numbers, or the path of a CSV file holding one.
    types : mapping of str to str, optional
        Explicit types for some or all columns, overriding inference (case-insensitive).
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
    frame = _to_frame(data)
    is_column = size_factors not in (None, "none", "total")
    df = frame.drop(columns=[size_factors]) if size_factors in frame.columns else frame
    _check_shape(df, int(min_rows))
    columns = list(df.columns)
    declared = _check_types_arg(types, columns)
    values = {name: column_values(name, df[name], missing) for name in columns}
    for name in columns:
        _check_not_constant(name, values[name])
    chosen = {
        name: split_declared(
            declared.get(name) or _infer_one(values[name], pd.api.types.is_bool_dtype(df[name]))[0]
        )
        for name in columns
    }
    kinds = {name: kind for name, (kind, _) in chosen.items()}
    for name in columns:
        _check_declared(name, kinds[name], values[name], df.index)
    size = _size_factors(frame if is_column else df, values, kinds, size_factors)
    encoded = [_encode_column(name, kinds[name], values[name], size) for name in columns]
    stats = np.array([e[2] for e in encoded], dtype=np.float64).reshape(len(columns), 3)
    observed = np.stack([~np.isnan(values[name]) for name in columns], axis=1)
    x = _conditional_mean_fill(np.stack([e[1] for e in encoded], axis=1), observed)
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
    )
