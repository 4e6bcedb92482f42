"""The front door: :func:`fit` chains data -> config -> inference -> results."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import warnings
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import pandas as pd

from bayes_hcl.config import Config, load_config
from bayes_hcl.data.prepared import PreparedData, prepare
from bayes_hcl.errors import ConfigError, ConvergenceWarning, DataError
from bayes_hcl.inference import FIT_METHODS, Fit
from bayes_hcl.inference.svi.minibatch import FULL_BATCH_MAX_ROWS, resolve_batch_size
from bayes_hcl.results.facade import HCLResult, build_inference_data, load_result

__all__ = ["METHODS", "SAMPLERS", "fit", "load_result", "versions"]

#: The inference methods ``fit`` offers (see :data:`bayes_hcl.inference.FIT_METHODS`).
METHODS = tuple(FIT_METHODS)

#: The methods that run Markov chains (warm-up, chains, R-hat).
SAMPLERS = ("nuts", "gibbs")


def versions() -> dict[str, str]:
    """Versions of the package and of the libraries that shape its numbers, and the platform
    (operating system and machine: floating-point results can differ between them)."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("bayes_hcl", "jax", "jaxlib", "numpyro", "arviz", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def _resolve_config(
    model, max_clusters, latent_factors, noise, svi_options, sampler_options, model_options, method
) -> Config:
    model_overrides = dict(model_options or {})
    if noise is not None:
        model_overrides["noise_family"] = noise
    if max_clusters is not None:
        model_overrides["max_clusters"] = max_clusters
    if latent_factors is not None:
        model_overrides["latent_factors"] = latent_factors
    return load_config(
        model,
        model_overrides=model_overrides,
        svi_overrides=svi_options,
        nuts_overrides=sampler_options if method == "nuts" else None,
        gibbs_overrides=sampler_options if method == "gibbs" else None,
    )


def _options(method: str, **values) -> tuple[dict, dict]:
    """Split the step/draw options between the SVI and the sampler's (NUTS or Gibbs)
    settings."""
    given = {k: v for k, v in values.items() if v is not None}
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        if key == "batch_size":
            continue  # 0 (automatic) and the smallest batch are checked by SVIConfig
        if value < 1:
            raise ConfigError(f"{key} must be a positive integer, got {value!r}")
    sampled = method in SAMPLERS
    sampler_keys = {"num_warmup", "num_chains"} | ({"num_samples"} if sampled else set())
    sampler = {k: v for k, v in given.items() if k in sampler_keys}
    svi = {k: v for k, v in given.items() if k not in sampler_keys}
    if not sampled and sampler:
        raise ConfigError(f"{', '.join(sorted(sampler))} apply to method='nuts' or 'gibbs' only")
    return svi, sampler


def _describe(value: Any) -> str:
    """Short text for a data or model argument in the recorded command."""
    if isinstance(value, pd.DataFrame | PreparedData):
        n, d = value.shape if isinstance(value, pd.DataFrame) else (value.n, value.d)
        return f"<{type(value).__name__} {n}x{d}>"
    if isinstance(value, Config):
        return f"<Config {value.name!r}>"
    return repr(os.fspath(value)) if isinstance(value, os.PathLike) else repr(value)


def _prepare(data, types, config: Config, missing: str, size_factors: str | None):
    """Validate and standardise; the Gaussian preset declares every column continuous."""
    options = {
        "missing": missing,
        "size_factors": config.model.size_factors if size_factors is None else size_factors,
    }
    prepared = prepare(data, types=types, **options)
    if config.model.force_continuous:  # from the first pass: a size-factor column is gone
        declared = {c: "continuous" for c in prepared.columns}
        prepared = prepare(prepared.frame(), types=declared, missing=missing)
    need = max(10, 2 * prepared.d)
    if prepared.n < need:
        raise DataError(
            f"{prepared.n} rows are too few for {prepared.d} variables: need at least {need}"
        )
    return prepared


def _check_factor_fit(config: Config, data: PreparedData, method: str) -> None:
    """Refuse what several latent factors do not support, in one line each."""
    m = config.model.latent_factors
    if m == 1:
        return
    if m > data.d:
        raise ConfigError(
            f"latent_factors={m} is more than the {data.d} variables allow: each factor "
            "must be able to shift a variable of its own"
        )
    if method in SAMPLERS:
        raise ConfigError("latent_factors > 1 is fitted by SVI only; use method='svi'")
    if resolve_batch_size(config.svi, data.n, 1):
        raise ConfigError(
            "latent_factors > 1 fits all rows at every step; set batch_size=0 "
            f"(automatic takes all rows up to {FULL_BATCH_MAX_ROWS:,})"
        )


