"""Input validation, variable-type inference and standardisation of an n x d data table.

This is the package's only gate for user data: every check on the table (shape, names,
numeric values, missing and infinite cells, constant columns, declared types) lives here
and fails with a :class:`DataError` whose message is a single line naming the offending
column, row or key.

Variable types
--------------
Each column is one of :data:`VARIABLE_TYPES`. Unless declared explicitly, the type is
inferred from the (non-missing) values of a numeric column:

1. boolean dtype -> ``"binary"``;
2. every value in {0, 1} and both 0 and 1 occur -> ``"binary"``;
3. every value a non-negative integer (integer dtype, or floats that are all integral)
   with more than 2 distinct values -> ``"count"``;
4. anything else -> ``"continuous"``.

Encoding
--------
:func:`prepare` turns the table into a :class:`PreparedData` holding, per column, the
response ``y`` (continuous: z-scored; binary: 0/1; count: raw counts), the covariate ``x``
used when the column is a parent (continuous: z-scored; binary: 0/1 minus its mean;
count: z-scored ``log1p(count)``) and the baseline ``offset`` of the linear predictor
(0; ``logit(mean)``; ``log(mean count)``). Standard deviations are population ones
(``ddof=0``).

Rows are named in messages by their index label (for a CSV file or a NumPy array that is
the 0-based data-row number).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
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

VARIABLE_TYPES: tuple[str, ...] = ("continuous", "binary", "count")
"""The supported variable types, in the order of their integer codes."""

TYPE_CODES: dict[str, int] = {name: code for code, name in enumerate(VARIABLE_TYPES)}
"""Integer code of each variable type: continuous 0, binary 1, count 2."""

_PROB_CLIP = 1e-3  # binary mean is clipped to [_PROB_CLIP, 1 - _PROB_CLIP] for the offset
_COUNT_FLOOR = 1e-3  # count mean is clipped below at this value for the offset
_STANDARDISE_TOL = 1e-6  # z-scored columns must have |mean| and |sd - 1| below this
_MAX_REPR = 40  # longest repr of a value or label shown in a message
_MAX_NAMES = 10  # most column names listed in a message


class DataError(ValueError):
    """User-facing input error.

    ``str(err)`` is a single line naming the column, row or key at fault and the problem;
    any line breaks in the message are replaced by spaces.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).splitlines()))


# --------------------------------------------------------------------------- formatting


