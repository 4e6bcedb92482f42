"""Shift targets against the size a shift must exceed (``min_shift``), on the Sachs data and
on a simulated design whose true targets are known.

For each data set: one default fit (seed 0), then per size the variables flagged
(``p_shift_exceeds >= 0.5``), how many of them are true targets and how many are not; size 0
with ``p_shift`` is the readout before shifts had a size. Usage:
``python benchmarks/shift_sizes.py [sachs|sim|both]``.
"""

import sys

import pandas as pd

import bayes_hcl as bh
from bayes_hcl.data.datasets import load_sachs

SIZES = (0.0, 0.1, 0.25, 0.5, 1.0)


def flagged_by_size(result, targets: set[str]) -> pd.DataFrame:
    """Per size: variables flagged, true targets among them and non-targets flagged."""
    any_size = result.shift_targets()
    rows = [("p_shift (any size)", set(any_size.variable[any_size.p_shift >= 0.5]))]
    rows += [
        (f"min_shift {s:g}", set(result.shift_targets(0.5, min_shift=s).variable)) for s in SIZES
    ]
    return pd.DataFrame(
        [
            {
                "readout": name,
                "flagged": len(found),
                "targets_found": f"{len(found & targets)} of {len(targets)}",
                "non_targets": len(found - targets),
                "variables": ", ".join(sorted(found)),
            }
            for name, found in rows
        ]
    )


def main(which: str) -> None:
    pd.set_option("display.width", 200, "display.max_colwidth", 80)
    if which in ("sachs", "both"):
        sachs = load_sachs(log=True)
        result = bh.fit(sachs.data, seed=0, progress=False)
        print(f"Sachs (log, {len(sachs.data)} rows), K = {len(result.occupied_clusters())}")
        print(flagged_by_size(result, set(sachs.intervention_targets)).to_string(index=False))
    if which in ("sim", "both"):
        sim = bh.simulate(1000, d=10, n_clusters=2, seed=0)
        result = bh.fit(sim.data, seed=0, progress=False)
        print(f"simulate(1000, d=10, n_clusters=2, seed=0), K = {len(result.occupied_clusters())}")
        print(flagged_by_size(result, set(sim.shift_targets)).to_string(index=False))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "both")
