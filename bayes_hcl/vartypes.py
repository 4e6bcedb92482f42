"""The one type vocabulary: variable types, what a user may declare, and the model's codes.

A variable type names what a column *is* (``continuous``, ``binary``, ``count``,
``categorical``, ``ordinal``); a model code names the likelihood of one model column
(a categorical variable's non-reference levels are one ``CATEGORICAL`` column each). Adding
a variable type starts here; ``docs/architecture.md`` lists the modules that follow.
"""

from __future__ import annotations

__all__ = [
    "BINARY",
    "CATEGORICAL",
    "CONTINUOUS",
    "COUNT",
    "COUNT_FAMILIES",
    "COUNT_LIKELIHOODS",
    "COUNT_LIKELIHOODS_CODES",
    "DECLARABLE_TYPES",
    "NEGBIN",
    "TYPE_CODES",
    "VARIABLE_TYPES",
]

VARIABLE_TYPES: tuple[str, ...] = ("continuous", "binary", "count", "categorical", "ordinal")
"""The supported variable types (see :mod:`bayes_hcl.data.categorical` for the last two)."""

#: Type code of every model column: a categorical variable's non-reference levels are
#: ``CATEGORICAL`` columns (one linear predictor each).
CONTINUOUS, BINARY, COUNT, NEGBIN, CATEGORICAL = 0, 1, 2, 3, 4

COUNT_LIKELIHOODS: tuple[str, ...] = ("poisson", "negative_binomial")
"""The likelihoods a count variable can have (``ModelConfig.count_likelihood``)."""

COUNT_FAMILIES: dict[str, str] = {
    "poisson": "poisson",
    "negative_binomial": "negative_binomial",
    "nb": "negative_binomial",
}
"""Declared type names that make a column a count with a chosen likelihood."""

DECLARABLE_TYPES: tuple[str, ...] = (*VARIABLE_TYPES, "poisson", "negative_binomial")
"""Types a user may declare: a variable type, or a count likelihood (a count column)."""

TYPE_CODES: dict[str, int] = {
    "continuous": CONTINUOUS,
    "binary": BINARY,
    "count": COUNT,
    "categorical": CATEGORICAL,
    "ordinal": CONTINUOUS,
}
"""Model code of each variable type: continuous 0, binary 1, count 2 (3: negative binomial,
chosen by the count likelihood), categorical 4; an ordinal variable is modelled as continuous
on its level ranks."""

COUNT_LIKELIHOODS_CODES: dict[str, int] = {"poisson": COUNT, "negative_binomial": NEGBIN}
"""Model code of a count variable under each count likelihood."""
