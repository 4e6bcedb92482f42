"""SVI restarts of the speed design: ELBO, weight, partition sizes and order of each."""
import numpy as np
from bayes_hcl.simulate import simulate
from bayes_hcl.config import load_config
from bayes_hcl.data.prepared import prepare
from bayes_hcl.inference.svi import fit_svi
sim = simulate(1000, d=10, n_clusters=2, seed=0)
cfg = load_config("hcl")
data = prepare(sim.data)
svi = fit_svi(data, cfg, seed=0, progress=False)
rs = svi.restart_summary
print("elbo", np.round(svi.restart_elbo, 1))
print("weights", np.round(svi.restart_weights, 3))
part = rs["partition"]
for r in range(len(part)):
    print(r, np.bincount(part[r], minlength=8), np.argsort(rs["order"][r]))
print(svi.draw_restart[:10], svi.draws["phi"].shape)
for k, v in rs.items(): print(k, np.shape(v), np.asarray(v).dtype)
print(rs["inclusion"][1].max(), rs["inclusion"][1][6].round(2)[:3])
