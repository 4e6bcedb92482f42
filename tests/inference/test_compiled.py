"""Cached compiled programs are released before they exhaust the process's memory maps, and a
fit after the release computes the same numbers."""

import sys

import numpy as np
import pytest

import bayes_hcl
from bayes_hcl.inference import compiled
from bayes_hcl.inference.svi import programs
from bayes_hcl.simulate.sem import simulate

OPTIONS = {"num_steps": 100, "num_restarts": 2, "num_samples": 20, "progress": False}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_memory_map_use_counts_this_process_maps_against_the_kernel_limit():
    held, allowed = compiled.memory_map_use()
    with open("/proc/self/maps") as maps:
        direct = sum(1 for _ in maps)
    assert 0 < held and abs(held - direct) < 50
    with open("/proc/sys/vm/max_map_count") as limit:
        assert allowed == int(limit.read())


def test_release_happens_only_past_the_fraction(monkeypatch):
    bayes_hcl.fit(simulate(41, d=3, seed=1).data, seed=0, **OPTIONS)
    assert programs.programs.cache_info().currsize > 0
    monkeypatch.setattr(compiled, "memory_map_use", lambda: (30_000, 65_530))
    assert not compiled.release_if_near_map_limit(0.5)
    assert programs.programs.cache_info().currsize > 0
    monkeypatch.setattr(compiled, "memory_map_use", lambda: (40_000, 65_530))
    assert compiled.release_if_near_map_limit(0.5)
    # every registered builder is empty, the SVI programs among them
    assert programs.programs in compiled._CACHES
    assert all(cached.cache_info().currsize == 0 for cached in compiled._CACHES)


def test_no_release_where_the_process_maps_cannot_be_read(monkeypatch):
    monkeypatch.setattr(compiled, "memory_map_use", lambda: None)
    assert not compiled.release_if_near_map_limit(0.0)


def test_a_fit_after_the_release_is_the_same_bit_for_bit():
    data = simulate(43, d=3, seed=2).data
    before = bayes_hcl.fit(data, seed=3, **OPTIONS)
    compiled.release_compiled_programs()
    assert programs.programs.cache_info().currsize == 0
    after = bayes_hcl.fit(data, seed=3, **OPTIONS)
    assert np.array_equal(
        before.edge_probabilities().to_numpy(), after.edge_probabilities().to_numpy()
    )
    assert np.array_equal(before.memberships().to_numpy(), after.memberships().to_numpy())


def test_a_fit_releases_the_cache_when_the_maps_run_short(monkeypatch):
    data = simulate(47, d=3, seed=4).data
    bayes_hcl.fit(data, seed=0, **OPTIONS)
    released = []
    monkeypatch.setattr(compiled, "memory_map_use", lambda: (60_000, 65_530))
    original = compiled.release_compiled_programs
    monkeypatch.setattr(compiled, "release_compiled_programs", lambda: released.append(original()))
    bayes_hcl.fit(data, seed=0, **OPTIONS)
    assert len(released) == 1  # fit_svi checks once, before it compiles
