"""bayes_hcl: Bayesian heterogeneous causal discovery.

Infer, from an ``n × d`` table with no environment labels, the latent clusters of samples,
one causal DAG per cluster, which mechanisms are universal or cluster-specific, and which
variables the hidden cluster shifts, all with posterior uncertainty.
"""

from .api import fit, load_result, versions
from .config import Config, ConfigError, available_presets, load_config
from .convergence import ConvergenceWarning
from .data import DataError, describe_types, prepare
from .devices import initialize_distributed
from .identifiability import IdentifiabilityReport
from .results import HCLResult
from .simulate import simulate
from .simulate_factors import simulate_factors

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
