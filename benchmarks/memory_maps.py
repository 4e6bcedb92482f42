"""Memory maps one process holds per compiled fit, and what releasing the cached programs
gives back (the cause of stop 30's CI abort: ``vm.max_map_count`` exhausted).

Fits a small SVI and a small Gibbs fit (``simulate(150, d=5, n_clusters=2)``), prints the
maps each added, then releases every cached program
(:func:`bayes_hcl.inference.compiled.release_compiled_programs`) and prints the count again.
Usage: ``BAYES_HCL_CACHE_DIR=off python benchmarks/memory_maps.py``.
"""

import bayes_hcl as bh
from bayes_hcl.inference.compiled import memory_map_use, release_compiled_programs


def held() -> int:
    use = memory_map_use()
    if use is None:
        raise SystemExit("this platform has no /proc/<pid>/maps")
    return use[0]


sim = bh.simulate(150, d=5, n_clusters=2, mean_shift=3.0, seed=0)
options = {"seed": 0, "progress": False, "num_steps": 200, "num_restarts": 2}
start = held()
print(f"maps at start: {start} (allowed: {memory_map_use()[1]})")
bh.fit(sim.data, **options)
after_svi = held()
print(f"one SVI fit added {after_svi - start}")
bh.fit(sim.data, method="gibbs", num_warmup=20, num_samples=20, num_chains=2, **options)
after_gibbs = held()
print(f"one Gibbs fit (its SVI start cached) added {after_gibbs - after_svi}")
release_compiled_programs()
print(f"after releasing the cached programs: {held()} ({held() - after_gibbs:+d})")
