"""Which variable type each column is, and why.

Unless declared explicitly, the type of a column is inferred, on its observed cells:

1. an ordered pandas ``category`` -> ``"ordinal"``; an unordered one, or a column whose
   every observed cell is text -> ``"categorical"`` (see :mod:`bayes_hcl.data.categorical`);
2. boolean dtype -> ``"binary"``;
3. every value in {0, 1} and both 0 and 1 occur -> ``"binary"``;
4. every value a non-negative integer (integer dtype, or floats that are all integral)
   with more than 2 distinct values -> ``"count"``, unless rule 5 reads it as no count;
5. **integers that are not counts** -> ``"continuous"``: an age (18-90), a year (1990-2020)
   or an identifier (1..n) is no count, and a Poisson likelihood on it makes the mixture
   invent clusters to absorb its spread. A non-negative integer column is read as continuous
   when it is

   * an **identifier**: at least :data:`MEASUREMENT_MIN_LEVELS` (20) observed values, all
     distinct and consecutive (``1..n``, ``0..n-1``, ``1001..1000+n``); or
   * a **measurement**: all of

     - at least :data:`MEASUREMENT_MIN_LEVELS` (20) distinct values (a wide range);
     - every value at least :data:`MEASUREMENT_MIN_VALUE` (10): the column never comes near
       zero, where counts pile up. Should it be a count all the same, each population's
       Poisson mean is then well above 10, where a Gaussian per cluster describes it about
       as well (skewness ``1 / sqrt(mean)`` under 0.3), so little is lost;
     - its dispersion index ``D = variance / mean`` (sample variance, ``ddof=1``) lies
       outside :data:`POISSON_BAND` ``[0.5, 2]``, so a Poisson (``D = 1``) cannot hold it;
     - if ``D > 2``, it is not right-skewed like a count: its sample skewness is below half
       the skewness ``(2 D - 1) / sd`` of a negative binomial with its mean and variance
       (:data:`MEASUREMENT_MAX_SKEW_SHARE`). ``D < 0.5`` needs no such check: no Poisson or
       negative binomial count, nor any mixture of them, is that regular (a year has ``D``
       about 0.04).

   An age spread over 18-90 (``D`` about 8, skewness near 0 against 0.75 for the negative
   binomial) is continuous; a Poisson count with a large mean (``D`` near 1) and a gene's
   negative binomial counts (skewness about that of the negative binomial) stay counts. The
   rule reads the marginal values only, so it cannot tell an age from two hidden populations
   of counts with Poisson means 30 and 60 (no value under 10, ``D`` about 6, nearly
   symmetric): both are read as continuous, and declaring the column ``count`` restores the
   Poisson. Nor can it tell, at a few hundred rows, an age whose distribution is itself
   right-skewed from a count: that stays a count (declare it ``continuous``).
6. anything else -> ``"continuous"``.

Numbers are never read as levels unless the column is declared categorical or ordinal.

Every inferred column may carry a flag and a note with the override
(:func:`column_note`): :func:`describe_types` lists them, :func:`bayes_hcl.fit` records them
with the result (``HCLResult.column_types()``) and warns (``UserWarning``, one message per
flag naming its columns) about the identifiers, the short scales and the overdispersed
counts. A declared type is never overridden, flagged or warned about.

* **identifier** / **measurement** (rule 5; read as continuous): the note says how to drop
  the identifier or to keep the column a count (``types={"age": "count"}``). Measurements
  are not warned about: the type table says what was assumed.

* **short scale** (``flag = "short_scale"``): 3 to :data:`SCALE_MAX_LEVELS` (10) distinct
  values that are consecutive integers starting at 1 or above (1-5, 1-7, 1-10): a score or
  rating looks like this. It stays a count (a count of 1 to 5 events looks the same), and
  the note offers the override ``types={"score": "ordinal"}`` (``--types score=ordinal``),
  which models its levels as ranks.
* **overdispersed** (``flag = "overdispersed"``, counts with a Poisson likelihood only): at
  least :data:`OVERDISPERSED_MIN_ROWS` (20) observed values, ``D > 2`` and ``phi > 1``. The
  fix is a negative binomial likelihood: ``types={"c": "negative_binomial"}``
  (``--types c=nb``) or the preset's ``count_likelihood = "negative_binomial"``. Hidden
  clusters and parents make a marginal count overdispersed too, so the threshold is set
  where a few populations would not reach it: a mixture of Poissons whose means ``l_k`` lie
  within a factor ``r`` of each other has ``phi = Var(l) / E(l)**2 <= (r - 1)**2 / (4 r)``
  whatever its weights, which is 0.56 for ``r = 4`` and 1 only at ``r = 5.8``. A parent
  with log-scale weight ``b`` on a standard normal covariate gives ``phi = exp(b**2) - 1``,
  which passes 1 only for ``b > 0.83`` (a one-sd change multiplying the mean by 2.3 or
  more); such a parent can set the flag off on a Poisson count. ``D > 2`` keeps the noise
  of ``phi`` at small means (where ``phi`` is a ratio of small numbers) from setting it off.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

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
from bayes_hcl.errors import DataError

__all__ = [
    "DECLARED_PREFIX",
    "MEASUREMENT_MAX_SKEW_SHARE",
    "MEASUREMENT_MIN_LEVELS",
    "MEASUREMENT_MIN_VALUE",
    "MIXTURE_MAX_PHI",
    "OVERDISPERSED_MIN_ROWS",
    "POISSON_BAND",
    "SCALE_MAX_LEVELS",
    "TYPE_TABLE_COLUMNS",
    "column_note",
    "continuous_likelihood",
    "describe_types",
    "dispersion",
    "infer_one_type",
    "infer_types",
    "type_reason",
    "type_records",
    "type_warnings",
]

#: Fewest distinct values of an integer column read as a measurement (rule 5).
MEASUREMENT_MIN_LEVELS = 20
#: Smallest value every value of an integer column read as a measurement has (rule 5).
MEASUREMENT_MIN_VALUE = 10
#: A measurement's skewness is below this share of a negative binomial's (rule 5).
MEASUREMENT_MAX_SKEW_SHARE = 0.5
#: Dispersion indices ``variance / mean`` a Poisson can hold; outside, rule 5 may apply and
#: above the upper end an inferred Poisson count may be flagged overdispersed.
POISSON_BAND = (0.5, 2.0)
#: Excess dispersion ``(variance - mean) / mean**2`` above which an inferred Poisson count
#: is flagged overdispersed (beyond what a few Poisson populations give).
MIXTURE_MAX_PHI = 1.0
#: Most distinct values of a short integer scale (1-5, 1-7, 1-10) offered as ordinal.
SCALE_MAX_LEVELS = 10
#: Fewest observed values for the overdispersion flag.
OVERDISPERSED_MIN_ROWS = 20
#: How the reason of a declared type starts (``"declared ordinal (inferred: count)"``).
DECLARED_PREFIX = "declared "
#: The columns of a type table (:func:`describe_types`, :func:`type_records`).
TYPE_TABLE_COLUMNS = ("column", "type", "likelihood", "missing", "reason", "flag", "note")

_MEASUREMENT = "integers that look like measurements"
_IDENTIFIER = "integers that look like a row identifier"


def dispersion(values: np.ndarray) -> tuple[float, float]:
    """Dispersion index ``D = variance / mean`` and excess dispersion
    ``phi = (variance - mean) / mean**2`` of non-negative values with a positive mean
    (sample variance, ``ddof=1``; a Poisson has ``D = 1``, ``phi = 0``)."""
    mean = float(np.mean(values))
    var = float(np.var(values, ddof=1)) if values.size > 1 else 0.0
    return var / mean, (var - mean) / mean**2


def _ratio(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _not_count_reason(observed: np.ndarray, distinct: np.ndarray) -> str | None:
    """Why a non-negative integer column is read as continuous (rule 5), or None."""
    if distinct.size < MEASUREMENT_MIN_LEVELS:
        return None
    low, high = format_value(distinct[0]), format_value(distinct[-1])
    if distinct.size == observed.size and distinct[-1] - distinct[0] + 1 == distinct.size:
        return f"{_IDENTIFIER} ({distinct.size} distinct consecutive integers, {low} to {high})"
    if distinct[0] < MEASUREMENT_MIN_VALUE:
        return None
    index, _ = dispersion(observed)
    if POISSON_BAND[0] <= index <= POISSON_BAND[1]:
        return None
    shape = ""
    if index > POISSON_BAND[1]:
        sd = float(np.std(observed, ddof=1))
        centred = observed - observed.mean()
        skew = float(np.mean(centred**3) / np.mean(centred**2) ** 1.5)
        count_skew = (2.0 * index - 1.0) / sd
        if skew >= MEASUREMENT_MAX_SKEW_SHARE * count_skew:
            return None
        shape = f", skewness {skew:.2g} against a count's {count_skew:.2g}"
    return (
        f"{_MEASUREMENT} ({distinct.size} levels from {low} to {high}, variance "
        f"{_ratio(index)}x the mean where a Poisson count's is 1x{shape})"
    )


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
    not_count = _not_count_reason(observed, distinct)
    if not_count is not None:
        return "continuous", not_count
    return "count", "non-negative integers"


def _short_scale(observed: np.ndarray) -> tuple[int, int] | None:
    """``(lowest, highest)`` of a short integer scale (consecutive integers from 1 or above,
    3 to :data:`SCALE_MAX_LEVELS` of them), else None."""
    distinct = np.unique(observed)
    if not 3 <= distinct.size <= SCALE_MAX_LEVELS or distinct[0] < 1:
        return None
    consecutive = distinct[-1] - distinct[0] + 1 == distinct.size
    if not consecutive or not (distinct == np.round(distinct)).all():
        return None
    return int(distinct[0]), int(distinct[-1])


def _override(name: str, kind: str) -> str:
    """The two spellings of a declaration: ``types={'c': 'nb'} (--types c=nb)``."""
    return f"types={{{name!r}: {kind!r}}}, --types {shlex.quote(f'{name}={kind}')}"


def column_note(
    name: str, kind: str, reason: str, likelihood: str, values: np.ndarray
) -> tuple[str, str]:
    """``(flag, note)`` of a column whose type was inferred (module docstring).

    Parameters
    ----------
    name : str
        The column.
    kind : str
        Its variable type.
    reason : str
        Why it has that type (a declared type gets no note).
    likelihood : str
        Its count likelihood (``"poisson"`` or ``"negative_binomial"``; ignored for other
        types).
    values : numpy.ndarray
        Its values in data units (NaN where missing); read for count columns only.

    Returns
    -------
    tuple of str
        ``flag`` (``""``, ``"identifier"``, ``"measurement"``, ``"short_scale"`` or
        ``"overdispersed"``) and
        ``note``, one line with the override (``""`` when there is none).
    """
    if reason.startswith(DECLARED_PREFIX):
        return "", ""
    if kind == "continuous" and reason.startswith(_IDENTIFIER):
        return "identifier", "if it numbers the rows, drop it: a row number is no variable"
    if kind == "continuous" and reason.startswith(_MEASUREMENT):
        return "measurement", f"if it counts events, declare it count ({_override(name, 'count')})"
    if kind != "count":
        return "", ""
    observed = values[~np.isnan(values)]
    scale = _short_scale(observed)
    if scale is not None:
        return "short_scale", (
            f"a short integer scale ({scale[0]}-{scale[1]}): if it is a score or rating, "
            f"declare it ordinal ({_override(name, 'ordinal')})"
        )
    if likelihood != "poisson" or observed.size < OVERDISPERSED_MIN_ROWS:
        return "", ""
    index, phi = dispersion(observed)
    if index <= POISSON_BAND[1] or phi <= MIXTURE_MAX_PHI:
        return "", ""
    return "overdispersed", (
        f"overdispersed for a Poisson (variance {_ratio(index)}x the mean, phi {phi:.3g} > 1, "
        "beyond a mixture of Poissons with means within a factor of 5.8): declare it negative "
        f"binomial ({_override(name, 'nb')}) or set the preset's count_likelihood = "
        '"negative_binomial"'
    )


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


def type_reason(name: str, s: pd.Series, declared: str | None = None) -> str:
    """Why a column has its type: the inference's reason, or for a declared type
    ``"declared TYPE (inferred: TYPE)"`` (without the inferred part when the values give
    none, e.g. numbers as text declared categorical)."""
    try:
        kind, reason = infer_column(s, name)
    except DataError:
        kind, reason = "", ""
    if declared is None:
        return reason
    return f"{DECLARED_PREFIX}{declared}" + (f" (inferred: {kind})" if kind else "")


def _infer_frame(df: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``{column: (type, reason)}`` for a frame with unique string names."""
    return {name: infer_column(df[name], name) for name in df.columns}


