"""Scripted batch run: fit every CSV of a folder with several seeds, keep everything, tabulate.

Usage::

    python examples/batch_run.py DATA_DIR --out runs/ --seeds 0 1 2 [--model hcl] [--num-steps N]

For each ``DATA_DIR/*.csv`` and seed this writes ``runs/<stem>/seed<k>/`` with the posterior
(``posterior.nc``, reloadable with :func:`bayes_hcl.load_result`), the tables ``bayes-hcl fit``
writes, and ``report.html``; then ``runs/batch_summary.csv`` with one row per fit (clusters,
edges, heterogeneity verdict, agreement with the other seeds' partitions and edges, time).
A failed input is recorded with its one-line error and the batch goes on. The same loop on the
command line is ``bayes-hcl fit FILE --out DIR --seed K`` then ``bayes-hcl report DIR``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_hcl as bh
from bayes_hcl import metrics
from bayes_hcl.cli import write_outputs


def fit_one(path: Path, seed: int, out: Path, model: str, num_steps: int | None) -> dict:
    """Fit one file with one seed, write its outputs and report, return its summary row."""
    start = time.perf_counter()
    result = bh.fit(path, model=model, seed=seed, num_steps=num_steps, progress=False)
    write_outputs(result, out, {"data": str(path), "batch": True})
    result.report(out / "report.html", title=f"{path.stem}, seed {seed}")
    ident = result.identifiability()
    return {
        "file": path.name,
        "seed": seed,
        "status": "ok",
        "n_clusters": len(result.occupied_clusters()),
        "p_mode_k": float(result.n_clusters().max()),
        "edges_p50": int((result.edge_probabilities().to_numpy() >= 0.5).sum()),
        "identified_edges": ident.counts["identified"],
        "heterogeneity": ident["clusters"]["heterogeneity"],
        "seconds": round(time.perf_counter() - start, 1),
        "_labels": result.clusters(),
        "_edges": result.edge_probabilities().to_numpy() >= 0.5,
    }


def seed_agreement(rows: list[dict]) -> None:
    """Add, per fit, the mean ARI and edge agreement with the other seeds' fits of its file."""
    for _, group in itertools.groupby(rows, key=lambda r: r["file"]):
        fits = [r for r in group if r["status"] == "ok"]
        for row in fits:
            others = [o for o in fits if o is not row]
            if not others:
                continue
            row["ari_vs_other_seeds"] = float(
                np.mean([metrics.adjusted_rand_index(row["_labels"], o["_labels"]) for o in others])
            )
            row["edge_agreement"] = float(
                np.mean([(row["_edges"] == o["_edges"]).mean() for o in others])
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder of CSV files, one data set each")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds per file")
    parser.add_argument("--model", default="hcl", help="preset name or .toml path")
    parser.add_argument("--num-steps", type=int, default=None, help="SVI steps (preset default)")
    args = parser.parse_args(argv)

    files = sorted(args.data_dir.glob("*.csv"))
    if not files:
        print(f"error: no .csv file in {args.data_dir}", file=sys.stderr)
        return 2
    rows = []
    for path, seed in itertools.product(files, args.seeds):
        out = args.out / path.stem / f"seed{seed}"
        try:
            rows.append(fit_one(path, seed, out, args.model, args.num_steps))
        except (bh.DataError, bh.ConfigError) as err:  # the package's one-line user errors
            rows.append({"file": path.name, "seed": seed, "status": f"error: {err}"})
        print(f"{path.name} seed {seed}: {rows[-1]['status']}", flush=True)
    seed_agreement(rows)
    table = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "batch_summary.csv", index=False)
    print(table.to_string(index=False))
    return 0 if (table.status == "ok").all() else 1


if __name__ == "__main__":
    sys.exit(main())
