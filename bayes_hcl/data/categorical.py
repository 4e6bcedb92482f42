"""Categorical and ordinal variables: their levels, codes and one-hot design columns.

A column is categorical when it holds text, is an unordered pandas ``category``, or is
declared ``categorical``; it is ordinal when it is an ordered pandas ``category`` or is
declared ``ordinal``. Levels are the categories of a pandas ``category`` in their order, the
sorted distinct strings of a text column, or the sorted distinct numbers of a declared
numeric column.

Encoding for the model (see :mod:`bayes_hcl.data`):

* **categorical** (``L`` levels): the first level is the reference; each other level has a
  model column holding its indicator. As a child the variable has a multinomial-logit
  equation (one linear predictor per non-reference level); as a parent its block of
  indicators, each z-scored, enters its children with one shared edge indicator (group
  spike-and-slab). Z-scoring puts level effects on the scale of every other covariate (a
  rare level's raw indicator has a small sd, so its weight would need to be large under the
  same slab); with centred-only indicators, fits were seen to split a population along a
  parent's levels. Tools that need one column per variable (the order search, the
  diagnostics) see a single *score* column: the block's direction most correlated with the
  other variables (:func:`proxy_score`).
* **ordinal**: the level ranks ``0 .. L - 1``, z-scored and modelled as a continuous variable
  (a linear-Gaussian equation on the ranks). This keeps the order of the levels and one
  weight per edge; it treats neighbouring levels as equally spaced. Text has no order of its
  own: declared ordinal, it needs its levels in order (``types={"grade": ["low", "mid",
  "high"]}`` or ``--types "grade=ordinal:low<mid<high"``; :func:`ordered_level_codes`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_hcl.data.columns import (
    LEVEL_SEPARATOR,
    column_values,
    format_row,
    format_value,
    missing_error,
    plural,
)
from bayes_hcl.errors import DataError

__all__ = [
    "LEVEL_KINDS",
    "MAX_LEVELS",
    "MIN_ROWS_PER_LEVEL",
    "check_numeric_text",
    "level_codes",
    "one_hot_block",
    "ordered_level_codes",
    "proxy_score",
    "text_kind",
    "unordered_ordinal_error",
]

#: Variable types whose values are levels.
LEVEL_KINDS: tuple[str, ...] = ("categorical", "ordinal")
#: Most levels of one categorical variable (each costs a model column).
MAX_LEVELS = 50
#: Fewest observed rows per level, on average, a categorical variable needs.
MIN_ROWS_PER_LEVEL = 5


def text_kind(s: pd.Series) -> str | None:
    """``"categorical"`` or ``"ordinal"`` for a pandas ``category`` or an all-text column,
    ``None`` for anything else (numbers, booleans, or text mixed with numbers)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "ordinal" if s.dtype.ordered else "categorical"
    if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
        return None
    cells = [v for v in s.tolist() if not pd.isna(v)]
    return "categorical" if cells and all(isinstance(v, str) for v in cells) else None


def _parses_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_numeric_text(name: str, s: pd.Series) -> None:
    """Refuse a text column whose cells are mostly numbers: a typo in a numeric column of a
    CSV file (which the reader then keeps as text) would otherwise become a categorical
    variable with one level per distinct number. Declaring the column categorical accepts
    it as such."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return
    observed = s[s.notna()]
    text = observed.astype(str)
    # each distinct cell parsed once (a million-row column has few distinct texts)
    distinct = text.unique()
    parses = dict(zip(distinct, map(_parses_as_number, distinct), strict=True))
    numeric = text.map(parses).to_numpy(dtype=bool)
    if not len(numeric) or numeric.all() or numeric.sum() <= len(numeric) / 2:
        return
    first = int(np.argmin(numeric))
    label, value = observed.index[first], observed.iloc[first]
    raise DataError(
        f"column {name!r} holds numbers and text ({format_value(value)} in row "
        f"{format_row(label)}); correct the "
        f"cell, or declare the column categorical (types={{{name!r}: 'categorical'}}, "
        f"--types {name}=categorical)"
    )


def _level_label(value) -> str:
    """Label of a numeric level: ``"3"`` for an integral value, else its repr."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def level_codes(
    name: str, s: pd.Series, missing: str = "error"
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Level code (``0 .. L - 1``, NaN where missing) of every cell, and the level labels.

    Raises :class:`~bayes_hcl.errors.DataError` on missing cells (unless
    ``missing="mask"``), a column with no observed value, or a numeric column with infinite
    values.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        raw = s.cat.codes.to_numpy()
        codes = np.where(raw < 0, np.nan, raw.astype(np.float64))
        levels = tuple(str(c) for c in s.cat.categories)
    elif text_kind(s) is not None:
        present = s.notna().to_numpy()
        levels = tuple(sorted({str(v) for v in s[present]}))
        lookup = {level: i for i, level in enumerate(levels)}
        codes = np.array(
            [lookup[str(v)] if ok else np.nan for v, ok in zip(s, present, strict=True)]
        )
    else:
        values = column_values(name, s, missing)
        distinct = np.unique(values[~np.isnan(values)])
        codes = np.where(np.isnan(values), np.nan, np.searchsorted(distinct, values))
        levels = tuple(_level_label(v) for v in distinct)
    absent = np.isnan(codes)
    if absent.all():
        raise DataError(f"column {name!r} has no observed value (every cell is missing); drop it")
    if absent.any() and missing != "mask":
        raise missing_error(name, int(absent.sum()), s.index[int(np.argmax(absent))])
    return codes.astype(np.float64), levels


