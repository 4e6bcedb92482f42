"""Store the numbers the bit-for-bit test compares against (``reference.npz``).

Run from the repository root, with the code whose numbers are the reference checked out::

    python tests/reference/make_reference.py

The fits are the ones :mod:`tests.integration.test_bit_for_bit` repeats: a continuous fit (the
data and settings of the suite's shared ``small_fit``), and a mixed fit (categorical, counts
with size factors, binary, one masked cell, two latent factors), each with Gaussian noise
(the default until issue #23; ``continuous``, ``mixed``) and with the default's skew-t noise
(``continuous_skew_t``, ``mixed_skew_t``). The versions of the libraries that shape the
numbers are stored beside them.

To make the reference from an older checkout (the numbers a restructure must keep), run this
file with that checkout first on the path: ``PYTHONPATH=/path/to/old python
tests/reference/make_reference.py``.
"""

from __future__ import annotations

import inspect
import json
import pathlib
import sys

import numpy as np

import bayes_hcl as bh

HERE = pathlib.Path(__file__).parent
OPTIONS = {"num_steps": 300, "num_samples": 40, "num_restarts": 2, "progress": False}
# the settings of tests/conftest.py's shared fit, written out: the reference is made by
# running this file against an old checkout, which may not have the conftest
SMALL_FIT = {"num_steps": 1500, "num_restarts": 4, "num_samples": 100, "max_clusters": 4}


def _noise(noise: str) -> dict:
    """``fit``'s noise option; a checkout from before it had Gaussian noise only."""
    if "noise" in inspect.signature(bh.fit).parameters:
        return {"noise": noise}
    if noise != "gaussian":
        raise SystemExit(f"this checkout has no noise={noise!r}")
    return {}


def continuous_fit(noise: str = "gaussian"):
    """The data and settings of the suite's shared small fit (``tests/conftest.py``)."""
    sim = bh.simulate(300, d=4, n_clusters=2, mean_shift=3.0, shift_fraction=0.5, seed=5)
    return bh.fit(sim.data, seed=0, progress=False, **SMALL_FIT, **_noise(noise))


def mixed_frame():
    sim = bh.simulate_factors(120, 4, (2, 2), 1, mean_shift=3.0, count_fraction=0.25, seed=3)
    frame = sim.data.copy()
    rng = np.random.default_rng(5)
    frame["flag"] = (frame["X2"] > frame["X2"].median()).astype(int)
    frame["dose[mg]"] = np.where(frame["X3"] > 0, "hi", np.where(frame["X1"] > 0, "mid", "lo"))
    frame["library"] = rng.uniform(0.5, 2.0, len(frame))
    frame.loc[7, "X0"] = np.nan
    return frame


def mixed_fit(noise: str = "gaussian"):
    return bh.fit(
        mixed_frame(),
        seed=1,
        latent_factors=2,
        max_clusters=2,
        missing="mask",
        size_factors="library",
        **OPTIONS,
        **_noise(noise),
    )


#: name in ``reference.npz`` -> the fit that makes it
FITS = {
    "continuous": continuous_fit,
    "mixed": mixed_fit,
    "continuous_skew_t": lambda: continuous_fit("skew_t"),
    "mixed_skew_t": lambda: mixed_fit("skew_t"),
}


def readout(result) -> dict[str, np.ndarray]:
    """The posterior itself, read from the InferenceData without any readout's definition:
    per-cluster edge probabilities and weights, and memberships (means over draws)."""
    post = result.idata.posterior
    return {
        "inclusion": post["inclusion"].values.mean((0, 1)),
        "weights": post["weights"].values.mean((0, 1)),
        "memberships": post["membership"].values.mean((0, 1)),
    }


def main() -> int:
    arrays = {}
    for name, make in FITS.items():
        if name.endswith("skew_t") and "noise" not in inspect.signature(bh.fit).parameters:
            continue
        result = make()
        for key, value in readout(result).items():
            arrays[f"{name}/{key}"] = value
        if name.startswith("mixed"):
            assert "count" in result.types and "categorical" in result.types, result.types
            assert result.meta["data"]["size_factors"], "no size factors"
    np.savez(HERE / "reference.npz", **arrays)
    versions = {k: v for k, v in bh.versions().items() if k != "bayes_hcl"}
    (HERE / "reference_versions.json").write_text(json.dumps(versions, indent=1) + "\n")
    print(json.dumps({k: list(v.shape) for k, v in arrays.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