def infer_types(df: pd.DataFrame) -> dict[str, str]:
    """Infer the variable type of every column.

    The rules, applied to the non-missing values of each column, are those of
    :mod:`bayes_hcl.data.type_inference`: categories and text are levels, booleans and
    {0, 1} binary, non-negative integers counts unless they look like a row identifier or a
    measurement (20 or more levels, none below 10, variance outside 0.5-2 times the mean,
    not skewed like a count: continuous), anything else continuous.

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
    "continuous": "Gaussian, identity link",
    "binary": "Bernoulli, logit link",
    "poisson": "Poisson, log link",
    "negative_binomial": "negative binomial (NB2), log link",
    "categorical": "categorical, multinomial logit (first level the reference)",
    "ordinal": "Gaussian on the z-scored level ranks (as continuous)",
}


def continuous_likelihood(noise_family: str = "gaussian", noise_components: int = 1) -> str:
    """How a continuous child's density reads in a type table, for a preset's noise law."""
    if noise_components > 1:
        return f"Gaussian mixture ({noise_components} components), identity link"
    names = {"student_t": "Student-t (learned df)", "skew_t": "Skew-t (learned df and skew)"}
    return f"{names.get(noise_family, noise_family.capitalize())}, identity link"


def _row(
    name: str,
    kind: str,
    family: str,
    missing: int,
    reason: str,
    values: np.ndarray,
    continuous: str = _LIKELIHOODS["continuous"],
) -> dict[str, Any]:
    """One row of a type table; ``family`` is the column's count likelihood, ``continuous``
    the continuous children's density."""
    likelihood = (
        continuous if kind == "continuous" else _LIKELIHOODS[family if kind == "count" else kind]
    )
    flag_note = column_note(name, kind, reason, family, values)
    cells = (name, kind, likelihood, int(missing), reason, *flag_note)
    return dict(zip(TYPE_TABLE_COLUMNS, cells, strict=True))


