"""bayes_hcl: Bayesian heterogeneous causal discovery.

Infer, from an ``n × d`` table with no environment labels, the latent clusters of samples,
one causal DAG per cluster, which mechanisms are universal or cluster-specific, and which
variables the hidden cluster shifts, all with posterior uncertainty.

The package is layered (``docs/architecture.md``): :mod:`.data` -> :mod:`.config` ->
:mod:`.model` -> :mod:`.inference` -> :mod:`.results` -> :mod:`.cli` / :mod:`.bench`, with
:mod:`.api` as the front door. The names below are the public surface.
"""

from bayes_hcl import _moved
from bayes_hcl.api import fit, load_result, versions
from bayes_hcl.config import Config, available_presets, load_config
from bayes_hcl.data import describe_types, prepare
from bayes_hcl.errors import ConfigError, ConvergenceWarning, DataError
from bayes_hcl.inference import initialize_distributed
from bayes_hcl.results import HCLResult
from bayes_hcl.results.identifiability import IdentifiabilityReport
from bayes_hcl.simulate import simulate, simulate_factors

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

_moved.install()
