"""SVI restarts of the Gibbs speed design (``simulate(1000, d=10, n_clusters=2, seed=0)``):
each restart's final ELBO, its weight, its partition's cluster sizes and its causal order.
Usage: ``python benchmarks/svi_restart_partitions.py``."""

import numpy as np

from bayes_hcl.config import load_config
from bayes_hcl.data.prepared import prepare
from bayes_hcl.inference.svi import fit_svi
from bayes_hcl.simulate import simulate

sim = simulate(1000, d=10, n_clusters=2, seed=0)
svi = fit_svi(prepare(sim.data), load_config("hcl"), seed=0, progress=False)
summary = svi.restart_summary
print("true order", np.asarray(sim.order).tolist())
for r, (elbo, weight) in enumerate(zip(svi.restart_elbo, svi.restart_weights, strict=True)):
    sizes = np.bincount(summary["partition"][r], minlength=summary["inclusion"].shape[1])
    order = np.argsort(summary["order"][r]).tolist()
    print(f"restart {r}: ELBO {elbo:.1f}, weight {weight:.3f}, sizes {sizes.tolist()}, {order}")
