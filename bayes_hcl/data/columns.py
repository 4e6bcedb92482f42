"""The columns of a user's table: reading, per-column checks, and variable types.

Every check on the table's columns (names, numeric values, missing and infinite cells,
declared types) lives here and fails with a :class:`DataError` whose message is a single
line naming the offending column, row or key. :mod:`bayes_hcl.data` builds on it to encode
the table for the model.

Each column is one of :data:`~bayes_hcl.vartypes.VARIABLE_TYPES`;
:mod:`bayes_hcl.data.type_inference` infers the type of an undeclared column.

Rows are named in messages by their index label (for a CSV file or a NumPy array that is
the 0-based data-row number).
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_hcl.errors import DataError
from bayes_hcl.vartypes import COUNT_FAMILIES, DECLARABLE_TYPES

__all__ = [
    "LEVEL_SEPARATOR",
    "MISSING_POLICIES",
    "ORDINAL_PREFIX",
    "check_declared",
    "check_types_arg",
    "column_values",
    "float_values",
    "format_row",
    "format_value",
    "level_orders",
    "missing_error",
    "parse_types",
    "plural",
    "read_table",
    "to_frame",
]

_MAX_REPR = 40  # longest repr of a value or label shown in a message
_MAX_NAMES = 10  # most column names listed in a message


# --------------------------------------------------------------------------- formatting


def _short(text: str) -> str:
    """Truncate ``text`` to :data:`_MAX_REPR` characters."""
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def format_value(value: Any) -> str:
    """Format a cell value for a message (integral floats without a trailing ``.0``)."""
    if isinstance(value, (float, np.floating)) and np.isfinite(value):
        if float(value).is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(float(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return _short(repr(value))


def format_row(label: Hashable) -> str:
    """Format a row label for a message."""
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return str(int(label))
    return _short(repr(label))


def _fmt_names(names: Sequence[str]) -> str:
    """Format a list of column names for a message, truncated after a few."""
    shown = ", ".join(repr(n) for n in names[:_MAX_NAMES])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _MAX_NAMES else "")


def plural(count: int, word: str) -> str:
    """``'1 row'``, ``'3 rows'``."""
    return f"{count} {word}" + ("" if count == 1 else "s")


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
        If the file is missing, a directory, unreadable, empty, has no data rows, has an
        empty or duplicate column name or cannot be parsed; the message names the path.
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
    cells = list(header.iloc[0]) if len(header) else []
    blank = [j for j, v in enumerate(cells) if pd.isna(v) or not str(v).strip()]
    if blank:
        hint = " (a saved row index? write the file with index=False)" if blank == [0] else ""
        raise DataError(
            f"{where} has an empty column name (column {blank[0] + 1} of the header); "
            f"name every column{hint}"
        )
    names = [str(v) for v in cells]
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


def to_frame(data: pd.DataFrame | np.ndarray | str | os.PathLike) -> pd.DataFrame:
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
    blank = [j for j, name in enumerate(df.columns) if not name.strip()]
    if blank:
        raise DataError(
            f"column {blank[0] + 1} (counting from 1) has an empty name; name every column"
        )
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


def float_values(name: str, s: pd.Series) -> np.ndarray:
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
                f"({detail}value {format_value(value)} in row {format_row(label)})"
            )
    if not is_object:
        raise DataError(f"column {name!r} is not numeric (dtype {s.dtype})")
    return np.array([np.nan if _is_missing(v) else float(v) for v in cells], dtype=np.float64)


MISSING_POLICIES: tuple[str, ...] = ("error", "mask")
"""What to do with missing cells: refuse them (default) or mask their likelihood terms."""


def missing_error(name: str, count: int, first: Hashable) -> DataError:
    """The error for missing cells when they are not to be masked."""
    return DataError(
        f"column {name!r} has {plural(count, 'missing value')} "
        f"(first in row {format_row(first)}); drop those rows, or pass missing='mask' "
        "(--missing mask) to treat them as missing at random"
    )


def column_values(name: str, s: pd.Series, missing: str = "error") -> np.ndarray:
    """Convert a column to float64 (NaN for a missing cell when ``missing="mask"``).

    Raises on non-numeric or infinite cells, on a column with no observed value, and on any
    missing cell unless ``missing="mask"``.
    """
    values = float_values(name, s)
    absent = np.isnan(values)
    if absent.all():
        raise DataError(f"column {name!r} has no observed value (every cell is missing); drop it")
    if absent.any() and missing != "mask":
        raise missing_error(name, int(absent.sum()), s.index[int(np.argmax(absent))])
    infinite = np.isinf(values)
    if infinite.any():
        pos = int(np.argmax(infinite))
        raise DataError(
            f"column {name!r} has {plural(int(infinite.sum()), 'infinite value')} "
            f"(first: {format_value(values[pos])} in row {format_row(s.index[pos])})"
        )
    return values


# ------------------------------------------------------------------------ declared types


#: A declared ordinal type with its levels in order: ``"ordinal:low<mid<high"``.
ORDINAL_PREFIX = "ordinal:"
#: Separates the levels of :data:`ORDINAL_PREFIX`, lowest first.
LEVEL_SEPARATOR = "<"


def _level_order(name: str, levels: Any) -> tuple[str, ...]:
    """The levels of an ordinal declaration, lowest first, checked (at least 2, distinct,
    none empty); ``levels`` is a list or tuple of labels or the text after ``ordinal:``."""
    items = levels.split(LEVEL_SEPARATOR) if isinstance(levels, str) else list(levels)
    order = tuple(str(v).strip() for v in items)
    example = f"types={{{name!r}: ['low', 'mid', 'high']}}, --types '{name}=ordinal:low<mid<high'"
    if len(order) < 2 or any(not v for v in order):
        raise DataError(
            f"column {name!r}: an ordinal order needs at least 2 non-empty levels, lowest "
            f"first (got {levels!r}; e.g. {example})"
        )
    repeated = [v for i, v in enumerate(order) if v in order[:i]]
    if repeated:
        raise DataError(f"column {name!r}: level {repeated[0]!r} appears twice in its order")
    return order


def _check_type_name(name: str, kind: Any) -> str:
    """Normalise a declared type (case and surrounding space ignored) or raise.

    A list or tuple of levels, or ``"ordinal:a<b<c"``, declares an ordinal column with that
    order of its levels and normalises to ``"ordinal"``.
    """
    if isinstance(kind, (list, tuple)):
        _level_order(name, kind)
        return "ordinal"
    norm = kind.strip().lower() if isinstance(kind, str) else kind
    if isinstance(norm, str) and norm.startswith(ORDINAL_PREFIX):
        _level_order(name, kind.strip()[len(ORDINAL_PREFIX) :])
        return "ordinal"
    norm = COUNT_FAMILIES.get(norm, norm) if isinstance(norm, Hashable) else norm
    if norm not in DECLARABLE_TYPES:
        raise DataError(
            f"column {name!r}: unknown type {kind!r} "
            f"(valid types: {', '.join(DECLARABLE_TYPES)}, nb, "
            f"or ordinal with its levels in order, e.g. {ORDINAL_PREFIX}low<mid<high)"
        )
    return norm


def level_orders(types: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    """The declared level order of every column declared ordinal with one.

    Parameters
    ----------
    types : mapping, optional
        The ``types`` argument: a value that is a list or tuple of level labels, or
        ``"ordinal:a<b<c"``, gives the order (lowest first); other values are ignored.

    Returns
    -------
    dict of str to tuple of str
        Column name -> its levels in order.
    """
    out: dict[str, tuple[str, ...]] = {}
    for key, kind in (types or {}).items():
        name = str(key)
        if isinstance(kind, (list, tuple)):
            out[name] = _level_order(name, kind)
        elif isinstance(kind, str) and kind.strip().lower().startswith(ORDINAL_PREFIX):
            out[name] = _level_order(name, kind.strip()[len(ORDINAL_PREFIX) :])
    return out


def split_declared(kind: str) -> tuple[str, str]:
    """``(variable type, count likelihood)`` of a declared type: ``"negative_binomial"`` is a
    count with that likelihood; for every other type the likelihood is ``""`` (the preset's)."""
    return ("count", kind) if kind in COUNT_FAMILIES.values() else (kind, "")


def parse_types(spec: str) -> dict[str, str]:
    """Parse a type specification such as ``"a=binary,b=count,grade=ordinal:low<mid<high"``.

    Items are ``NAME=TYPE`` separated by commas; whitespace around names and types and
    empty items are ignored, types are case-insensitive, and a name may contain ``=``
    (the last ``=`` separates the type) but not ``,``. ``NAME=ordinal:A<B<C`` declares an
    ordinal column with levels ``A < B < C`` (lowest first; labels as written, case kept,
    holding neither ``,`` nor ``<``).

    Parameters
    ----------
    spec : str
        The specification; an empty string gives an empty dict.

    Returns
    -------
    dict of str to str
        Column name -> type, each type in :data:`DECLARABLE_TYPES` (``nb`` is read as
        ``negative_binomial``) or ``"ordinal:A<B<C"`` (see :func:`level_orders`).

    Raises
    ------
    DataError
        On an item that is not ``NAME=TYPE``, an unknown type, a bad level order or a name
        given twice.
    """
    if not isinstance(spec, str):
        raise DataError(f"a type specification must be a string, got {type(spec).__name__}")
    result: dict[str, str] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        at = item.lower().find("=" + ORDINAL_PREFIX)
        split = (item[:at], "=", item[at + 1 :]) if at >= 0 else item.rpartition("=")
        name, sep, kind = (part.strip() for part in split)
        if not sep or not name or not kind:
            raise DataError(
                f"bad type specification {item!r}: expected NAME=TYPE (e.g. 'a=binary,b=count')"
            )
        if name in result:
            raise DataError(f"column {name!r} is given a type more than once in {spec!r}")
        norm = _check_type_name(name, kind)
        if norm == "ordinal" and kind.lower().startswith(ORDINAL_PREFIX):
            norm = ORDINAL_PREFIX + LEVEL_SEPARATOR.join(
                _level_order(name, kind[len(ORDINAL_PREFIX) :])
            )
        result[name] = norm
    return result


def check_types_arg(types: Mapping[str, Any] | None, columns: Sequence[str]) -> dict[str, str]:
    """Validate the ``types`` argument against the columns; keys are converted to str.

    Values are type names, or an ordinal column's levels in order (a list or tuple, or
    ``"ordinal:a<b<c"``), which give ``"ordinal"`` here; :func:`level_orders` returns the
    orders.
    """
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


#: Largest integer a float32 holds exactly: the model computes in float32.
EXACT_COUNT_LIMIT = 2**24


def _warn_large_counts(name: str, values: np.ndarray) -> None:
    """Warn when a count column holds values float32 cannot hold exactly (often not a
    count at all: an identifier, an amount of money, a timestamp)."""
    if values.size and float(values.max()) > EXACT_COUNT_LIMIT:
        warnings.warn(
            f"column {name!r} holds counts up to {values.max():.3g}, beyond 2^24 (the model "
            "computes in float32, so they are rounded); if it is not a count, declare it "
            "continuous or transform it",
            UserWarning,
            stacklevel=4,
        )


def check_declared(name: str, kind: str, values: np.ndarray, index: pd.Index) -> None:
    """Raise if the (observed) values do not fit a declared binary or count type."""
    observed = ~np.isnan(values)
    if kind == "binary":
        bad = observed & (values != 0) & (values != 1)
        problem = "is declared binary but has a value not in {0, 1}"
    elif kind == "count":
        bad = observed & (values < 0)
        problem = "is declared count but has a negative value"
        if not bad.any():
            bad = observed & (values != np.round(values))
            problem = "is declared count but has a non-integer value"
    else:
        return
    if kind == "count" and not bad.any():
        _warn_large_counts(name, values[observed])
    if bad.any():
        pos = int(np.argmax(bad))
        raise DataError(
            f"column {name!r} {problem} "
            f"({format_value(values[pos])} in row {format_row(index[pos])})"
        )