def type_records(
    columns: Sequence[str],
    types: Sequence[str],
    families: Sequence[str],
    values: np.ndarray,
    observed: np.ndarray,
    reasons: Sequence[str],
    count_likelihood: str = "poisson",
    continuous: str = _LIKELIHOODS["continuous"],
) -> list[dict[str, Any]]:
    """The type table of an encoded table, as JSON-ready records (one per column).

    Parameters
    ----------
    columns, types : sequence of str
        Column names and variable types.
    families : sequence of str
        Per column, a declared count likelihood or ``""`` (the preset's).
    values : numpy.ndarray
        ``(n, d)`` values; the count columns' must be the raw counts.
    observed : numpy.ndarray
        ``(n, d)`` bool, False at a missing cell.
    reasons : sequence of str
        Why each column has its type (empty: not recorded).
    count_likelihood : {"poisson", "negative_binomial"}
        The preset's count likelihood.
    continuous : str
        The continuous children's density as the table states it (the preset's noise law,
        :func:`continuous_likelihood`).

    Returns
    -------
    list of dict
        Keys :data:`TYPE_TABLE_COLUMNS` (see :func:`describe_types`).
    """
    reasons = list(reasons) or [""] * len(columns)
    return [
        _row(
            name,
            kind,
            family or count_likelihood,
            int((~observed[:, j]).sum()),
            reasons[j],
            np.where(observed[:, j], values[:, j], np.nan),
            continuous,
        )
        for j, (name, kind, family) in enumerate(zip(columns, types, families, strict=True))
    ]


