"""Which variable type each column is, and why.

Unless declared explicitly, the type of a column is inferred:

1. an ordered pandas ``category`` -> ``"ordinal"``; an unordered one, or a column whose
   every observed cell is text -> ``"categorical"`` (see :mod:`bayes_hcl.data.categorical`);
2. boolean dtype -> ``"binary"``;
3. every value in {0, 1} and both 0 and 1 occur -> ``"binary"``;
4. every value a non-negative integer (integer dtype, or floats that are all integral)
   with more than 2 distinct values -> ``"count"``;
5. anything else -> ``"continuous"``.

Numbers are never read as levels unless the column is declared categorical or ordinal.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayes_hcl.data.categorical import check_numeric_text, text_kind
from bayes_hcl.data.columns import (
    check_types_arg,
    float_values,
    format_value,
    split_declared,
    to_frame,
)

__all__ = [
    "describe_types",
    "infer_one_type",
    "infer_types",
]


def infer_one_type(values: np.ndarray, is_bool: bool) -> tuple[str, str]:
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
        return "continuous", f"constant (every value is {format_value(distinct[0])})"
    if distinct.size == 2 and distinct[0] == 0 and distinct[1] == 1:
        return "binary", "values in {0, 1}"
    if not (distinct == np.round(distinct)).all():
        return "continuous", "real-valued (non-integer values)"
    if distinct[0] < 0:
        return "continuous", "real-valued (negative values)"
    if distinct.size == 2:
        return "continuous", "real-valued (only 2 distinct values, not {0, 1})"
    return "count", "non-negative integers"


_LEVEL_REASONS = {
    "ordinal": "ordered pandas category",
    "categorical": "pandas category (unordered)",
}


def infer_column(s: pd.Series, name: str) -> tuple[str, str]:
    """``(type, reason)`` of one column; raises on a column of unusable values."""
    kind = text_kind(s)
    if kind is not None:
        check_numeric_text(name, s)
        is_category = isinstance(s.dtype, pd.CategoricalDtype)
        return kind, _LEVEL_REASONS[kind] if is_category else "text values"
    return infer_one_type(float_values(name, s), pd.api.types.is_bool_dtype(s))


def _infer_frame(df: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``{column: (type, reason)}`` for a frame with unique string names."""
    return {name: infer_column(df[name], name) for name in df.columns}


def infer_types(df: pd.DataFrame) -> dict[str, str]:
    """Infer the variable type of every column.

    Rules, applied to the non-missing values of each column:

    1. an ordered pandas ``category`` -> ``"ordinal"``; an unordered one, or all cells
       text -> ``"categorical"``;
    2. boolean dtype -> ``"binary"``;
    3. all values in {0, 1} and both occur -> ``"binary"``;
    4. all values non-negative integers (integer dtype, or floats that are all integral)
       with more than 2 distinct values -> ``"count"``;
    5. otherwise -> ``"continuous"``.

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
        On duplicate column names or a column mixing numbers and text.
    """
    return {name: kind for name, (kind, _) in _infer_frame(to_frame(df)).items()}


_LIKELIHOODS = {
    "continuous": "Gaussian (or the preset's noise law), identity link",
    "binary": "Bernoulli, logit link",
    "poisson": "Poisson, log link",
    "negative_binomial": "negative binomial (NB2), log link",
    "categorical": "categorical, multinomial logit (first level the reference)",
    "ordinal": "Gaussian on the z-scored level ranks (as continuous)",
}


def describe_types(
    df: pd.DataFrame,
    types: Mapping[str, str] | None = None,
    count_likelihood: str = "poisson",
) -> pd.DataFrame:
    """Tabulate what every column will be treated as, and why.

    Parameters
    ----------
    df : pandas.DataFrame
        The table; see :func:`infer_types` for the inference rules.
    types : mapping of str to str, optional
        Explicit types overriding inference (reason ``"declared (inferred: ...)"``); a count
        likelihood (``"poisson"``, ``"negative_binomial"``) declares a count column with it.
    count_likelihood : {"poisson", "negative_binomial"}
        Likelihood of the count columns not declared otherwise (the preset's
        ``model.count_likelihood``).

    Returns
    -------
    pandas.DataFrame
        One row per column with columns ``column``, ``type``, ``likelihood`` (the density
        of the column as a child), ``missing`` (number of missing cells) and ``reason``
        (e.g. ``"values in {0, 1}"``, ``"non-negative integers"``, ``"text values"``,
        ``"real-valued (...)"``).

    Raises
    ------
    DataError
        On duplicate column names, a column mixing numbers and text, or ``types`` naming an
        unknown column or type.
    """
    frame = to_frame(df)
    declared = check_types_arg(types, list(frame.columns))
    rows = []
    for name, (kind, reason) in _infer_frame(frame).items():
        if name in declared:
            reason = f"declared {declared[name]} (inferred: {kind})"
        kind, family = split_declared(declared.get(name, kind))
        rows.append(
            {
                "column": name,
                "type": kind,
                "likelihood": _LIKELIHOODS[
                    family or (count_likelihood if kind == "count" else kind)
                ],
                "missing": int(frame[name].isna().sum()),
                "reason": reason,
            }
        )
    return pd.DataFrame(rows, columns=["column", "type", "likelihood", "missing", "reason"])
