"""Data layer: reading and checking tables, type inference, encoding, prepared data, and the
bundled datasets. Knows nothing of the model; everything above it receives a
:class:`PreparedData`."""

from __future__ import annotations

from bayes_hcl.data.columns import MISSING_POLICIES, parse_types, read_table
from bayes_hcl.data.datasets import SachsData, load_sachs
from bayes_hcl.data.prepared import PreparedData, prepare
from bayes_hcl.data.type_inference import describe_types, infer_types
from bayes_hcl.errors import DataError
from bayes_hcl.vartypes import COUNT_LIKELIHOODS_CODES, TYPE_CODES, VARIABLE_TYPES

__all__ = [
    "COUNT_LIKELIHOODS_CODES",
    "MISSING_POLICIES",
    "TYPE_CODES",
    "VARIABLE_TYPES",
    "DataError",
    "PreparedData",
    "SachsData",
    "describe_types",
    "infer_types",
    "load_sachs",
    "parse_types",
    "prepare",
    "read_table",
]
