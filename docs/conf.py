"""Sphinx configuration of the bayes_hcl documentation.

Build from the repository root (CI runs exactly this; any warning fails it):

    sphinx-build -W --keep-going -n -b html docs docs/_build/html

Nothing is fetched at build time: no intersphinx, the built-in ``alabaster`` theme, and the
package is imported from the environment (installed editable), so ``sys.path`` is untouched.
"""

import dataclasses
import functools
import importlib
import inspect
import os
import re
from importlib.metadata import version as _version

# autodoc imports bayes_hcl.viz.plots and bayes_hcl.viz.report, which import matplotlib.pyplot:
# use the non-interactive backend so a build never needs a display.
os.environ.setdefault("MPLBACKEND", "Agg")

project = "bayes_hcl"
author = "bayes_hcl contributors"
release = version = _version("bayes_hcl")

extensions = [
    "myst_parser",  # the pages are Markdown, like the README
    "sphinx.ext.autodoc",  # the API reference comes from the docstrings ...
    "numpydoc",  # ... which are numpydoc: rendered, and validated (below)
    "sphinx.ext.mathjax",  # the model page's maths (typeset in the reader's browser)
    "sphinxarg.ext",  # the CLI reference comes from bayes_hcl.cli.parser.build_parser
]

# .rst is listed only because numpydoc loads autosummary, which warns without it.
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]

# $...$ / $$...$$ maths and amsmath environments (model page); definition lists (the
# option, column and key glossaries); anchors for links to sections of other pages.
myst_enable_extensions = ["dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

# autodoc's :members: lists class members; numpydoc listing them too gives duplicates.
numpydoc_show_class_members = False
# numpydoc validation: a failed check is a build warning, so -W turns a malformed docstring
# into a failed build. "all" minus the checks the package does not follow (yet).
numpydoc_validation_checks = {
    "all",
    "ES01", "EX01", "SA01",  # extended summary, examples, see-also: not required
    "RT01", "PR01", "PR07", "RT03",  # one-line docstrings of methods and helpers
    "SS02", "SS03", "SS05", "SS06", "GL02",  # summary-line style
}  # fmt: skip
numpydoc_validation_exclude = {
    r"^bayes_hcl\.bench\.suites\.SETTINGS$",  # a constant; its description is written in api.md
}

# Types are stated in the numpydoc sections; signatures keep the annotations, shortened
# (``DataFrame`` rather than ``pandas.core.frame.DataFrame``).
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"

# -n (nitpicky) checks every cross-reference. Without intersphinx, third-party and standard
# library types in signatures cannot resolve: ignore exactly those modules, so a broken
# reference to bayes_hcl itself still fails the build.
nitpick_ignore_regex = [
    ("py:class", r"(numpy|numpyro|pandas|matplotlib|networkx|jax|jaxlib|xarray|arviz)(\..+)?"),
    ("py:class", r"(np|pd|jnp)\..+"),  # annotations written with the usual import aliases
    ("py:class", r"(argparse|os|pathlib|collections\.abc|typing)\..+"),
]
html_theme = "alabaster"
html_title = f"bayes_hcl {release}"


def _dataclass_signature(app, what, name, obj, options, signature, return_annotation):
    """Show a dataclass field's ``default_factory`` as a call (``dict()``, ``ModelConfig()``).

    Python writes such defaults as ``<factory>``, which is not Python: Sphinx then cannot
    parse the signature and splits it at every comma (``tuple[str``, ``...]``).
    """
    if what != "class" or "<factory>" not in (signature or ""):
        return None
    if not dataclasses.is_dataclass(obj):
        return None
    for f in dataclasses.fields(obj):
        factory = f.default_factory
        if factory is not dataclasses.MISSING:
            call = f"{factory.__name__}()" if isinstance(factory, type) else repr(factory())
            signature = re.sub(rf"(\b{f.name}: [^=]+= ?)<factory>", rf"\g<1>{call}", signature)
    return signature, return_annotation


def _real_name(target, module):
    """The documented name of a public re-export: ``bayes_hcl.results.HCLResult`` (or
    ``HCLResult`` written inside ``bayes_hcl.results``) -> ``bayes_hcl.results.facade.HCLResult``.

    Each object is documented once, under the module that defines it (docs/api.md); the
    subpackages re-export their public names, and docstrings may cite those. The old import
    paths of the flat layout (``bayes_hcl/_moved.py``) are never resolved here: a reference to
    one stays a warning, so it gets fixed.
    """
    from bayes_hcl._moved import MOVED_MODULES

    target = target.lstrip(".~")
    if not target.startswith("bayes_hcl.") and module:
        target = f"{module}.{target}"
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in MOVED_MODULES:
            return None, None
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None, None
        if inspect.ismodule(obj):
            return obj.__name__, obj
        if isinstance(obj, property):
            obj = obj.fget
        elif isinstance(obj, functools.cached_property):
            obj = obj.func
        owner, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if isinstance(owner, str) and isinstance(qualname, str) and owner.startswith("bayes_hcl"):
            return f"{owner}.{qualname}", obj
        return None, obj  # a constant: found below by identity
    return None, None


def _resolve_reexport(app, env, node, contnode):
    """``missing-reference``: resolve a subpackage's re-export to its documented definition."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    module = node.get("py:module")
    if not (target.startswith(("bayes_hcl.", ".", "~")) or module):
        return None
    real, obj = _real_name(target, module)
    domain = env.get_domain("py")
    if real is None and obj is not None:  # a constant re-exported under the same name
        last = target.rsplit(".", 1)[-1]
        for name, entry in domain.objects.items():
            if entry.objtype != "data" or not name.endswith(f".{last}"):
                continue
            owner = importlib.import_module(name.rsplit(".", 1)[0])
            if getattr(owner, last, None) is obj:
                real = name
                break
    if real is None or real == target or real not in domain.objects:
        return None
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], real, node, contnode
    )


def setup(app):
    app.connect("autodoc-process-signature", _dataclass_signature)
    app.connect("missing-reference", _resolve_reexport)