def _cell_label(value) -> str:
    """The label a cell is matched by against a declared order: text as it is, a number
    as its level label (``3`` for ``3.0``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return _level_label(value)
    return str(value)


def ordered_level_codes(
    name: str, s: pd.Series, order: tuple[str, ...], missing: str = "error"
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Level codes of a column declared ordinal with its levels in ``order`` (lowest first).

    Cells are matched by their label (text as written; a number as ``3`` or ``2.5``).
    Raises :class:`~bayes_hcl.errors.DataError` on a cell whose label is not in ``order``,
    a level of ``order`` no row has, or missing cells (unless ``missing="mask"``).
    """
    present = s.notna().to_numpy()
    if not present.any():
        raise DataError(f"column {name!r} has no observed value (every cell is missing); drop it")
    if not present.all() and missing != "mask":
        raise missing_error(name, int((~present).sum()), s.index[int(np.argmin(present))])
    lookup = {level: i for i, level in enumerate(order)}
    observed = s[present]
    labels = {v: _cell_label(v) for v in pd.unique(observed.astype(object))}
    unknown = [v for v, label in labels.items() if label not in lookup]
    if unknown:
        row = observed.index[int(np.argmax(observed.astype(object).isin(unknown[:1]).to_numpy()))]
        raise DataError(
            f"column {name!r} has a value {format_value(unknown[0])} (row {format_row(row)}) "
            f"that is not in its declared order {LEVEL_SEPARATOR.join(order)}; add it to "
            "the order"
        )
    codes = np.full(len(s), np.nan)
    codes[present] = [lookup[labels[v]] for v in observed.astype(object)]
    used = set(codes[present].astype(int).tolist())
    unused = [level for i, level in enumerate(order) if i not in used]
    if unused:
        raise DataError(
            f"column {name!r} has no row with level {unused[0]!r} of its declared order; "
            "drop that level from the order"
        )
    return codes, tuple(order)


def unordered_ordinal_error(name: str, s: pd.Series) -> DataError:
    """The error for text or an unordered category declared ``ordinal`` without an order:
    it names the two ways to give the order, with the column's own levels."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        levels = [str(c) for c in s.cat.categories]
    else:
        levels = sorted({str(v) for v in s[s.notna()]})
    shown = levels if len(levels) <= 6 else [*levels[:5], "..."]
    return DataError(
        f"column {name!r} has levels without an order (text or an unordered category); to "
        f"treat it as ordinal, give its levels lowest first (types={{{name!r}: {shown!r}}}, "
        f"--types '{name}=ordinal:{LEVEL_SEPARATOR.join(shown)}', reordered), or declare it "
        "categorical"
    )


def check_levels(name: str, kind: str, codes: np.ndarray, levels: tuple[str, ...]) -> None:
    """Raise if a categorical or ordinal column has one level, or more than its rows allow."""
    used = np.unique(codes[~np.isnan(codes)]).astype(int)
    if used.size < 2:
        raise DataError(
            f"column {name!r} is {kind} with a single level {format_value(levels[used[0]])}; "
            "it carries no information, drop it"
        )
    if used.size < len(levels):
        empty = [levels[i] for i in range(len(levels)) if i not in set(used)]
        raise DataError(
            f"column {name!r} has a level with no observed row ({format_value(empty[0])}); "
            "remove unused categories (pandas: .cat.remove_unused_categories())"
        )
    n_seen = int((~np.isnan(codes)).sum())
    limit = min(MAX_LEVELS, n_seen // MIN_ROWS_PER_LEVEL)
    if kind == "categorical" and len(levels) > limit:
        raise DataError(
            f"column {name!r} has {len(levels)} levels for {plural(n_seen, 'observed row')}; "
            f"a categorical variable may have at most {limit} here ({MIN_ROWS_PER_LEVEL} rows "
            f"per level, never more than {MAX_LEVELS}): merge rare levels, or declare it "
            "ordinal or numeric"
        )


def one_hot_block(codes: np.ndarray, n_levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indicators of the non-reference levels ``(n, L - 1)``, their observed shares, and the
    block z-scored (NaN rows where the code is missing)."""
    seen = ~np.isnan(codes)
    safe = np.where(seen, codes, 0).astype(int)
    indicators = (safe[:, None] == np.arange(1, n_levels)[None, :]).astype(np.float64)
    indicators[~seen] = 0.0
    shares = indicators[seen].mean(0)
    sd = np.sqrt(shares * (1.0 - shares))
    z = np.where(seen[:, None], (indicators - shares) / sd, np.nan)
    return indicators, shares, z


def proxy_score(block: np.ndarray, others: np.ndarray) -> np.ndarray:
    """One z-scored column standing for a categorical variable's centred block.

    The score is ``block @ u`` for the unit vector ``u`` most aligned with the block's
    covariance with the other variables (the top left singular vector of
    ``block.T @ others``), so a linear score of the other variables sees as much of the
    variable as one column can carry; with no such covariance, the block's first principal
    direction. The sign makes the largest loading positive.
    """
    cross = block.T @ others / len(block) if others.size else np.zeros((block.shape[1], 0))
    source = cross if np.abs(cross).sum() > 1e-12 else block.T @ block
    u = np.linalg.svd(source, full_matrices=False)[0][:, 0]
    u = u if u[np.argmax(np.abs(u))] > 0 else -u
    score = block @ u
    sd = score.std()
    return (score - score.mean()) / (sd if sd > 0 else 1.0)


def declared_text_error(name: str, s: pd.Series, kind: str) -> DataError:
    """The error for a text column declared with a numeric type."""
    present = s.notna().to_numpy()
    first = int(np.argmax(present))
    return DataError(
        f"column {name!r} holds text ({format_value(s.iloc[first])} in row "
        f"{format_row(s.index[first])}) but is declared {kind}; declare it categorical or "
        "ordinal, or convert it to numbers"
    )
