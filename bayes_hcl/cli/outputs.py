"""The files ``bayes-hcl fit`` writes (``docs/outputs.md``), and how they reach ``--out``.

Everything is written into a temporary folder beside ``--out`` and put in place by renames
only (:func:`replace_folder`), so ``--out`` holds a complete set of outputs or none.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from bayes_hcl.errors import ConfigError

__all__ = ["OUTPUT_NAMES", "check_out_folder", "replace_folder", "write_outputs"]


def write_outputs(result, out: Path, extra: dict) -> None:
    """Write every file of the command-line contract (``docs/outputs.md``) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    result.edge_probabilities().to_csv(out / "edge_probabilities.csv")
    for k in result.occupied_clusters():
        folder = out / "clusters" / str(k)
        folder.mkdir(parents=True, exist_ok=True)
        result.edge_probabilities(k).to_csv(folder / "edge_probabilities.csv")
    members = result.memberships()
    members.columns = [str(c) for c in members.columns]
    members["cluster"] = result.clusters()
    members.index.name = "row"
    members.to_csv(out / "memberships.csv")
    result.effects().to_csv(out / "effects.csv", index=False)
    (out / "identifiability.json").write_text(_json(result.identifiability().to_dict()))
    (out / "summary.json").write_text(_json(_summary_json(result, extra)))
    if result.factors.several:
        _write_factors(result.factors, out)
    result.save(out / "posterior.nc")


def _write_factors(readout, out: Path) -> None:
    """``factors.json`` and ``factors/<m>/memberships.csv`` (``docs/outputs.md``)."""
    (out / "factors.json").write_text(_json(readout.to_dict()))
    for f in range(readout.n_factors):
        folder = out / "factors" / str(f)
        folder.mkdir(parents=True, exist_ok=True)
        members = readout.memberships(f)
        members.columns = [str(c) for c in members.columns]
        members["state"] = readout.states(f)
        members.index.name = "row"
        members.to_csv(folder / "memberships.csv")


def _json(value) -> str:
    """Strict JSON: a non-finite number (an infinite R-hat, say) is written as null."""

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        if isinstance(v, float) and not np.isfinite(v):
            return None
        return v

    return json.dumps(clean(value), indent=2, allow_nan=False)


def _column_types(result) -> list[dict]:
    """``summary.json``'s ``column_types``: per column the type the fit assumed, its
    likelihood, missing cells, why, and any flag with its note (``HCLResult.column_types``;
    ``column`` and ``type`` only for a result from before the table was recorded)."""
    return result.column_types().to_dict("records")


def _noise_law(result) -> list[dict]:
    """``summary.json``'s ``noise_law``: per continuous variable its fitted degrees of
    freedom, skewness and whether the law is non-Gaussian (``HCLResult.noise_law``; an
    infinite ``df``, Gaussian noise, and undefined moments are written as null)."""
    table = result.noise_law().replace([np.inf, -np.inf], np.nan)
    return table.astype(object).where(table.notna(), None).to_dict("records")


def _summary_json(result, extra: dict) -> dict:
    restarts = result.idata["restarts"]
    k_post = result.n_clusters()
    return {
        "method": result.method,
        "seed": result.seed,
        "versions": result.meta["versions"],
        "created": result.meta["created"],
        "elbo": {
            "final": restarts["final_elbo"].values.tolist(),
            "restart_weights": restarts["weight"].values.tolist(),
        },
        "timings": result.meta["timings"],
        "convergence": result.convergence(),
        "n_clusters": len(result.occupied_clusters()),
        "clusters_shown": result.occupied_clusters(),
        "clusters_note": result.cluster_note(),
        "latent_factors": result.config.model.latent_factors,
        "n_clusters_posterior": {str(k): float(p) for k, p in k_post.items()},
        "cluster_sizes": {
            str(k): int((result.clusters() == k).sum()) for k in result.occupied_clusters()
        },
        "data": {
            **{k: result.meta["data"][k] for k in ("n", "d", "columns", "types")},
            "levels": result.meta["data"].get("levels", {}),
        },
        "missing_cells": result.missing_cells(),
        "column_types": _column_types(result),
        "noise_law": _noise_law(result),
        "config": result.meta["config"],
        **extra,
    }


#: Names ``fit`` writes into ``--out``, and ``report.html``, which ``bayes-hcl report DIR``
#: writes beside them (a folder holding only these may be replaced; a report of the previous
#: fit goes with it, so the README's quick start runs twice in the same folder).
OUTPUT_NAMES = frozenset(
    {
        "report.html",
        "edge_probabilities.csv",
        "clusters",
        "memberships.csv",
        "effects.csv",
        "identifiability.json",
        "summary.json",
        "posterior.nc",
        "factors.json",
        "factors",
    }
)


def check_out_folder(out: Path) -> None:
    """Refuse, before any fitting, an ``--out`` that exists and holds anything but a
    previous run's outputs (those would be replaced as a whole, so other files would go)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUT_NAMES)
    if foreign:
        raise ConfigError(
            f"--out {out} already holds files bayes-hcl did not write ({foreign[0]!r}"
            f"{', ...' if len(foreign) > 1 else ''}); choose a new or empty folder"
        )


def replace_folder(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` at ``out`` by renames only: ``out`` holds either the
    previous run's outputs or this run's, never a mix (an old ``out`` is moved aside first
    and removed once the new one is in place)."""
    if not out.exists():
        os.replace(tmp, out)
        return
    try:
        check_out_folder(out)
    except ConfigError:
        # files appeared in --out during the fit: keep them, and the new outputs beside
        kept = Path(tempfile.mkdtemp(dir=out.parent, prefix=f"{out.name}.new."))
        os.replace(tmp, kept / out.name)
        raise ConfigError(
            f"--out {out} received files bayes-hcl did not write during the fit; "
            f"the outputs are in {kept / out.name}"
        ) from None
    aside = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old."))
    os.replace(out, aside / out.name)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(aside / out.name, out)  # put the previous outputs back
        shutil.rmtree(aside, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)
