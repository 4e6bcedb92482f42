"""The default's skew-t noise against Gaussian noise: SVI speed, and recovery on mixed types.

``speed``: the two-population Laplace design of the misspecified suite (d = 10, 2,000 rows),
fitted ``REPEATS`` times per noise law, interleaved in one process; prints each fit's SVI
steps per second and wall time, then the medians over the warm fits (the first fit of each
law compiles) and the skew-t's ratio to the Gaussian. ``mixed``: mixed-type data (30 %
binary, 20 % counts, d = 10) and data with categorical variables (40 %, d = 5), several seeds,
each fitted under both laws: clusters, ARI (and its ceiling), pooled directed and skeleton F1.
Usage: ``python benchmarks/noise_laws.py [speed|mixed|both]``.
"""

import statistics
import sys
import time

import bayes_hcl as bh
from bayes_hcl import metrics

LAWS = ("gaussian", "skew_t")
REPEATS = 4


def speed() -> None:
    sim = bh.simulate(1000, d=10, n_clusters=2, noise="laplace", seed=0)
    steps = {law: [] for law in LAWS}
    walls = {law: [] for law in LAWS}
    for rep in range(REPEATS):
        for law in LAWS:
            start = time.perf_counter()
            result = bh.fit(sim.data, seed=rep, noise=law, progress=False)
            wall = time.perf_counter() - start
            rate = result.meta["timings"]["steps_per_s"]
            print(f"{law:<9} fit {rep}: {rate:6.1f} steps/s, {wall:5.2f} s", flush=True)
            if rep:  # the first fit of each law compiles its programs
                steps[law].append(rate)
                walls[law].append(wall)
    med = {law: (statistics.median(steps[law]), statistics.median(walls[law])) for law in LAWS}
    for law, (rate, wall) in med.items():
        print(f"{law:<9} median of warm fits: {rate:6.1f} steps/s, {wall:5.2f} s")
    ratio_step = med["gaussian"][0] / med["skew_t"][0]
    ratio_wall = med["skew_t"][1] / med["gaussian"][1]
    print(f"skew_t / gaussian: {ratio_step:.2f} x per step, {ratio_wall:.2f} x per fit")


def mixed() -> None:
    designs = {
        "mixed d=10": (
            lambda s: bh.simulate(
                500, d=10, n_clusters=2, binary_fraction=0.3, count_fraction=0.2, seed=s
            ),
            (2, 3, 4),
        ),
        "categorical d=5": (
            lambda s: bh.simulate(300, d=5, n_clusters=2, categorical_fraction=0.4, seed=s),
            (11, 12, 13, 14),
        ),
    }
    for name, (make, seeds) in designs.items():
        for seed in seeds:
            sim = make(seed)
            ceiling = metrics.adjusted_rand_index(sim.labels, sim.bayes_labels())
            for law in LAWS:
                result = bh.fit(sim.data, seed=0, noise=law, progress=False)
                pooled = result.edge_probabilities().to_numpy() >= 0.5
                ari = metrics.adjusted_rand_index(sim.labels, result.clusters())
                f1 = metrics.edge_scores(sim.pooled_adjacency, pooled)["f1"]
                skeleton = metrics.skeleton_f1(sim.pooled_adjacency, pooled)
                print(
                    f"{name:<16} seed {seed:>2} {law:<9} K {len(result.occupied_clusters())} "
                    f"ARI {ari:.3f} (ceiling {ceiling:.3f}) F1 {f1:.3f} skeleton {skeleton:.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "both"
    if which in ("speed", "both"):
        speed()
    if which in ("mixed", "both"):
        mixed()
