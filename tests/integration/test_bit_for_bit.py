"""Results are bit for bit those of the stored reference (``tests/reference``).

The reference numbers were made by ``tests/reference/make_reference.py`` on the code from
before the package was split into layer subpackages (issue #20, commit 749e9fa), and any
change meant to change no posterior must keep them: the per-cluster edge probabilities and
weights and the memberships (means over draws, read straight from the InferenceData) of a
continuous fit and of a mixed fit (categorical, counts with size factors, binary, a masked
cell, two latent factors). Readouts built on them (the pooled probabilities over the shown
clusters of issue #21, say) are checked in ``test_one_story`` and the results tests.

Exact equality holds for the library versions the reference was made with; other versions of
JAX, NumPyro or NumPy may round differently, so there the test stops with a skip that names
the versions (regenerate the reference with the script on a commit whose numbers you trust).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import bayes_hcl as bh
from tests.conftest import SMALL_FIT
from tests.reference.make_reference import SMALL_FIT as REFERENCE_SMALL_FIT
from tests.reference.make_reference import mixed_fit, readout

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
SHAPING_LIBRARIES = ("jax", "jaxlib", "numpyro", "numpy")


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    made_with = json.loads((REFERENCE / "reference_versions.json").read_text())
    here = bh.versions()
    differ = {k: (made_with[k], here[k]) for k in SHAPING_LIBRARIES if made_with[k] != here[k]}
    if differ:
        pytest.skip(f"reference made with other library versions (made, here): {differ}")
    with np.load(REFERENCE / "reference.npz") as stored:
        return dict(stored)


def _assert_same(result, reference, name: str) -> None:
    for key, value in readout(result).items():
        expected = reference[f"{name}/{key}"]
        assert value.shape == expected.shape, (name, key)
        assert np.array_equal(value, expected), (name, key, np.abs(value - expected).max())


def test_the_shared_small_fit_is_bit_for_bit_the_reference(reference, small_fit):
    assert SMALL_FIT == REFERENCE_SMALL_FIT  # the reference was made with these settings
    _assert_same(small_fit, reference, "continuous")


def test_a_mixed_two_factor_fit_is_bit_for_bit_the_reference(reference):
    result = mixed_fit()
    assert {"categorical", "count", "binary"} <= set(result.types)
    assert result.meta["data"]["size_factors"] and result.missing_cells() == {"X0": 1}
    assert result.factors.n_factors == 2
    _assert_same(result, reference, "mixed")
