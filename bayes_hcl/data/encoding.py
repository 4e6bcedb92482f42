"""Per-column encoding for :func:`bayes_hcl.data.prepare`: values to responses, covariates
and offsets; categorical blocks; missing covariates filled by EM conditional means; size
factors. Every failure is a :class:`~bayes_hcl.errors.DataError` with a one-line message."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_hcl.data.categorical import (
    LEVEL_KINDS,
    check_levels,
    check_numeric_text,
    declared_text_error,
    level_codes,
    one_hot_block,
    ordered_level_codes,
    proxy_score,
    text_kind,
    unordered_ordinal_error,
)
from bayes_hcl.data.columns import column_values, format_row, format_value, plural, split_declared
from bayes_hcl.data.type_inference import infer_one_type
from bayes_hcl.errors import DataError

__all__ = [
    "PROB_CLIP",
    "check_shape",
    "conditional_mean_fill",
    "encode_column",
    "model_covariates",
    "read_column",
    "row_size_factors",
]

PROB_CLIP = 1e-3  # binary mean is clipped to [PROB_CLIP, 1 - PROB_CLIP] for the offset
_COUNT_FLOOR = 1e-3  # count mean is clipped below at this value for the offset
_STANDARDISE_TOL = 1e-6  # z-scored columns must have |mean| and |sd - 1| below this


def _check_not_constant(name: str, values: np.ndarray) -> None:
    """Raise if every observed value of the column is the same."""
    seen = values[~np.isnan(values)]
    if seen.min() == seen.max():
        raise DataError(
            f"column {name!r} is constant (every value is {format_value(seen[0])}); drop it"
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
    if kind in ("continuous", "ordinal"):
        z, center, scale = _zscore(name, values, "values")
        return z, z, (center, scale, 0.0)
    if kind == "categorical":
        # level codes; the model's covariates are the indicator block (see model_covariates)
        return values, values, (0.0, 1.0, 0.0)
    if kind == "binary":
        mean = float(values.mean())
        p = min(max(mean, PROB_CLIP), 1.0 - PROB_CLIP)
        return values, values - mean, (mean, 1.0, float(np.log(p / (1.0 - p))))
    normalised = values / size
    x, center, scale = _zscore(name, np.log1p(normalised), "log1p counts")
    with np.errstate(over="ignore"):
        mean = float(normalised.mean())
    if not np.isfinite(mean):
        raise DataError(f"column {name!r} has counts too large to average")
    return values, x, (center, scale, float(np.log(max(mean, _COUNT_FLOOR))))


def encode_column(name: str, kind: str, values: np.ndarray, size: np.ndarray):
    """Encode a column with missing cells (NaN): statistics from the observed cells only."""
    seen = ~np.isnan(values)
    y_seen, x_seen, stats = _encode(name, kind, values[seen], size[seen])
    neutral = np.bincount(y_seen.astype(int)).argmax() if kind == "categorical" else y_seen.mean()
    y = np.full(values.shape, float(neutral))
    x = np.zeros(values.shape)
    y[seen], x[seen] = y_seen, x_seen
    return y, x, stats


def conditional_mean_fill(x: np.ndarray, observed: np.ndarray, iterations: int = 20):
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


def check_shape(df: pd.DataFrame, min_rows: int) -> None:
    """Raise on an empty table, a single column or too few rows."""
    n, d = df.shape
    if n == 0 or d == 0:
        raise DataError(f"data is empty ({plural(n, 'row')}, {plural(d, 'column')})")
    if d < 2:
        name = str(df.columns[0])
        found = [sep for sep in (";", "\t", "|") if sep in name]
        hint = (
            f" (its name holds {found[0]!r}: is the file separated by {found[0]!r}? CSV files "
            "are read comma-separated, .tsv and .tab files tab-separated)"
            if found
            else ""
        )
        raise DataError(f"data has a single column {name!r}; at least 2 variables are needed{hint}")
    if n < min_rows:
        raise DataError(f"data has {plural(n, 'row')} but at least {min_rows} are needed")


def row_size_factors(
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
                f"row {format_row(df.index[int(np.argmax(empty))])} has no counts in any count "
                f"column ({plural(int(empty.sum()), 'row')} in all), so its size factor "
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
            f"size-factor column {name!r} has {plural(int(bad.sum()), 'value')} <= 0 "
            f"(first: {format_value(values[pos])} in row {format_row(df.index[pos])}); size "
            "factors must be positive"
        )
    return values


def read_column(
    name: str, s: pd.Series, declared: dict, missing: str, order: tuple[str, ...] | None = None
):
    """Values (level codes for a categorical or ordinal column), levels, (type, likelihood).

    ``order`` is the level order of a column declared ordinal with one (lowest first; see
    :func:`bayes_hcl.data.columns.level_orders`).
    """
    text, kind = text_kind(s), declared.get(name)
    if text is not None and kind is not None and kind not in LEVEL_KINDS:
        raise declared_text_error(name, s, kind)
    if kind == "ordinal" and order is not None:
        codes, levels = ordered_level_codes(name, s, order, missing)
        check_levels(name, kind, codes, levels)
        return codes, levels, (kind, "")
    if kind == "ordinal" and text == "categorical":
        # text has no order of its own: sorted labels would rank 'high' < 'low' < 'mid'
        raise unordered_ordinal_error(name, s)
    if kind is None and text is not None:
        check_numeric_text(name, s)
    if kind in LEVEL_KINDS or (kind is None and text is not None):
        kind = kind or text
        codes, levels = level_codes(name, s, missing)
        check_levels(name, kind, codes, levels)
        return codes, levels, (kind, "")
    values = column_values(name, s, missing)
    _check_not_constant(name, values)
    kind = kind or infer_one_type(values, pd.api.types.is_bool_dtype(s))[0]
    return values, (), split_declared(kind)


def model_covariates(x: np.ndarray, observed: np.ndarray, kinds: list[str], levels: list[tuple]):
    """Model-column covariates (categorical variables as centred indicator blocks, missing
    cells at conditional means) and each variable's one covariate (a categorical variable's
    proxy score)."""
    blocks = [
        one_hot_block(np.where(observed[:, j], x[:, j], np.nan), len(levels[j]))[2]
        if kind == "categorical"
        else np.where(observed[:, [j]], x[:, [j]], np.nan)
        for j, kind in enumerate(kinds)
    ]
    widths = [b.shape[1] for b in blocks]
    raw = np.concatenate(blocks, axis=1)
    design = conditional_mean_fill(np.nan_to_num(raw), ~np.isnan(raw))
    node_of = np.repeat(np.arange(len(kinds)), widths)
    per_variable = x.copy()
    for j, kind in enumerate(kinds):
        if kind == "categorical":
            own = node_of == j
            per_variable[:, j] = proxy_score(design[:, own], design[:, ~own])
        else:
            per_variable[:, j] = design[:, node_of == j][:, 0]
    return design, per_variable
