"""Per-chain diagnosis of a Gibbs fit of the speed design (``simulate(1000, d=10,
n_clusters=2, seed=0)``, seed 0): where each chain started, its log likelihood's mean, sd
and bulk ESS, its cluster masses, and the pooled quantities on which the chains disagree
most (edge probabilities and order relations). Usage:
``python benchmarks/gibbs_chain_diagnosis.py NUM_WARMUP NUM_SAMPLES``."""

import sys
import time

import arviz as az
import numpy as np

from bayes_hcl.config import load_config
from bayes_hcl.data.prepared import prepare
from bayes_hcl.inference.gibbs.driver import fit_gibbs
from bayes_hcl.simulate import simulate

warmup = int(sys.argv[1]) if len(sys.argv) > 1 else 300
samples = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
sim = simulate(1000, d=10, n_clusters=2, seed=0)
config = load_config("hcl", gibbs_overrides={"num_warmup": warmup, "num_samples": samples})
begin = time.perf_counter()
fit = fit_gibbs(prepare(sim.data), config, seed=0, progress=False)
print(f"wall {time.perf_counter() - begin:.1f} s (SVI, starts, compilation and sweeps)")
print("start restart per chain", fit.restart_summary["start_restart"].tolist())
print("start score per chain", np.round(fit.restart_summary["start_score"], 1).tolist())

lp = fit.sample_stats["lp"]
print("lp mean per chain", lp.mean(1).round(1).tolist(), "sd", lp.std(1).round(1).tolist())
print("lp bulk ESS per chain", [round(float(az.ess(lp[c][None])), 1) for c in range(len(lp))])
print(f"lp R-hat {float(az.rhat(lp)):.4f}, pooled bulk ESS {float(az.ess(lp)):.0f}")
print("order moved, fraction of sweeps", fit.sample_stats["order_changed"].mean(1).tolist())

draws = fit.chain_draws()
print("cluster mass per chain", draws["membership"].sum(2).mean(1).round(1).tolist())
pooled = (1 - np.prod(1 - draws["inclusion"], axis=2)).mean(1)  # (chain, parent, node)
spread = pooled.max(0) - pooled.min(0)
for flat in np.argsort(-spread.ravel())[:5]:
    i, j = np.unravel_index(flat, spread.shape)
    print(f"P(X{i} -> X{j}) per chain", pooled[:, i, j].round(2).tolist())
phi = draws["phi"]
before = (phi[..., :, None] < phi[..., None, :]).mean(1)
spread = before.max(0) - before.min(0)
for flat in np.argsort(-spread.ravel())[:6:2]:
    i, j = np.unravel_index(flat, spread.shape)
    print(f"P(X{i} before X{j}) per chain", before[:, i, j].round(2).tolist())
