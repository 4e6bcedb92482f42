"""Configuration: frozen dataclasses and declarative TOML presets.

A preset is a TOML file with an optional ``description`` and the tables ``[model]``,
``[svi]``, ``[nuts]`` and ``[gibbs]``. Every key is optional and overrides the dataclass default; an
unknown table or key is an error that names it. Presets ship in the package
(``bayes_hcl/models`` in the wheel, ``models/`` in a source checkout) and load by name, or
from any path ending in ``.toml``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bayes_hcl.errors import ConfigError
from bayes_hcl.vartypes import COUNT_LIKELIHOODS

__all__ = [
    "MAX_JOINT_STATES",
    "NOISE_FAMILIES",
    "Config",
    "GibbsConfig",
    "ModelConfig",
    "NUTSConfig",
    "SVIConfig",
    "available_presets",
    "joint_states",
    "load_config",
    "min_cluster_size",
    "preset_dir",
]

NOISE_FAMILIES = ("gaussian", "laplace", "student_t", "skew_t")
GUIDES = ("normal",)


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters of the generative model (``docs/model.md``)."""

    max_clusters: int = 8
    dp_shape: float = 1.0
    dp_rate: float = 4.0
    edge_density: float = 1.5
    edge_prior_strength: float = 2.0
    spike_scale: float = 0.03
    slab_scale: float = 0.4
    mechanism_scale: float = 1.0
    intercept_scale: float = 1.5
    noise_shift_scale: float = 0.5
    shift_prior: float = 0.2
    shift_spike_scale: float = 0.05
    noise_loc: float = -0.7
    noise_scale: float = 0.75
    order_temperature: float = 0.05
    count_likelihood: str = "poisson"
    force_continuous: bool = False
    noise_components: int = 1
    noise_family: str = "skew_t"
    size_factors: str = "none"
    latent_factors: int = 1

    def __post_init__(self) -> None:
        _check_positive(
            self,
            "model",
            exclude=("noise_loc", "force_continuous", "noise_family", "latent_factors"),
        )
        _check_factors(self.latent_factors, self.max_clusters)
        if not isinstance(self.size_factors, str) or not self.size_factors:
            raise ConfigError(
                "model.size_factors must be 'none', 'total' or the name of a column, "
                f"got {self.size_factors!r}"
            )
        if not 1 <= self.noise_components <= 8:
            raise ConfigError("model.noise_components must lie in 1..8 (1 = Gaussian noise)")
        if self.shift_prior >= 1:
            raise ConfigError("model.shift_prior must lie in (0, 1)")
        if self.spike_scale >= self.slab_scale:
            raise ConfigError("model.spike_scale must be smaller than model.slab_scale")
        if self.noise_family not in NOISE_FAMILIES:
            raise ConfigError(
                f"model.noise_family {self.noise_family!r} is not one of {NOISE_FAMILIES}"
            )
        if self.noise_family != "gaussian" and self.noise_components > 1:
            raise ConfigError(
                "model.noise_family must be 'gaussian' when model.noise_components > 1 "
                "(the mixture components are Gaussian)"
            )
        if self.count_likelihood not in COUNT_LIKELIHOODS:
            raise ConfigError(
                f"model.count_likelihood {self.count_likelihood!r} "
                f"is not one of {COUNT_LIKELIHOODS}"
            )


#: Largest number of joint states of the latent factors (``max_clusters ** latent_factors``):
#: every row's likelihood is summed over all of them at every step, so the cost of a step
#: grows with this product.
MAX_JOINT_STATES = 64


def _check_factors(factors: int, states: int) -> None:
    if isinstance(factors, bool) or not isinstance(factors, int) or factors < 1:
        raise ConfigError(
            f"model.latent_factors must be an integer >= 1 (the number of independent hidden "
            f"sources), got {factors!r}"
        )
    if factors > 1 and states < 2:
        raise ConfigError(
            "model.max_clusters (states per latent factor) must be at least 2 with "
            f"{factors} latent factors"
        )
    if factors > 1 and states**factors > MAX_JOINT_STATES:
        raise ConfigError(
            f"{factors} latent factors of {states} states each make {states**factors} joint "
            f"states, more than the {MAX_JOINT_STATES} the likelihood can sum over at every "
            "step; lower model.max_clusters (states per factor) or the number of factors"
        )


def joint_states(config: ModelConfig) -> int:
    """Number of mixture components of the model: ``max_clusters`` clusters, or, with
    several latent factors, every joint state ``max_clusters ** latent_factors``."""
    return config.max_clusters**config.latent_factors


#: Smallest minibatch: every step must see enough rows to move the cluster parameters.
MIN_BATCH_SIZE = 32


