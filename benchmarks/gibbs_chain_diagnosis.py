"""Per-chain diagnosis of a Gibbs fit of the speed design (n = 2000, d = 10, two populations,
seed 0): lp per chain, cluster masses, order and edge disagreement. Usage:
``python benchmarks/gibbs_chain_diagnosis.py NUM_WARMUP NUM_SAMPLES``."""
import sys, time, numpy as np
from bayes_hcl.simulate import simulate
from bayes_hcl.config import load_config
from bayes_hcl.data.prepared import prepare
from bayes_hcl.inference.gibbs.driver import fit_gibbs
import dataclasses
warm = int(sys.argv[1]) if len(sys.argv) > 1 else 300
keep = int(sys.argv[2]) if len(sys.argv) > 2 else 500
sim = simulate(1000, d=10, n_clusters=2, seed=0)
cfg = load_config("hcl")
cfg = dataclasses.replace(cfg, gibbs=dataclasses.replace(cfg.gibbs, num_warmup=warm, num_samples=keep))
data = prepare(sim.data)
t = time.perf_counter()
f = fit_gibbs(data, cfg, seed=0, progress=False)
print("wall", time.perf_counter() - t)
lp = f.sample_stats["lp"]
print("lp per chain mean", lp.mean(1).round(1), "sd", lp.std(1).round(1))
d = f.chain_draws()
print(list(d.keys()))
z = d.get("z")
phi = d["phi"]  # (C, S, d)
for c in range(phi.shape[0]):
    order = np.argsort(phi[c], -1)
    uniq, cnt = np.unique(order, axis=0, return_counts=True)
    top = np.argsort(-cnt)[:3]
    print("chain", c, "orders", len(uniq), [(uniq[i].tolist(), cnt[i]) for i in top])
    print("  order moved frac", f.sample_stats["order_changed"][c].mean())
for name in ():
    if name in d:
        print(name, d[name].mean(1).round(3))
print("true order", np.argsort(np.asarray(sim.order)) if hasattr(sim, "order") else None)
print("adj", np.asarray(sim.adjacency).sum(0))
print(sorted(d.keys()))
import arviz as az
print("lp ess per chain", [float(az.ess(lp[c][None])) for c in range(lp.shape[0])])
for key in d:
    print(key, d[key].shape)
m = d["membership"]  # (C,S,n,K)
print("cluster mass per chain", m.sum(2).mean(1).round(1).tolist())
inc = d["inclusion"]
print(inc.shape)
pooled = 1 - np.prod(1 - inc, axis=2) if inc.ndim == 5 else inc
pc = pooled.mean(1)
spread = pc.max(0) - pc.min(0)
idx = np.argsort(-spread.ravel())[:8]
for i in idx:
    a, b = np.unravel_index(i, spread.shape)
    print("edge", a, b, pc[:, a, b].round(2))
phi = d["phi"]
before = (phi[..., :, None] < phi[..., None, :]).mean(1)
sp = before.max(0) - before.min(0)
for i in np.argsort(-sp.ravel())[:6]:
    a, b = np.unravel_index(i, sp.shape)
    print("order", a, "before", b, before[:, a, b].round(2))