def _short(text: str) -> str:
    """Truncate ``text`` to :data:`_MAX_REPR` characters."""
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _fmt_value(value: Any) -> str:
    """Format a cell value for a message (integral floats without a trailing ``.0``)."""
    if isinstance(value, (float, np.floating)) and np.isfinite(value):
        if float(value).is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(float(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return _short(repr(value))


def _fmt_row(label: Hashable) -> str:
    """Format a row label for a message."""
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return str(int(label))
    return _short(repr(label))


def _fmt_names(names: Sequence[str]) -> str:
    """Format a list of column names for a message, truncated after a few."""
    shown = ", ".join(repr(n) for n in names[:_MAX_NAMES])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _MAX_NAMES else "")


def _plural(count: int, word: str) -> str:
    """``'1 row'``, ``'3 rows'``."""
    return f"{count} {word}" + ("" if count == 1 else "s")


# ----------------------------------------------------------------------- the prepared data


@dataclass(frozen=True, eq=False)
class PreparedData:
    """A validated, encoded data table ready for the model.

    Parameters
    ----------
    columns : tuple of str
        Column (variable) names.
    types : tuple of str
        Variable type of each column, each in :data:`VARIABLE_TYPES`.
    y : numpy.ndarray
        ``(n, d)`` float64 response values: continuous columns z-scored, binary columns
        0/1, count columns the raw non-negative integer counts.
    x : numpy.ndarray
        ``(n, d)`` float64 covariates used when a column is a parent: continuous columns
        z-scored, binary columns 0/1 minus their mean, count columns z-scored
        ``log1p(count)``.
    center : numpy.ndarray
        ``(d,)`` value subtracted to make ``x`` (for count columns the mean of
        ``log1p(count)``).
    scale : numpy.ndarray
        ``(d,)`` value divided to make ``x``: the population sd (``ddof=0``), 1.0 for
        binary columns.
    offset : numpy.ndarray
        ``(d,)`` baseline of the linear predictor: 0 for continuous columns,
        ``logit(mean)`` for binary ones (mean clipped to ``[1e-3, 1 - 1e-3]``) and
        ``log(mean count)`` for count ones (mean clipped below at ``1e-3``).
    index : tuple, optional
        Row labels of the input table; empty means ``0, ..., n - 1``.

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

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "columns", tuple(str(c) for c in self.columns))
        setattr_(self, "types", tuple(str(t) for t in self.types))
        for name in ("y", "x", "center", "scale", "offset"):
            setattr_(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        index = () if self.index is None else tuple(self.index)
        setattr_(self, "index", index or tuple(range(self.y.shape[0] if self.y.ndim else 0)))
        self._check_shapes()

    def _check_shapes(self) -> None:
        """Raise :class:`DataError` if the fields do not fit together."""
        d = len(self.columns)
        bad = [t for t in self.types if t not in VARIABLE_TYPES]
        if bad:
            raise DataError(f"unknown type {bad[0]!r} (valid types: {', '.join(VARIABLE_TYPES)})")
        if len(self.types) != d:
            raise DataError(f"PreparedData has {d} columns but {len(self.types)} types")
        for name in ("y", "x"):
            arr = getattr(self, name)
            if arr.ndim != 2 or arr.shape[1] != d or arr.shape[0] != len(self.index):
                raise DataError(
                    f"PreparedData.{name} has shape {arr.shape}, expected ({len(self.index)}, {d})"
                )
        for name in ("center", "scale", "offset"):
            if getattr(self, name).shape != (d,):
                raise DataError(
                    f"PreparedData.{name} has shape {getattr(self, name).shape}, expected ({d},)"
                )

    @property
    def n(self) -> int:
        """Number of rows (observations)."""
        return int(self.y.shape[0])

    @property
    def d(self) -> int:
        """Number of columns (variables)."""
        return len(self.columns)

    def type_codes(self) -> np.ndarray:
        """Integer code of each column's type (continuous 0, binary 1, count 2).

        Returns
        -------
        numpy.ndarray
            ``(d,)`` int64 array.
        """
        return np.array([TYPE_CODES[t] for t in self.types], dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable metadata (not the arrays ``y``/``x`` nor the row labels).

        Returns
        -------
        dict
            Keys ``columns``, ``types``, ``center``, ``scale``, ``offset`` (lists) and
            ``n``, ``d`` (ints).
        """
        return {
            "columns": list(self.columns),
            "types": list(self.types),
            "center": [float(v) for v in self.center],
            "scale": [float(v) for v in self.scale],
            "offset": [float(v) for v in self.offset],
            "n": self.n,
            "d": self.d,
        }

    def frame(self) -> pd.DataFrame:
        """Reconstruct the values in original units, with the column names and row labels.

        Continuous columns are ``y * scale + center``; binary and count columns are ``y``.

        Returns
        -------
        pandas.DataFrame
            ``(n, d)`` float64 frame.
        """
        values = self.y.copy()
        cont = self.type_codes() == TYPE_CODES["continuous"]
        values[:, cont] = values[:, cont] * self.scale[cont] + self.center[cont]
        index = pd.Index(list(self.index), tupleize_cols=False)
        return pd.DataFrame(values, columns=list(self.columns), index=index)


# ------------------------------------------------------------------------- reading input


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV file (tab-separated if it ends in ``.tsv`` or ``.tab``) with a header row.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    pandas.DataFrame
        The table, with a default ``RangeIndex`` (row ``0`` is the first data row).

    Raises
    ------
    DataError
        If the file is missing, a directory, unreadable, empty, has no data rows, has
        duplicate column names or cannot be parsed; the message names the path.
    """
    p = Path(path)
    where = f"file {str(p)!r}"
    if not p.exists():
        raise DataError(f"{where} does not exist")
    if p.is_dir():
        raise DataError(f"{where} is a directory, not a CSV file")
    sep = "\t" if p.suffix.lower() in {".tsv", ".tab"} else ","
    header = _read_csv(p, where, sep=sep, header=None, nrows=1, dtype=str)
    df = _read_csv(p, where, sep=sep)
    names = [str(v) for v in header.iloc[0]] if len(header) else []
    dupes = _duplicates(names)
    if dupes:
        raise DataError(f"{where} has duplicate column name {dupes[0]!r}")
    if df.shape[0] == 0:
        raise DataError(f"{where} has a header but no data rows")
    return df


def _read_csv(p: Path, where: str, **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_csv`` with its errors turned into one-line :class:`DataError`."""
    try:
        return pd.read_csv(p, **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{where} is empty") from exc
    except pd.errors.ParserError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "parse error"
        raise DataError(f"could not parse {where} as CSV: {first}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise DataError(f"could not read {where}: {exc.strerror or exc}") from exc


def _duplicates(names: Sequence[str]) -> list[str]:
    """Names occurring more than once, in order of first repeat."""
    seen: set[str] = set()
    dupes: list[str] = []
    for name in names:
        if name in seen and name not in dupes:
            dupes.append(name)
        seen.add(name)
    return dupes


def _to_frame(data: pd.DataFrame | np.ndarray | str | os.PathLike) -> pd.DataFrame:
    """Turn the accepted inputs into a frame with unique string column names."""
    if isinstance(data, (str, os.PathLike)):
        df = read_table(data)
    elif isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise DataError(f"a data array must be 2-D (rows x columns), got shape {data.shape}")
        df = pd.DataFrame(data, columns=[f"x{j}" for j in range(data.shape[1])])
    elif isinstance(data, pd.DataFrame):
        df = data
    else:
        raise DataError(
            "data must be a pandas DataFrame, a 2-D NumPy array or a CSV path, "
            f"got {type(data).__name__}"
        )
    df = df.set_axis([str(c) for c in df.columns], axis=1)
    dupes = _duplicates(list(df.columns))
    if dupes:
        raise DataError(f"duplicate column name {dupes[0]!r}")
    return df


# ------------------------------------------------------------------------- column values


def _is_real_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` holds real numbers or booleans (not complex, dates or text)."""
    api = pd.api.types
    return api.is_bool_dtype(dtype) or (
        api.is_numeric_dtype(dtype) and not api.is_complex_dtype(dtype)
    )


def _is_missing(value: Any) -> bool:
    """Whether a scalar cell of an object column is missing."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _is_number(value: Any) -> bool:
    """Whether a scalar cell of an object column is a real number (bools included)."""
    return isinstance(value, (numbers.Real, np.bool_))


def _float_values(name: str, s: pd.Series) -> np.ndarray:
    """Convert a column to float64 with NaN for missing cells; raise if non-numeric.

    Object columns are accepted only when every non-missing cell is a real number; text
    (including numbers written as text) is never coerced.
    """
    if _is_real_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    cells = s.tolist()
    is_object = s.dtype == object
    for label, value in zip(s.index, cells, strict=True):
        if not _is_missing(value) and not (is_object and _is_number(value)):
            detail = "" if pd.api.types.is_string_dtype(s.dtype) else f"dtype {s.dtype}; "
            raise DataError(
                f"column {name!r} is not numeric "
                f"({detail}value {_fmt_value(value)} in row {_fmt_row(label)})"
            )
    if not is_object:
        raise DataError(f"column {name!r} is not numeric (dtype {s.dtype})")
    return np.array([np.nan if _is_missing(v) else float(v) for v in cells], dtype=np.float64)


def _finite_values(name: str, s: pd.Series) -> np.ndarray:
    """Convert a column to float64; raise on non-numeric, missing or infinite cells."""
    values = _float_values(name, s)
    missing = np.isnan(values)
    if missing.any():
        first = s.index[int(np.argmax(missing))]
        raise DataError(
            f"column {name!r} has {_plural(int(missing.sum()), 'missing value')} "
            f"(first in row {_fmt_row(first)})"
        )
    infinite = np.isinf(values)
    if infinite.any():
        pos = int(np.argmax(infinite))
        raise DataError(
            f"column {name!r} has {_plural(int(infinite.sum()), 'infinite value')} "
            f"(first: {_fmt_value(values[pos])} in row {_fmt_row(s.index[pos])})"
        )
    return values


# ---------------------------------------------------------------------------- inference


def _infer_one(values: np.ndarray, is_bool: bool) -> tuple[str, str]:
    """Infer ``(type, reason)`` from a column's values; NaN cells are ignored."""
    if is_bool:
        return "binary", "boolean dtype"
    observed = values[~np.isnan(values)]
    if observed.size == 0:
        return "continuous", "real-valued (no observed values)"
    if not np.isfinite(observed).all():
        return "continuous", "real-valued (has infinite values)"
    distinct = np.unique(observed)
    if distinct.size == 1:
        return "continuous", f"constant (every value is {_fmt_value(distinct[0])})"
    if distinct.size == 2 and distinct[0] == 0 and distinct[1] == 1:
        return "binary", "values in {0, 1}"
    if not (distinct == np.round(distinct)).all():
        return "continuous", "real-valued (non-integer values)"
    if distinct[0] < 0:
        return "continuous", "real-valued (negative values)"
    if distinct.size == 2:
        return "continuous", "real-valued (only 2 distinct values, not {0, 1})"
    return "count", "non-negative integers"


def _infer_frame(df: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``{column: (type, reason)}`` for a frame with unique string names."""
    return {
        name: _infer_one(_float_values(name, df[name]), pd.api.types.is_bool_dtype(df[name]))
        for name in df.columns
    }


def infer_types(df: pd.DataFrame) -> dict[str, str]:
    """Infer the variable type of every column.

    Rules, applied to the non-missing values of each (numeric) column:

    1. boolean dtype -> ``"binary"``;
    2. all values in {0, 1} and both occur -> ``"binary"``;
    3. all values non-negative integers (integer dtype, or floats that are all integral)
       with more than 2 distinct values -> ``"count"``;
    4. otherwise -> ``"continuous"``.

    Parameters
    ----------
    df : pandas.DataFrame
        The table; column names are converted to ``str``.

    Returns
    -------
    dict of str to str
        Column name -> type, in column order.

    Raises
    ------
    DataError
        On duplicate column names or a non-numeric column.
    """
    return {name: kind for name, (kind, _) in _infer_frame(_to_frame(df)).items()}


def describe_types(df: pd.DataFrame, types: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Tabulate the type of every column and why it was chosen.

    Parameters
    ----------
    df : pandas.DataFrame
        The table; see :func:`infer_types` for the inference rules.
    types : mapping of str to str, optional
        Explicit types overriding inference (reason ``"declared (inferred: ...)"``).

    Returns
    -------
    pandas.DataFrame
        One row per column with columns ``column``, ``type`` and ``reason`` (e.g.
        ``"values in {0, 1}"``, ``"non-negative integers"``, ``"real-valued (...)"``).

    Raises
    ------
    DataError
        On duplicate column names, a non-numeric column, or ``types`` naming an unknown
        column or type.
    """
    frame = _to_frame(df)
    declared = _check_types_arg(types, list(frame.columns))
    rows = []
    for name, (kind, reason) in _infer_frame(frame).items():
        if name in declared:
            reason = f"declared (inferred: {kind})"
            kind = declared[name]
        rows.append({"column": name, "type": kind, "reason": reason})
    return pd.DataFrame(rows, columns=["column", "type", "reason"])


# ------------------------------------------------------------------------ declared types


def _check_type_name(name: str, kind: Any) -> str:
    """Normalise a declared type (case and surrounding space ignored) or raise."""
    norm = kind.strip().lower() if isinstance(kind, str) else kind
    if norm not in VARIABLE_TYPES:
        raise DataError(
            f"column {name!r}: unknown type {kind!r} (valid types: {', '.join(VARIABLE_TYPES)})"
        )
    return norm


def parse_types(spec: str) -> dict[str, str]:
    """Parse a type specification such as ``"a=binary,b=count"``.

    Items are ``NAME=TYPE`` separated by commas; whitespace around names and types and
    empty items are ignored, types are case-insensitive, and a name may contain ``=``
    (the last ``=`` separates the type) but not ``,``.

    Parameters
    ----------
    spec : str
        The specification; an empty string gives an empty dict.

    Returns
    -------
    dict of str to str
        Column name -> type, each type in :data:`VARIABLE_TYPES`.

    Raises
    ------
    DataError
        On an item that is not ``NAME=TYPE``, an unknown type or a name given twice.
    """
    if not isinstance(spec, str):
        raise DataError(f"a type specification must be a string, got {type(spec).__name__}")
    result: dict[str, str] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, kind = (part.strip() for part in item.rpartition("="))
        if not sep or not name or not kind:
            raise DataError(
                f"bad type specification {item!r}: expected NAME=TYPE (e.g. 'a=binary,b=count')"
            )
        if name in result:
            raise DataError(f"column {name!r} is given a type more than once in {spec!r}")
        result[name] = _check_type_name(name, kind)
    return result


def _check_types_arg(types: Mapping[str, str] | None, columns: Sequence[str]) -> dict[str, str]:
    """Validate the ``types`` argument against the columns; keys are converted to str."""
    if types is None:
        return {}
    if not isinstance(types, Mapping):
        raise DataError(f"types must be a mapping of column -> type, got {type(types).__name__}")
    known = set(columns)
    declared: dict[str, str] = {}
    for key, kind in types.items():
        name = str(key)
        if name not in known:
            raise DataError(
                f"types names column {name!r}, which is not in the data "
                f"(columns: {_fmt_names(list(columns))})"
            )
        declared[name] = _check_type_name(name, kind)
    return declared


def _check_declared(name: str, kind: str, values: np.ndarray, index: pd.Index) -> None:
    """Raise if the values do not fit a declared binary or count type."""
    if kind == "binary":
        bad = (values != 0) & (values != 1)
        problem = "is declared binary but has a value not in {0, 1}"
    elif kind == "count":
        bad = values < 0
        problem = "is declared count but has a negative value"
        if not bad.any():
            bad = values != np.round(values)
            problem = "is declared count but has a non-integer value"
    else:
        return
    if bad.any():
        pos = int(np.argmax(bad))
        raise DataError(
            f"column {name!r} {problem} ({_fmt_value(values[pos])} in row {_fmt_row(index[pos])})"
        )


# ------------------------------------------------------------------------------ encoding


def _check_not_constant(name: str, values: np.ndarray) -> None:
    """Raise if every value of the column is the same."""
    if values.min() == values.max():
        raise DataError(
            f"column {name!r} is constant (every value is {_fmt_value(values[0])}); drop it"
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


def _encode(name: str, kind: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Encode one column: ``(y, x, (center, scale, offset))``."""
    if kind == "continuous":
        z, center, scale = _zscore(name, values, "values")
        return z, z, (center, scale, 0.0)
    if kind == "binary":
        mean = float(values.mean())
        p = min(max(mean, _PROB_CLIP), 1.0 - _PROB_CLIP)
        return values, values - mean, (mean, 1.0, float(np.log(p / (1.0 - p))))
    x, center, scale = _zscore(name, np.log1p(values), "log1p counts")
    with np.errstate(over="ignore"):
        mean = float(values.mean())
    if not np.isfinite(mean):
        raise DataError(f"column {name!r} has counts too large to average")
    return values, x, (center, scale, float(np.log(max(mean, _COUNT_FLOOR))))


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


def prepare(
    data: pd.DataFrame | np.ndarray | str | os.PathLike,
    types: Mapping[str, str] | None = None,
    *,
    min_rows: int = 10,
) -> PreparedData:
    """Validate a data table, settle the variable types and encode it for the model.

    Checks, in this order (each failure raises :class:`DataError` with a one-line
    message naming the column, row or key):

    1. the input kind (a 2-D array, a frame, or a CSV path read by :func:`read_table`);
       column names are converted to ``str`` (arrays get ``"x0"``, ``"x1"``, ...) and must
       be unique;
    2. the shape: at least one row and column, at least 2 columns, at least ``min_rows``
       rows;
    3. ``types``: every key a column, every value in :data:`VARIABLE_TYPES`;
    4. per column: numeric (text, even numbers written as text, is rejected), no missing
       cells, no infinite values;
    5. per column: not constant;
    6. per column: values compatible with a declared type (binary: in {0, 1}; count:
       non-negative integers);
    7. per column: z-scoring is numerically sound.

    Undeclared types are inferred as described in :func:`infer_types`.

    Parameters
    ----------
    data : pandas.DataFrame, numpy.ndarray, str or os.PathLike
        An ``n x d`` table of numbers, or the path of a CSV file holding one.
    types : mapping of str to str, optional
        Explicit types for some or all columns, overriding inference (case-insensitive).
    min_rows : int, default 10
        Fewest rows accepted (at least 2).

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
    df = _to_frame(data)
    _check_shape(df, int(min_rows))
    columns = list(df.columns)
    declared = _check_types_arg(types, columns)
    values = {name: _finite_values(name, df[name]) for name in columns}
    for name in columns:
        _check_not_constant(name, values[name])
    kinds = {
        name: declared.get(name)
        or _infer_one(values[name], pd.api.types.is_bool_dtype(df[name]))[0]
        for name in columns
    }
    for name in columns:
        _check_declared(name, kinds[name], values[name], df.index)
    encoded = [_encode(name, kinds[name], values[name]) for name in columns]
    stats = np.array([e[2] for e in encoded], dtype=np.float64).reshape(len(columns), 3)
    return PreparedData(
        columns=tuple(columns),
        types=tuple(kinds[name] for name in columns),
        y=np.ascontiguousarray(np.stack([e[0] for e in encoded], axis=1)),
        x=np.ascontiguousarray(np.stack([e[1] for e in encoded], axis=1)),
        center=stats[:, 0].copy(),
        scale=stats[:, 1].copy(),
        offset=stats[:, 2].copy(),
        index=tuple(df.index),
    )
