"""Import paths of the flat layout (before 0.2), kept for one release.

``import bayes_hcl.plots`` and ``from bayes_hcl.order_search import OrderSearch`` still work:
a finder on ``sys.meta_path`` answers each old name with its new module (the same module
object, so monkeypatching either name patches both) and a :class:`DeprecationWarning` naming
the new path. Old names that are now subpackages (``bayes_hcl.data``, ``.model``,
``.inference``, ``.results``, ``.simulate``, ``.cli``, ``.bench``) re-export their former
public names from the subpackage itself and need no entry here.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__all__ = ["MOVED_MODULES", "MOVED_NAMES", "install"]

#: Old module (flat layout) -> the module that holds its code now.
MOVED_MODULES: dict[str, str] = {
    f"bayes_hcl.{old}": f"bayes_hcl.{new}"
    for old, new in {
        "arviz_io": "results.io.arviz_io",
        "bench_cells": "bench.cells",
        "bench_factors": "bench.factors",
        "bench_scaling": "bench.scaling",
        "calibration": "bench.calibration",
        "categorical": "data.categorical",
        "columns": "data.columns",
        "convergence": "results.convergence",
        "datasets": "data.datasets",
        "demo": "cli.demo",
        "devices": "inference.devices",
        "diagnostics": "results.identifiability.rules",
        "encoding": "data.encoding",
        "exact": "bench.exact",
        "factorial": "model.factorial",
        "factors": "results.factors",
        "glm": "inference.search.glm",
        "guide": "model.guide",
        "identifiability": "results.identifiability.report",
        "likelihoods": "model.likelihoods",
        "minibatch": "inference.svi.minibatch",
        "nuts": "inference.nuts.driver",
        "order_masks": "model.order_masks",
        "order_moves": "inference.nuts.order_moves",
        "order_search": "inference.search.order_search",
        "orientation": "results.identifiability.orientation",
        "outputs": "cli.outputs",
        "plots": "viz.plots",
        "posterior": "results.io.posterior",
        "priors": "model.priors",
        "programs": "inference.svi.programs",
        "relabel": "inference.relabel",
        "report": "viz.report",
        "simulate_cells": "simulate.cells",
        "simulate_factors": "simulate.factors",
        "summary": "results.summary",
        "variable_types": "data.type_inference",
        "warm_start": "inference.svi.warm_start",
    }.items()
}


#: Names an old module offered that its new module does not define: old module -> {old name:
#: (module that holds it now, its name there)}. They are bound on the new module when (and
#: only when) the old path is imported, so ``from bayes_hcl.convergence import
#: ConvergenceWarning`` keeps working while the new modules import only what they use.
MOVED_NAMES: dict[str, dict[str, tuple[str, str]]] = {
    "bayes_hcl.columns": {
        "TYPE_CODES": ("bayes_hcl.vartypes", "TYPE_CODES"),
        "VARIABLE_TYPES": ("bayes_hcl.vartypes", "VARIABLE_TYPES"),
        "DECLARABLE_TYPES": ("bayes_hcl.vartypes", "DECLARABLE_TYPES"),
        "COUNT_FAMILIES": ("bayes_hcl.vartypes", "COUNT_FAMILIES"),
    },
    "bayes_hcl.convergence": {"ConvergenceWarning": ("bayes_hcl.errors", "ConvergenceWarning")},
    "bayes_hcl.likelihoods": {"CATEGORICAL": ("bayes_hcl.vartypes", "CATEGORICAL")},
    "bayes_hcl.summary": {
        "EFFECT_COLUMNS": ("bayes_hcl.results.effects", "EFFECT_COLUMNS"),
        "effect_table": ("bayes_hcl.results.effects", "effect_table"),
        "hdi": ("bayes_hcl.results.effects", "hdi"),
        "mechanism_changes": ("bayes_hcl.results.mechanisms", "mechanism_changes"),
    },
    "bayes_hcl.order_moves": {
        "cluster_moments": ("bayes_hcl.inference.nuts.order_moves", "proposal_moments"),
        "MIN_WEIGHT_CHANGE": ("bayes_hcl.inference.nuts.order_moves", "MIN_PROPOSED_WEIGHT_STEP"),
    },
}


class _MovedLoader(importlib.abc.Loader):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new
        self._spec = None

    def create_module(self, spec):
        module = importlib.import_module(self.new)
        self._spec = module.__spec__
        return module

    def exec_module(self, module) -> None:
        # the import system has just set the old name's spec on the (already executed) new
        # module: give it back its own, so reload and pickling see the real module
        module.__spec__ = self._spec
        for old_name, (home, name) in MOVED_NAMES.get(self.old, {}).items():
            if not hasattr(module, old_name):
                setattr(module, old_name, getattr(importlib.import_module(home), name))
        warnings.warn(
            f"{self.old} moved to {self.new}; the old import path is removed in the next release",
            DeprecationWarning,
            stacklevel=2,
        )


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        new = MOVED_MODULES.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _MovedLoader(fullname, new))


def install() -> None:
    """Put the finder of old import paths on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
