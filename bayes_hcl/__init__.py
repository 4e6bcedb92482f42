"""bayes_hcl: Bayesian heterogeneous causal discovery.

Infer, from an ``n × d`` table with no environment labels, the latent clusters of samples,
one causal DAG per cluster, which mechanisms are universal or cluster-specific, and which
variables the hidden cluster shifts, all with posterior uncertainty.

The package is layered (``docs/architecture.md``): :mod:`.data` -> :mod:`.config` ->
:mod:`.model` -> :mod:`.inference` -> :mod:`.results` -> :mod:`.cli` / :mod:`.bench`, with
:mod:`.api` as the front door. The names below are the public surface.
"""

import importlib
import sys
import types
from typing import Any

from bayes_hcl import _moved
from bayes_hcl.config import Config, available_presets, load_config
from bayes_hcl.data import describe_types, prepare
from bayes_hcl.errors import ConfigError, ConvergenceWarning, DataError
from bayes_hcl.simulate import simulate, simulate_factors

# Names whose modules import JAX: loaded on first use, so that ``import bayes_hcl`` (and
# ``bayes-hcl --help``) stays light and JAX's backend starts only when a fit needs it.
_LAZY_NAMES = {
    "fit": "bayes_hcl.api",
    "load_result": "bayes_hcl.api",
    "versions": "bayes_hcl.api",
    "HCLResult": "bayes_hcl.results",
    "IdentifiabilityReport": "bayes_hcl.results.identifiability",
    "initialize_distributed": "bayes_hcl.inference.devices",
}
_SUBMODULES = frozenset(
    {"api", "bench", "cli", "config", "data", "errors", "inference", "metrics", "model"}
    | {"results", "simulate", "vartypes", "viz"}
)


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"bayes_hcl.{name}")
    elif f"bayes_hcl.{name}" in _moved.MOVED_MODULES:  # bh.summary & co.: warns, for a release
        return importlib.import_module(f"bayes_hcl.{name}")
    else:
        raise AttributeError(f"module 'bayes_hcl' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES) | _SUBMODULES)


__all__ = [
    "Config",
    "ConfigError",
    "ConvergenceWarning",
    "DataError",
    "HCLResult",
    "IdentifiabilityReport",
    "available_presets",
    "describe_types",
    "fit",
    "initialize_distributed",
    "load_config",
    "load_result",
    "prepare",
    "simulate",
    "simulate_factors",
    "versions",
]

__version__ = "0.1.0"


class _Package(types.ModuleType):
    """``bayes_hcl`` itself: importing a submodule never replaces a public function of the
    same name (``bh.simulate`` and ``bh.simulate_factors`` stay functions after
    ``import bayes_hcl.simulate.sem`` or the old ``import bayes_hcl.simulate_factors``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        current = self.__dict__.get(name)
        if isinstance(value, types.ModuleType) and isinstance(current, types.FunctionType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
_moved.install()
