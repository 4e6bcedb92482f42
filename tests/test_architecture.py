"""The package's shape (issue #20, ``docs/architecture.md``): layer subpackages, small modules,
no private name taken across a subpackage, and the import-linter contracts kept.

The layer order and the absence of import circles are import-linter's contracts in
``pyproject.toml``; the rules import-linter cannot state are checked here from the source.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bayes_hcl"
ROOT = PACKAGE.parent
MAX_MODULE_LINES = 600
MAX_TOP_LEVEL_MODULES = 10
LAYERS = ("data", "model", "inference", "results", "viz", "cli", "simulate", "bench")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _home(module: str) -> str:
    """The subpackage a module belongs to (a top-level module is its own home)."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def private_imports(*, across_subpackages_only: bool = False) -> list[str]:
    """Every ``from bayes_hcl.x import _name`` taken by another module (a private module
    imported by its own package's ``__init__`` is that package's business, not a crossing)."""
    found = []
    for module, path in _modules().items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _resolve(module, node, path.name == "__init__.py")
            if not source.startswith("bayes_hcl") or source == module:
                continue
            if across_subpackages_only and _home(source) == _home(module):
                continue
            for alias in node.names:
                if not alias.name.startswith("_") or alias.name.startswith("__"):
                    continue
                if path.name == "__init__.py" and source == module:
                    continue
                if path.name == "__init__.py" and f"{source}.{alias.name}" in _modules():
                    continue  # the package's own private module
                found.append(f"{module}:{node.lineno} takes {source}.{alias.name}")
    return found


def test_no_private_name_crosses_a_subpackage_or_a_module():
    # the rule is across subpackages; the package keeps the stricter one
    assert private_imports(across_subpackages_only=True) == []
    assert private_imports() == []


def test_the_checker_sees_a_private_import_across_subpackages(tmp_path, monkeypatch):
    # the rule above must be able to fail: a fake layer taking a private name is caught
    fake = tmp_path / "bayes_hcl"
    (fake / "viz").mkdir(parents=True)
    (fake / "viz" / "__init__.py").write_text("")
    (fake / "viz" / "plots.py").write_text("from bayes_hcl.results.summary import _in_all\n")
    (fake / "viz" / "same.py").write_text("from bayes_hcl.viz.plots import _private\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "PACKAGE", fake)
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "ROOT", tmp_path)
    assert private_imports(across_subpackages_only=True) == [
        "bayes_hcl.viz.plots:1 takes bayes_hcl.results.summary._in_all"
    ]
    assert private_imports() == [
        "bayes_hcl.viz.plots:1 takes bayes_hcl.results.summary._in_all",
        "bayes_hcl.viz.same:1 takes bayes_hcl.viz.plots._private",
    ]


def test_modules_are_small_and_the_top_level_is_thin():
    lines = {m: len(p.read_text().splitlines()) for m, p in _modules().items()}
    too_long = {m: n for m, n in lines.items() if n > MAX_MODULE_LINES}
    assert too_long == {}
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    subpackages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert subpackages == sorted(LAYERS)


def test_every_module_declares_its_public_names():
    missing = []
    for module, path in _modules().items():
        if path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text())
        names = {
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name)
        }
        if "__all__" not in names:
            missing.append(module)
    assert missing == []


def _lint_imports() -> str | None:
    """The ``lint-imports`` of this interpreter's environment (also when it is not on PATH)."""
    beside = Path(sys.executable).parent / "lint-imports"
    return str(beside) if beside.exists() else shutil.which("lint-imports")


@pytest.mark.skipif(_lint_imports() is None, reason="import-linter not installed")
def test_import_linter_contracts_are_kept():
    proc = subprocess.run(
        [_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_old_import_paths_still_work_and_warn():
    # a fresh interpreter: each old path is imported for the first time there
    code = """
import importlib, json, warnings
import bayes_hcl as bh
from bayes_hcl._moved import MOVED_MODULES
old_names = json.load(open("tests/reference/old_public_names.json"))
out = {}
for old, new in MOVED_MODULES.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    out[old] = {
        "same": module is importlib.import_module(new),
        "spec": module.__spec__.name,
        "warned": [str(w.message) for w in caught if w.category is DeprecationWarning],
    }
missing = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for old, names in old_names.items():
        module = importlib.import_module(f"bayes_hcl.{old}")
        missing[old] = [n for n in names if not hasattr(module, n)]
out["missing"] = {k: v for k, v in missing.items() if v}
out["functions"] = [callable(bh.simulate), callable(bh.simulate_factors)]
print(json.dumps(out))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    seen = json.loads(proc.stdout)
    from bayes_hcl._moved import MOVED_MODULES

    # every name in an old module's __all__ (at 749e9fa) resolves through its old path
    assert seen.pop("missing") == {}
    # importing an old module path does not turn a public function into a module
    assert seen.pop("functions") == [True, True]
    assert set(seen) == set(MOVED_MODULES)
    for old, new in MOVED_MODULES.items():
        assert seen[old]["same"], old
        assert seen[old]["spec"] == new, old  # the real module keeps its own spec
        assert seen[old]["warned"] == [
            f"{old} moved to {new}; the old import path is removed in the next release"
        ], old


def test_old_public_names_of_former_modules_are_kept_on_their_subpackages():
    import bayes_hcl as bh
    from bayes_hcl.bench import run_bench
    from bayes_hcl.cli import build_parser, main
    from bayes_hcl.data import PreparedData, prepare
    from bayes_hcl.inference import fit_svi
    from bayes_hcl.model import hcl_model, ordered_model
    from bayes_hcl.results import HCLResult, build_inference_data, load_result
    from bayes_hcl.simulate import NOISE_KINDS, SimulatedData, simulate

    assert callable(main) and callable(build_parser) and callable(run_bench)
    assert bh.simulate is simulate and bh.HCLResult is HCLResult and bh.load_result is load_result
    assert all(callable(f) for f in (prepare, fit_svi, hcl_model, ordered_model))
    assert build_inference_data and PreparedData and SimulatedData and NOISE_KINDS