@dataclass(frozen=True)
class SVIConfig:
    """Settings of the stochastic variational fit (``docs/model.md``, inference)."""

    num_steps: int = 1000
    num_restarts: int = 4
    learning_rate: float = 0.05
    final_learning_rate: float = 0.005
    initial_temperature: float = 1.0
    anneal_fraction: float = 0.6
    num_samples: int = 200
    order_init_scale: float = 0.5
    prune_fraction: float = 0.03
    merge_fraction: float = 0.15
    merge_moves: int = 2
    coarsening: float = 0.0
    one_cluster_restart: bool = True
    prune_at: float = 0.7
    order_search_at: float = 0.5
    guide: str = "normal"
    batch_size: int = 0

    def __post_init__(self) -> None:
        fractions = ("prune_fraction", "merge_fraction", "order_search_at")
        _check_positive(
            self,
            "svi",
            exclude=(
                "guide",
                "one_cluster_restart",
                "batch_size",
                "merge_moves",
                "coarsening",
                *fractions,
            ),
        )
        if isinstance(self.merge_moves, bool) or not isinstance(self.merge_moves, int):
            raise ConfigError(f"svi.merge_moves must be an integer, got {self.merge_moves!r}")
        coarsening = self.coarsening
        if not (
            isinstance(coarsening, int | float)
            and not isinstance(coarsening, bool)
            and math.isfinite(coarsening)
            and coarsening >= 0
        ):
            raise ConfigError(
                f"svi.coarsening must be 0 (off) or a positive number of rows, got "
                f"{self.coarsening!r}"
            )
        if self.merge_moves < 0:
            raise ConfigError(f"svi.merge_moves must be 0 (off) or more, got {self.merge_moves}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ConfigError(f"svi.batch_size must be an integer, got {self.batch_size!r}")
        if self.batch_size < 0 or 0 < self.batch_size < MIN_BATCH_SIZE:
            raise ConfigError(
                f"svi.batch_size must be 0 (automatic) or at least {MIN_BATCH_SIZE} rows, "
                f"got {self.batch_size}"
            )
        if not 0 <= self.prune_fraction < 0.5:
            raise ConfigError("svi.prune_fraction must lie in [0, 0.5)")
        if not 0 <= self.merge_fraction < 0.5:
            raise ConfigError("svi.merge_fraction must lie in [0, 0.5)")
        if not 0 < self.prune_at < 1:
            raise ConfigError("svi.prune_at must lie in (0, 1)")
        if not 0 <= self.order_search_at < 1:
            raise ConfigError("svi.order_search_at must lie in [0, 1) (0 turns the search off)")
        if not 0 < self.anneal_fraction <= 1:
            raise ConfigError("svi.anneal_fraction must lie in (0, 1]")
        if self.guide not in GUIDES:
            raise ConfigError(f"svi.guide {self.guide!r} is not one of {GUIDES}")


@dataclass(frozen=True)
class NUTSConfig:
    """Settings of the NUTS sampler (``method="nuts"``).

    ``order_moves`` Metropolis proposals on the causal order follow every NUTS transition
    (0: five per node); ``extra_clusters`` empty clusters are kept beyond those the SVI
    initialisation occupies, so the sampler can still open a new cluster.
    """

    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 4
    target_accept_prob: float = 0.8
    max_tree_depth: int = 8
    order_moves: int = 0
    extra_clusters: int = 1

    def __post_init__(self) -> None:
        _check_positive(self, "nuts", exclude=("order_moves", "extra_clusters"))
        for key in ("order_moves", "extra_clusters"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"nuts.{key} must be a non-negative integer, got {value!r}")
        if not 0 < self.target_accept_prob < 1:
            raise ConfigError("nuts.target_accept_prob must lie in (0, 1)")
        if not 1 <= self.max_tree_depth <= 12:
            raise ConfigError("nuts.max_tree_depth must lie in 1..12")


@dataclass(frozen=True)
class GibbsConfig:
    """Settings of the Gibbs sampler (``method="gibbs"``).

    Each chain runs ``num_warmup`` sweeps, then keeps every sweep of ``num_samples``.
    ``order_moves`` moves of the causal order (a node to a random position) are proposed
    per sweep (0: two per node); ``extra_clusters`` empty clusters are kept beyond those the
    SVI initialisation occupies.
    """

    num_warmup: int = 300
    num_samples: int = 1000
    num_chains: int = 4
    order_moves: int = 0
    extra_clusters: int = 1

    def __post_init__(self) -> None:
        _check_positive(self, "gibbs", exclude=("order_moves", "extra_clusters"))
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"gibbs.{f.name} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True)
class Config:
    """A complete configuration: the preset's name, the model, SVI, NUTS and Gibbs settings."""

    name: str = "hcl"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    svi: SVIConfig = field(default_factory=SVIConfig)
    nuts: NUTSConfig = field(default_factory=NUTSConfig)
    gibbs: GibbsConfig = field(default_factory=GibbsConfig)

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a nested, TOML/JSON-compatible dictionary."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """Rebuild a configuration written by :meth:`to_dict` (unknown keys are errors)."""
        return _build(data, name=str(data.get("name", "custom")), source="config")


def _check_positive(obj: Any, section: str, exclude: tuple[str, ...]) -> None:
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name in exclude or isinstance(value, str):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{section}.{f.name} must be a number, got {value!r}")
        if value <= 0:
            raise ConfigError(f"{section}.{f.name} must be positive, got {value!r}")


def preset_dir() -> Path:
    """Directory holding the shipped presets (wheel layout first, then a source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "models", here.parent / "models"):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"no preset directory found next to {here}")


