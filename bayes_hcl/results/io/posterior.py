"""Assemble the ArviZ data of a fit: posterior draws, statistics, restarts, metadata.

The posterior has named dimensions ``chain, draw, cluster, node, parent, obs``; the
``restarts`` group holds one entry per SVI restart (or NUTS chain); the fit's metadata
(package version, seed, method, config, data scalers, timings, the restarts' evidence) are
JSON strings in the posterior's attributes.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bayes_hcl.config import min_cluster_size
from bayes_hcl.data.prepared import PreparedData
from bayes_hcl.errors import DataError
from bayes_hcl.inference.base import Fit
from bayes_hcl.results.io import arviz_io

__all__ = [
    "RESULT_FORMAT",
    "build_inference_data",
    "decode_attr",
    "read_result_file",
    "restart_evidence",
    "write_result_file",
]

#: Version of the saved result's layout, recorded as the posterior attribute ``format``:
#: 1 (no attribute) up to 0.1.0's per-draw memberships only; 2 adds the compact posterior of
#: minibatch fits (``cluster_size``, the ``memberships`` group); 3 adds ``model.latent_factors``
#: to the configuration and the factor sites of several-factor fits.
#: :func:`~bayes_hcl.results.load_result` refuses files of a later format than it knows.
RESULT_FORMAT = 3

_DIMS = {
    "phi": ["node"],
    "rho": ["parent", "node"],
    "mu": ["parent", "node"],
    "W": ["cluster", "parent", "node"],
    "weights": ["cluster", "parent", "node"],
    "inclusion": ["cluster", "parent", "node"],
    "b": ["cluster", "node"],
    "sigma": ["cluster", "node"],
    "b_base": ["node"],
    "log_sigma_base": ["node"],
    "b_shift": ["cluster", "node"],
    "log_sigma_shift": ["cluster", "node"],
    "intercept_shift": ["cluster", "node"],
    "noise_shift": ["cluster", "node"],
    "log_weights": ["cluster"],
    "membership": ["obs", "cluster"],
    "cluster_size": ["cluster"],
    "alpha": [],
    "noise_weights": ["node", "noise_component"],
    "noise_locs": ["node", "noise_component"],
    "noise_scales": ["node", "noise_component"],
    "df": ["node"],
    "log_skew": ["node"],
}


#: Dimensions of the sites of a fit with several latent factors (the slot axis of ``W``,
#: ``b_shift`` and ``log_sigma_shift`` is split into factor and state).
_FACTOR_DIMS = {
    "alpha": ["factor"],
    "W": ["factor", "state", "parent", "node"],
    "b_shift": ["factor", "state", "node"],
    "log_sigma_shift": ["factor", "state", "node"],
    "factor_log_weights": ["factor", "state"],
    "factor_intercept_shift": ["factor", "state", "node"],
    "factor_noise_shift": ["factor", "state", "node"],
    "factor_membership": ["obs", "factor", "state"],
}


def _split_slots(draws: dict) -> dict:
    """Several-factor draws with their slot axes split into ``(factor, state)``."""
    m, k = draws["factor_log_weights"].shape[-2:]
    out = dict(draws)
    for name in ("W", "b_shift", "log_sigma_shift"):
        value = draws[name]
        out[name] = value.reshape((*value.shape[:2], m, k, *value.shape[3:]))
    return out


_COLUMN_SITES = ("mu", "W", "b_base", "log_sigma_base", "b_shift", "log_sigma_shift")
_TERM_DIMS = {"node": "term", "parent": "parent_term"}


def _restarts_group(fit, coords: dict[str, Any]) -> xr.Dataset:
    """Per restart (SVI) or per chain (NUTS): trace, score, order, partition, inclusion."""
    summary_ = fit.restart_summary
    # a Gibbs fit records, per chain, the SVI restart it started from and that start's score
    starts = {
        name: (("restart",), np.asarray(summary_[name]))
        for name in ("start_restart", "start_score")
        if name in summary_
    }
    return xr.Dataset(
        {
            **starts,
            "elbo_history": (("restart", "step"), fit.elbo_history),
            "final_elbo": (("restart",), fit.restart_elbo),
            "score": (("restart",), summary_["score"]),
            "weight": (("restart",), fit.restart_weights),
            "order": (("restart", "node"), summary_["order"]),
            "partition": (("restart", "obs"), summary_["partition"]),
            "inclusion": (("restart", "cluster", "parent", "node"), summary_["inclusion"]),
            "forced_one_cluster": (("restart",), np.asarray(summary_["forced_one_cluster"])),
            "faults": (
                ("restart",),
                np.asarray(summary_.get("faults", np.zeros(len(fit.restart_elbo), int))),
            ),
            # the restart a slot continues (SVI merge candidates continue the best restart)
            "origin": (
                ("restart",),
                np.asarray(summary_.get("origin", np.arange(len(fit.restart_elbo)))),
            ),
        },
        coords={
            "restart": np.arange(len(fit.restart_elbo)),
            "step": np.arange(fit.elbo_history.shape[1]),
            **{k: coords[k] for k in ("node", "parent", "obs", "cluster")},
        },
    )


def _memberships_group(mean: np.ndarray, coords: dict[str, Any]) -> xr.Dataset:
    """Posterior mean memberships of a minibatch fit (which keeps no per-draw ones)."""
    return xr.Dataset(
        {"mean": (("obs", "cluster"), mean.astype(np.float32))},
        coords={k: coords[k] for k in ("obs", "cluster")},
    )


def restart_evidence(fit, n: int, prune_fraction: float) -> dict[str, list]:
    """Per SVI restart: its score (Laplace-style ELBO of the coarsened posterior, whose power
    is recorded), occupied clusters, forced K = 1.

    The identifiability report compares the best restart with several clusters against the
    best with one (a log Bayes factor). A NUTS fit passes the SVI fit it started from.
    """
    size = min_cluster_size(n, prune_fraction)
    parts = fit.restart_summary["partition"]
    power = fit.restart_summary.get("coarsening_power")
    return {
        "scores": [float(v) for v in fit.restart_summary["score"]],
        "coarsening_power": 1.0 if power is None else float(np.asarray(power).flat[0]),
        "occupied": [int((np.bincount(p) >= size).sum()) for p in parts],
        "forced_one_cluster": [bool(v) for v in fit.restart_summary["forced_one_cluster"]],
    }


def build_inference_data(fit: Fit, data: PreparedData, attrs: dict[str, Any]):
    """Assemble the ArviZ data of a fit.

    An SVI fit's draws get a chain axis of length 1 and ``sample_stats.restart`` (the restart
    each draw came from); a NUTS fit keeps its chains and NUTS's statistics. The ``restarts``
    group holds one entry per SVI restart or per NUTS chain. A minibatch fit has no per-draw
    memberships: its posterior holds ``cluster_size`` (each draw's expected rows per
    cluster), a ``memberships`` group the mean memberships, and there is no
    ``log_likelihood`` group.
    """
    draws = fit.chain_draws()
    stats = fit.chain_stats()
    dims = dict(_DIMS)
    if "factor_log_weights" in draws:
        draws = _split_slots(draws)
        dims |= _FACTOR_DIMS
    posterior = {k: v for k, v in draws.items() if k in dims}
    compact = fit.membership_mean is not None
    if not compact:
        posterior["membership"] = posterior["membership"].astype(np.float32)
    coords = {
        "cluster": np.arange(draws["log_weights"].shape[-1]),
        "node": list(data.columns),
        "parent": list(data.columns),
        "obs": np.arange(data.n),
    }
    prune = attrs["config"]["svi"]["prune_fraction"]
    attrs = {
        **attrs,
        "format": RESULT_FORMAT,
        "evidence": restart_evidence(fit.evidence_fit, data.n, prune),
    }
    if "noise_weights" in draws:
        coords["noise_component"] = np.arange(draws["noise_weights"].shape[-1])
    if "factor_log_weights" in draws:
        m, k = draws["factor_log_weights"].shape[-2:]
        coords |= {"factor": np.arange(m), "state": np.arange(k)}
    if data.design is not None:
        # latent sites are per model column: a categorical variable has one per level
        coords["term"] = coords["parent_term"] = list(data.model_terms())
        for name in _COLUMN_SITES:
            dims[name] = [_TERM_DIMS.get(dim, dim) for dim in dims[name]]
    extra = {"restarts": _restarts_group(fit, coords)}
    if compact:
        extra["memberships"] = _memberships_group(fit.membership_mean, coords)
    return arviz_io.from_arrays(
        posterior=posterior,
        log_likelihood=None if compact else {"obs_loglik": draws["log_lik"]},
        sample_stats=stats,
        observed_data={"y": data.y},
        constant_data={"x": data.x},
        coords=coords,
        dims={**dims, "obs_loglik": ["obs"], "y": ["obs", "node"], "x": ["obs", "node"]},
        extra_groups=extra,
        attrs={k: json.dumps(v) if not isinstance(v, str) else v for k, v in attrs.items()},
    )


def decode_attr(value: Any) -> Any:
    """A posterior attribute: JSON text decoded, anything else as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def write_result_file(idata, path: str | os.PathLike) -> None:
    """Write a result's data to ``path`` by a temporary file beside it and a rename."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        arviz_io.write_netcdf(idata, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file (mkstemp makes it private)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_result_file(path: str | os.PathLike):
    """The data of a result file, checked: a netCDF file holding a fit's metadata in a
    result format this version reads (see :func:`bayes_hcl.results.load_result`)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no result file at {str(path)!r}")
    where = f"{str(path)!r}"
    try:
        idata = arviz_io.read_netcdf(path)
    except (OSError, ValueError, KeyError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataError(f"{where} is not a result written by HCLResult.save ({first})") from None
    attrs = idata.posterior.attrs if arviz_io.has_group(idata, "posterior") else {}
    if not {"config", "data", "seed", "method"} <= set(attrs):
        raise DataError(f"{where} holds no bayes_hcl result (no fit metadata on its posterior)")
    written = int(decode_attr(attrs.get("format", 1)))
    if written > RESULT_FORMAT:
        version = decode_attr(attrs.get("versions", "{}")).get("bayes_hcl", "a later version")
        raise DataError(
            f"{where} was written by bayes_hcl {version} in result format {written}; this "
            f"version reads formats up to {RESULT_FORMAT}: upgrade bayes_hcl to read it"
        )
    return idata