def fit(
    data: pd.DataFrame | str | os.PathLike | PreparedData,
    model: str | os.PathLike | Config = "hcl",
    method: str = "svi",
    seed: int = 0,
    *,
    types: Mapping[str, str] | None = None,
    max_clusters: int | None = None,
    latent_factors: int | None = None,
    noise: str | None = None,
    num_steps: int | None = None,
    num_restarts: int | None = None,
    num_samples: int | None = None,
    num_warmup: int | None = None,
    num_chains: int | None = None,
    batch_size: int | None = None,
    model_options: Mapping[str, Any] | None = None,
    missing: str = "error",
    size_factors: str | None = None,
    progress: bool | None = None,
) -> HCLResult:
    """Fit the heterogeneous causal model and return its posterior.

    Parameters
    ----------
    data : DataFrame, path to a CSV, or PreparedData
        ``n × d`` observations; column types are inferred (see
        :func:`bayes_hcl.data.type_inference.describe_types`) unless given in ``types``.
    model : str, path or Config
        A preset name, a ``.toml`` path, or a ready configuration. The presets shipped in
        ``models/`` (:func:`bayes_hcl.config.available_presets`; see ``docs/presets.md``):

        * ``"hcl"`` (default): Dirichlet-process mixture of linear SEMs sharing one causal
          order; mixed types, Gaussian noise on continuous variables.
        * ``"heavy_tailed"``: Laplace noise on continuous variables, for symmetric heavy
          tails; can orient edges by non-Gaussian noise; as fast as the default.
        * ``"robust"``: Gaussian-mixture noise, for skewed or heavy-tailed continuous data;
          about four times slower per step.
        * ``"gaussian"``: every column modelled as Gaussian (binary and count columns
          z-scored); a baseline against the mixed-type default.
        * ``"one_cluster"``: one population, no mixture; the homogeneous reference.
        * ``"single_cell"``: single-cell (or other overdispersed) counts: negative binomial
          (NB2) likelihood and per-cell size factors from the row totals.
        * ``"factorial"``: two independent latent factors, each shifting its own variables
          (see ``latent_factors``).
    method : {"svi", "nuts", "gibbs"}
        Case-insensitive (``"NUTS"`` is ``"nuts"``; the result records the lower-case name).
        ``"svi"``: variational fit with vmapped restarts (fast; edge probabilities from a
        mean-field posterior). ``"nuts"``: the SVI fit, then NUTS chains started from it with
        Metropolis moves on the causal order (slower; calibrated probabilities, R-hat/ESS in
        :meth:`~bayes_hcl.results.HCLResult.convergence`). ``"gibbs"``: the SVI fit, then
        Gibbs chains with the edge indicators drawn with the weights integrated out and
        moves on the causal order (continuous variables with Gaussian noise only so far;
        see :mod:`bayes_hcl.inference.gibbs`).
    seed : int
        Seed of every random choice; the same seed and data give the same result.
    types : mapping, optional
        Column -> declared type, overriding the inferred one (case-insensitive). A variable
        type: ``"continuous"``, ``"binary"``, ``"count"``, ``"categorical"`` (unordered
        levels, a multinomial-logit child) or ``"ordinal"`` (ordered levels, modelled as
        continuous on their ranks); or a count likelihood for that column alone, which makes
        it a count: ``"poisson"``, ``"negative_binomial"`` (alias ``"nb"``). An ordinal
        column's levels in order, lowest first (``["low", "mid", "high"]`` or
        ``"ordinal:low<mid<high"``), declare it ordinal with that order.
    max_clusters : int, optional
        Truncation ``K_max`` of the Dirichlet process (overrides the preset); with several
        latent factors, the states of each factor.
    latent_factors : int, optional
        Number ``m`` of independent hidden sources of heterogeneity (overrides the preset's
        ``model.latent_factors``; preset ``factorial`` has 2). Each is a categorical factor
        whose states shift their own, unknown, set of variables; their joint states
        (``max_clusters ** m``, at most 64) are summed out exactly. Read them with
        :attr:`~bayes_hcl.results.HCLResult.factors`. SVI only, all rows per step.
    noise : {"skew_t", "student_t", "laplace", "gaussian"}, optional
        Noise law of the continuous variables (overrides the preset's
        ``model.noise_family``; the default preset's is ``"skew_t"``, a two-piece Student-t
        whose degrees of freedom and skewness are learned per variable, so that it contains
        the Gaussian). ``"gaussian"`` is the law ``method="gibbs"`` takes.
    num_steps : int, optional
        SVI steps (overrides the preset; NUTS starts from this fit).
    num_restarts : int, optional
        Vmapped SVI restarts (overrides the preset; NUTS starts from this fit).
    num_samples : int, optional
        Posterior draws: in total for SVI, per chain for NUTS and Gibbs.
    num_warmup : int, optional
        Warm-up transitions (NUTS) or sweeps (Gibbs) per chain (those methods only).
    num_chains : int, optional
        Number of chains (``method="nuts"`` or ``"gibbs"`` only).
    batch_size : int, optional
        Rows per SVI step (overrides the preset's ``svi.batch_size``; its default 0 takes all
        rows up to 50,000 and minibatches of 4,096 above). A minibatch fit streams rows from
        host memory, so its cost per step and its memory do not grow with n; its posterior
        keeps mean memberships and per-draw cluster sizes instead of per-draw memberships.
    model_options : mapping, optional
        Any other ``[model]`` key of the preset to override.
    missing : {"error", "mask"}
        ``"error"`` (default) refuses a missing cell with a message naming its column;
        ``"mask"`` keeps the row and leaves the cell's likelihood term out (missing at
        random; as a parent the cell enters at its conditional mean given the row's
        observed cells).
    size_factors : str, optional
        Per-row size factors of the count columns (an offset ``log s`` in their linear
        predictors): ``"total"`` (each row's total count, scaled to geometric mean 1), the name
        of a column holding them (not then a variable), or ``"none"``. Default: the preset's
        ``model.size_factors`` (``"total"`` in ``single_cell``).
    progress : bool, optional
        Progress bar; default on, off when the ``CI`` environment variable is set.

    Returns
    -------
    HCLResult
        The posterior with summaries, diagnostics, ``to_arviz()`` and ``save()``.

    Raises
    ------
    DataError
        The data cannot be read or encoded (one line naming the column or row).
    ConfigError
        An unknown method, preset or preset key, or a bad option value.
    """
    method = _check_call(method, seed)
    svi_options, sampler_options = _options(
        method,
        num_steps=num_steps,
        num_restarts=num_restarts,
        num_samples=num_samples,
        num_warmup=num_warmup,
        num_chains=num_chains,
        batch_size=batch_size,
    )
    config = _resolve_config(
        model,
        max_clusters,
        latent_factors,
        noise,
        svi_options,
        sampler_options,
        model_options,
        method,
    )
    prepared = (
        data
        if isinstance(data, PreparedData)
        else _prepare(data, types, config, missing, size_factors)
    )
    _check_factor_fit(config, prepared, method)
    raw = FIT_METHODS[method](prepared, config, seed=seed, progress=progress)
    command = (
        f"bayes_hcl.fit({_describe(data)}, model={_describe(model)}, "
        f"method={method!r}, seed={seed})"
    )
    attrs = _result_attributes(raw, prepared, config, seed, command)
    result = HCLResult(build_inference_data(raw, prepared, attrs))
    for message in result.convergence()["warnings"]:
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return result


def _check_call(method: str, seed: int) -> str:
    """The method's name in lower case (names are case-insensitive); refuse an unknown
    method or a seed that is not a non-negative integer."""
    name = method.strip().lower() if isinstance(method, str) else method
    if name not in METHODS:
        raise ConfigError(
            f"method {method!r} is not available; choose one of {', '.join(METHODS)}"
            " (case-insensitive)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return name


def _result_attributes(
    raw: Fit, data: PreparedData, config: Config, seed: int, command: str
) -> dict[str, Any]:
    """What a result records beside its draws: method, seed, the call, the full config
    (which reproduces it), the data's metadata, the column types chosen and why (warning
    about the flagged ones), versions, timings and layout."""
    return {
        "method": raw.method,
        "seed": seed,
        "command": command,
        "config": config.to_dict(),
        "data": data.to_dict(),
        "column_types": data.type_table(
            config.model.count_likelihood,
            warn=True,
            noise_family=config.model.noise_family,
            noise_components=config.model.noise_components,
        ),
        "versions": versions(),
        "timings": raw.timings,
        "batch_size": raw.batch_size,
        "devices": raw.devices,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