def _names(columns: list[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def type_warnings(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """One message per kind of flag in a type table: the row identifiers, the short scales
    (offered as ordinal) and the overdispersed Poisson counts, each naming its columns and
    what to do. Measurements read as continuous are stated in the table, not warned about."""
    messages = []
    ids = [r["column"] for r in records if r.get("flag") == "identifier"]
    if ids:
        one = len(ids) == 1
        messages.append(
            f"{'column' if one else 'columns'} {_names(ids)} "
            f"{'looks like a row identifier' if one else 'look like row identifiers'} (distinct "
            "consecutive integers) and " + ("is" if one else "are") + " modelled as continuous; "
            f"a row number is no variable: drop {'it' if one else 'them'} from the data"
        )
    scales = [r for r in records if r.get("flag") == "short_scale"]
    if scales:
        names = [r["column"] for r in scales]
        one = len(names) == 1
        spec = ",".join(f"{c}=ordinal" for c in names)
        declare = {c: "ordinal" for c in names}
        messages.append(
            f"{'column' if one else 'columns'} {_names(names)} "
            f"{'holds a short integer scale' if one else 'hold short integer scales'} and "
            f"{'is' if one else 'are'} modelled as {'a count' if one else 'counts'}; if "
            f"{'it is a score or rating' if one else 'they are scores or ratings'}, declare "
            f"{'it' if one else 'them'} ordinal: types={declare} "
            f"(--types {shlex.quote(spec)})"
        )
    wide = [r for r in records if r.get("flag") == "overdispersed"]
    if wide:
        names = [r["column"] for r in wide]
        one = len(names) == 1
        spec = ",".join(f"{c}=nb" for c in names)
        declare = {c: "negative_binomial" for c in names}
        messages.append(
            f"count {'column' if one else 'columns'} {_names(names)} "
            f"{'is' if one else 'are'} overdispersed for a Poisson likelihood (variance above "
            "2x the mean and excess dispersion above 1, more than a mixture of Poissons with "
            f"means within a factor of 5.8 gives); declare {'it' if one else 'them'} negative "
            f"binomial: types={declare} "
            f"(--types {shlex.quote(spec)}), or set the preset's count_likelihood = "
            '"negative_binomial"'
        )
    return messages


def describe_types(
    df: pd.DataFrame,
    types: Mapping[str, Any] | None = None,
    count_likelihood: str = "poisson",
) -> pd.DataFrame:
    """Tabulate what every column will be treated as, and why.

    Parameters
    ----------
    df : pandas.DataFrame
        The table; see :mod:`bayes_hcl.data.type_inference` for the inference rules.
    types : mapping of str to str, optional
        Explicit types overriding inference (reason ``"declared ... (inferred: ...)"``); a
        count likelihood (``"poisson"``, ``"negative_binomial"``) declares a count column
        with it. A declared column gets no flag.
    count_likelihood : {"poisson", "negative_binomial"}
        Likelihood of the count columns not declared otherwise (the preset's
        ``model.count_likelihood``).

    Returns
    -------
    pandas.DataFrame
        One row per column with columns ``column``, ``type``, ``likelihood`` (the density
        of the column as a child), ``missing`` (number of missing cells), ``reason``
        (e.g. ``"values in {0, 1}"``, ``"non-negative integers"``, ``"text values"``,
        ``"integers that look like measurements (...)"``, ``"real-valued (...)"``),
        ``flag`` (``""``, ``"identifier"``, ``"measurement"``, ``"short_scale"`` or
        ``"overdispersed"``) and
        ``note`` (what the flag suggests, with the override). :func:`bayes_hcl.fit` records
        the same table in its result (``HCLResult.column_types()``) and warns about the
        short scales and the overdispersed counts; this function does not warn.

    Raises
    ------
    DataError
        On duplicate column names, a column mixing numbers and text, or ``types`` naming an
        unknown column or type.
    """
    frame = to_frame(df)
    declared = check_types_arg(types, list(frame.columns))
    rows = []
    for name, (inferred, reason) in _infer_frame(frame).items():
        if name in declared:
            reason = f"{DECLARED_PREFIX}{declared[name]} (inferred: {inferred})"
        kind, family = split_declared(declared.get(name, inferred))
        numeric = text_kind(frame[name]) is None and kind == "count"
        values = float_values(name, frame[name]) if numeric else np.zeros(0)
        missing = int(frame[name].isna().sum())
        rows.append(_row(name, kind, family or count_likelihood, missing, reason, values))
    return pd.DataFrame(rows, columns=list(TYPE_TABLE_COLUMNS))
