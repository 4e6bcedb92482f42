"""The front door: :func:`fit` chains data -> config -> inference -> results."""

from __future__ import annotations

import datetime as _dt
import os
import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import pandas as pd

from .config import Config, ConfigError, load_config
from .data import DataError, PreparedData, prepare
from .inference import fit_svi
from .results import HCLResult, build_inference_data, load_result

__all__ = ["METHODS", "fit", "load_result", "versions"]

METHODS = ("svi",)


def versions() -> dict[str, str]:
    """Versions of the package and of the libraries that shape its numbers."""
    out = {"python": platform.python_version()}
    for name in ("bayes_hcl", "jax", "jaxlib", "numpyro", "arviz", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def _resolve_config(model, max_clusters, svi_options, model_options) -> Config:
    model_overrides = dict(model_options or {})
    if max_clusters is not None:
        model_overrides["max_clusters"] = max_clusters
    return load_config(model, model_overrides=model_overrides, svi_overrides=svi_options)


def _prepare(data, types, force_continuous: bool) -> PreparedData:
    """Validate and standardise; the Gaussian preset declares every column continuous."""
    prepared = prepare(data, types=types)
    if force_continuous:
        prepared = prepare(data, types={c: "continuous" for c in prepared.columns})
    need = max(10, 2 * prepared.d)
    if prepared.n < need:
        raise DataError(
            f"{prepared.n} rows are too few for {prepared.d} variables: need at least {need}"
        )
    return prepared


def fit(
    data: pd.DataFrame | str | os.PathLike | PreparedData,
    model: str | os.PathLike | Config = "hcl",
    method: str = "svi",
    seed: int = 0,
    *,
    types: Mapping[str, str] | None = None,
    max_clusters: int | None = None,
    num_steps: int | None = None,
    num_restarts: int | None = None,
    num_samples: int | None = None,
    model_options: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> HCLResult:
    """Fit the heterogeneous causal model and return its posterior.

    Parameters
    ----------
    data : DataFrame, path to a CSV, or PreparedData
        ``n × d`` observations; column types are inferred (see
        :func:`bayes_hcl.data.describe_types`) unless given in ``types``.
    model : str, path or Config
        Preset name (``"hcl"``, ``"gaussian"``, ``"one_cluster"``), a ``.toml`` path, or a
        ready configuration.
    method : {"svi"}
        Inference method. (NUTS is planned; asking for it is a clear error, not a fallback.)
    seed : int
        Seed of every random choice; the same seed and data give the same result.
    types : mapping, optional
        Column -> ``"continuous" | "binary" | "count"`` overrides.
    max_clusters : int, optional
        Truncation ``K_max`` of the Dirichlet process (overrides the preset).
    num_steps, num_restarts, num_samples : int, optional
        SVI steps, vmapped restarts and posterior draws (override the preset).
    model_options : mapping, optional
        Any other ``[model]`` key of the preset to override.
    progress : bool, optional
        Progress bar; default on, off when the ``CI`` environment variable is set.

    Returns
    -------
    HCLResult
        The posterior with summaries, diagnostics, ``to_arviz()`` and ``save()``.
    """
    if method not in METHODS:
        raise ConfigError(f"method {method!r} is not available; choose one of {METHODS}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    svi_options = {
        k: v
        for k, v in (
            ("num_steps", num_steps),
            ("num_restarts", num_restarts),
            ("num_samples", num_samples),
        )
        if v is not None
    }
    config = _resolve_config(model, max_clusters, svi_options, model_options)
    if not isinstance(data, PreparedData):
        data = _prepare(data, types, config.model.force_continuous)
    svi_fit = fit_svi(data, config, seed=seed, progress=progress)
    attrs = {
        "method": method,
        "seed": seed,
        "config": config.to_dict(),
        "data": data.to_dict(),
        "versions": versions(),
        "timings": svi_fit.timings,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return HCLResult(build_inference_data(svi_fit, data, attrs))
