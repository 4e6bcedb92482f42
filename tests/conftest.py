"""Shared fixtures: one small simulated data set and one fit of it, reused across tests."""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault("CI", "true")  # no progress bars in test output
# a private persistent compilation cache: the CLI subprocesses reuse what the session compiled
os.environ.setdefault("BAYES_HCL_CACHE_DIR", tempfile.mkdtemp(prefix="bayes_hcl_jax_"))

import bayes_hcl as bh
from bayes_hcl.inference.compiled import release_if_near_map_limit

# The fits release their cached programs past half the process's memory maps
# (bayes_hcl.inference.compiled); releasing earlier, between modules, keeps that from happening
# inside a test that counts compilations. The whole suite holds over 64,000 maps otherwise.
MODULE_RELEASE_FRACTION = 0.3

# docs/outputs.md and docs/identifiability.md: the fixed top level of identifiability.json and
# the keys of every edge
REPORT_SECTIONS = {"edges", "clusters", "agreement", "conditions", "interpretation", "warnings"}
EDGE_KEYS = {
    "cause",
    "effect",
    "status",
    "reason",
    "p_forward",
    "p_reverse",
    "p_none",
    "delta_evidence",
    "agreement",
}

SMALL_FIT = {"num_steps": 1500, "num_restarts": 4, "num_samples": 100, "max_clusters": 4}


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs_between_modules():
    release_if_near_map_limit(MODULE_RELEASE_FRACTION)


@pytest.fixture(scope="session")
def small_sim():
    """Two well-separated clusters (strong mean shifts) over 4 variables."""
    return bh.simulate(300, d=4, n_clusters=2, mean_shift=3.0, shift_fraction=0.5, seed=5)


@pytest.fixture(scope="session")
def small_fit(small_sim):
    return bh.fit(small_sim.data, seed=0, progress=False, **SMALL_FIT)


@pytest.fixture
def model_traces(monkeypatch):
    """Count how often the model is traced (each trace runs the Python model function)."""
    from bayes_hcl.inference.svi import programs

    release_if_near_map_limit(MODULE_RELEASE_FRACTION)
    count = {"traces": 0}
    original = programs.hcl_model

    def counting(*args, **kwargs):
        count["traces"] += 1
        return original(*args, **kwargs)

    # no cache_clear: tests use shapes of their own, and clearing would make every later
    # test compile its programs again (+2 minutes of the suite)
    monkeypatch.setattr(programs, "hcl_model", counting)
    return count