def available_presets() -> list[str]:
    """Names of the presets shipped with the package."""
    return sorted(p.stem for p in preset_dir().glob("*.toml"))


def _read_preset(model: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    text = str(model)
    if text.endswith(".toml") or os.sep in text:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"preset file {text!r} does not exist")
        name = path.stem
    else:
        path = preset_dir() / f"{text}.toml"
        if not path.is_file():
            raise ConfigError(
                f"unknown model preset {text!r}; available: {', '.join(available_presets())}"
            )
        name = text
    try:
        with path.open("rb") as fh:
            return name, tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"preset {str(path)!r} is not valid TOML: {err}") from None


def _section(cls: type, values: Mapping[str, Any], section: str, source: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(
                f"unknown key {section}.{key!r} in {source}; valid keys: {', '.join(known)}"
            )
    kwargs = {}
    for key, value in values.items():
        default = known[key].default
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(default) is not type(value):
            raise ConfigError(
                f"{section}.{key} in {source} must be {type(default).__name__}, got {value!r}"
            )
        kwargs[key] = value
    return cls(**kwargs)


def _build(data: Mapping[str, Any], name: str, source: str) -> Config:
    allowed = {"name", "description", "model", "svi", "nuts", "gibbs"}
    for key in data:
        if key not in allowed:
            raise ConfigError(f"unknown key {key!r} in {source}; valid keys: {sorted(allowed)}")
    for key in ("model", "svi", "nuts", "gibbs"):
        if not isinstance(data.get(key, {}), Mapping):
            raise ConfigError(f"{key!r} in {source} must be a table")
    return Config(
        name=name,
        description=str(data.get("description", "")),
        model=_section(ModelConfig, data.get("model", {}), "model", source),
        svi=_section(SVIConfig, data.get("svi", {}), "svi", source),
        nuts=_section(NUTSConfig, data.get("nuts", {}), "nuts", source),
        gibbs=_section(GibbsConfig, data.get("gibbs", {}), "gibbs", source),
    )


def load_config(
    model: str | os.PathLike | Config = "hcl",
    *,
    model_overrides: Mapping[str, Any] | None = None,
    svi_overrides: Mapping[str, Any] | None = None,
    nuts_overrides: Mapping[str, Any] | None = None,
    gibbs_overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load a preset by name or path and apply overrides.

    Parameters
    ----------
    model : str, path or Config
        A preset name (see :func:`available_presets`), a path to a ``.toml`` file, or a
        ready :class:`Config`.
    model_overrides, svi_overrides, nuts_overrides, gibbs_overrides : mapping, optional
        Keys of ``[model]`` / ``[svi]`` / ``[nuts]`` / ``[gibbs]`` to override, e.g.
        ``{"max_clusters": 4}``.

    Returns
    -------
    Config
        The frozen configuration.

    Raises
    ------
    ConfigError
        If the preset does not exist, is not valid TOML, or has an unknown key or bad value.
    """
    if isinstance(model, Config):
        base = model.to_dict()
        name = model.name
    else:
        name, base = _read_preset(model)
        base.pop("name", None)
        # the preset must be valid on its own: an override must not hide a bad value in it
        _build(base, name=name, source=f"preset {name!r}")
    merged = dict(base)
    merged["model"] = {**base.get("model", {}), **(model_overrides or {})}
    merged["svi"] = {**base.get("svi", {}), **(svi_overrides or {})}
    merged["nuts"] = {**base.get("nuts", {}), **(nuts_overrides or {})}
    merged["gibbs"] = {**base.get("gibbs", {}), **(gibbs_overrides or {})}
    merged.pop("name", None)
    return _build(merged, name=name, source=f"preset {name!r}")


def min_cluster_size(n: int, fraction: float = 0.03) -> int:
    """Rows a cluster needs in a draw to count as occupied: ``max(3, ceil(fraction * n))``.

    A truncated DP keeps spare clusters near the universal model that pick up a few rows in
    the overlap of real clusters. Counting those as clusters would inflate the number of
    clusters and the pooled edge probabilities (their edges are prior noise), so a cluster
    must hold at least ``fraction`` of the rows in a draw to be occupied. Results pass the
    share below which the SVI fit prunes a cluster (``svi.prune_fraction``), so one setting
    decides both.
    """
    return max(3, math.ceil(fraction * n))
