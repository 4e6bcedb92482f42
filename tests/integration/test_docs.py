"""The documentation tells the same story as the code (issue #21).

* ``help(bayes_hcl.fit)`` names every shipped preset, every type name ``types=`` accepts,
  every method, and documents every parameter of the signature, and nothing else.
* The README's synopses and the option tables of ``docs/cli.md`` list exactly the options of
  the argument parser, subcommand by subcommand.
* Every relative link of the README, CONTRIBUTING.md and ``docs/*.md`` resolves to a file
  inside the repository, and no page, docstring, comment or preset points to the design file
  that lives outside it.

The names are read from the code (presets from ``models/``, types from ``vartypes``, options
from the parser), never from a list written here.
"""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import pytest

from bayes_hcl import api, vartypes
from bayes_hcl.cli.parser import build_parser
from bayes_hcl.config import available_presets

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]

#: An option string in prose or a table: ``--name`` not preceded by a word character or dash.
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


# ------------------------------------------------------------------- fit's docstring
def _parameter_sections(doc: str) -> dict[str, str]:
    """Each documented parameter -> its description, from the numpydoc ``Parameters``
    section (header lines ``name : type`` or ``a, b : type`` without indentation, the
    description indented under them; the section ends at the next underlined heading)."""
    lines = doc.splitlines()
    start = lines.index("Parameters") + 2
    sections: dict[str, str] = {}
    names: list[str] = []
    for i, line in enumerate(lines[start:], start):
        if i + 1 < len(lines) and lines[i + 1].startswith("---"):
            break  # the next section's heading
        if line and not line[0].isspace():
            names = [n.strip() for n in line.split(" : ")[0].split(",")]
            sections.update(dict.fromkeys(names, ""))
        elif names:
            for name in names:
                sections[name] += line.strip() + " "
    return sections


@pytest.fixture(scope="module")
def fit_parameters() -> dict[str, str]:
    return _parameter_sections(inspect.getdoc(api.fit))


def test_fit_documents_every_parameter_of_its_signature(fit_parameters):
    signature = set(inspect.signature(api.fit).parameters)
    assert set(fit_parameters) == signature, (
        f"undocumented: {sorted(signature - set(fit_parameters))}; "
        f"documented but not in the signature: {sorted(set(fit_parameters) - signature)}"
    )
    assert all(text.strip() for text in fit_parameters.values())


def test_fit_docstring_names_every_preset(fit_parameters):
    presets = available_presets()
    assert len(presets) >= 7  # the shipped ones were found
    missing = [p for p in presets if f'``"{p}"``' not in fit_parameters["model"]]
    assert not missing, f"presets missing from fit's `model` parameter: {missing}"


def test_fit_docstring_names_every_accepted_type(fit_parameters):
    accepted = {*vartypes.DECLARABLE_TYPES, *vartypes.COUNT_FAMILIES}
    missing = sorted(t for t in accepted if f'``"{t}"``' not in fit_parameters["types"])
    assert not missing, f"type names missing from fit's `types` parameter: {missing}"


def test_fit_docstring_names_every_method(fit_parameters):
    missing = [m for m in api.METHODS if f'"{m}"' not in fit_parameters["method"]]
    assert not missing, f"methods missing from fit's `method` parameter: {missing}"


def test_the_docstring_parser_sees_a_missing_parameter():
    doc = inspect.getdoc(api.fit).replace("\nseed : int\n", "\nsed : int\n")
    assert "seed" not in _parameter_sections(doc) and "sed" in _parameter_sections(doc)


# --------------------------------------------------------------- the CLI's options
def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _parser_options(sub: argparse.ArgumentParser) -> set[str]:
    """The option strings of a subcommand, ``-h``/``--help`` left out."""
    return {
        s
        for action in sub._actions
        if not isinstance(action, argparse._HelpAction)
        for s in action.option_strings
    }


def _readme_synopses() -> dict[str, set[str]]:
    """The options of each subcommand in the README's synopsis.

    Expected structure: the section ``## Command line`` (up to the next ``## `` heading)
    holds a fenced code block; each synopsis in it starts with a line ``bayes-hcl SUB`` and
    runs on indented lines up to the next such line. Every ``--option`` in a synopsis counts.
    """
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Command line\n(.*?)(?=^## )", text, re.M | re.S)
    assert section, "README.md has no '## Command line' section"
    block = re.search(r"^```[^\n]*\n(.*?)^```", section.group(1), re.M | re.S)
    assert block, "the README's 'Command line' section has no fenced block of synopses"
    synopses: dict[str, set[str]] = {}
    current = None
    for line in block.group(1).splitlines():
        head = re.match(r"bayes-hcl (\w+)", line)
        if head:
            current = head.group(1)
            assert current not in synopses, f"two synopses of {current!r}"
            synopses[current] = set()
        elif line.strip() and not line[0].isspace():
            current = None  # a line that belongs to no synopsis
        if current:
            synopses[current] |= set(OPTION.findall(line))
    return synopses


def _markdown_tables(text: str) -> list[tuple[str, list[list[str]]]]:
    """Every pipe table with the heading above it; rows as lists of cells, header and
    separator rows dropped."""
    tables, heading, rows = [], "", None
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            if rows is None:
                rows = []
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if rows is not None:
            tables.append((heading, rows[2:]))
            rows = None
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
    return tables


def _cli_doc_tables() -> dict[str, set[str]]:
    """The options of each subcommand in ``docs/cli.md``'s tables.

    Expected structure: for each subcommand one heading whose only code span is the
    subcommand's name and which contains the word "options" (``## How the `fit` options map
    to the Python API``, ``### `simulate` options``); the first table under it lists the
    options, one or several ``--option`` per row in its first column (a positional argument
    such as ``DATA`` may have a row too). Options named in the other columns do not count.
    """
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    found: dict[str, set[str]] = {}
    for heading, rows in _markdown_tables(text):
        spans = re.findall(r"`([^`]+)`", heading)
        if "options" not in heading.split() or len(spans) != 1:
            continue
        assert spans[0] not in found, f"two option tables of {spans[0]!r} in docs/cli.md"
        found[spans[0]] = {o for row in rows for o in OPTION.findall(row[0])}
    return found


@pytest.mark.parametrize(
    ("source", "read"), [("README.md", _readme_synopses), ("docs/cli.md", _cli_doc_tables)]
)
def test_documented_options_are_the_parsers(source, read):
    documented = read()
    for name, sub in _subcommands().items():
        assert name in documented, f"{source} documents no options of `bayes-hcl {name}`"
        parser_options = _parser_options(sub)
        missing = sorted(parser_options - documented[name])
        extra = sorted(documented[name] - parser_options)
        assert not missing, f"{source}: `bayes-hcl {name}` options not documented: {missing}"
        assert not extra, f"{source}: `bayes-hcl {name}` has no options {extra}"
    assert set(documented) <= set(_subcommands()), f"{source} documents unknown subcommands"


def test_the_option_readers_find_what_they_should():
    table = "### `demo` options\n\n| option | notes |\n| --- | --- |\n| `--seed` | `--x` |\n"
    tables = _markdown_tables(table)
    assert tables == [("`demo` options", [["`--seed`", "`--x`"]])]
    assert OPTION.findall("[--n-per-cluster N [N ...]] [--out FILE.html] x--y") == [
        "--n-per-cluster",
        "--out",
    ]
    assert _readme_synopses()["fit"] >= {"--out", "--latent-factors", "--batch-size"}


# ------------------------------------------------------------------------- links
def _strip_code(text: str) -> str:
    """The text without fenced code blocks and inline code spans (links there are examples)."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def _relative_links(text: str) -> list[str]:
    """Targets of inline links and images ``[text](target "title")`` and of reference
    definitions ``[label]: target``, without their ``#fragment``; web, mail and in-page
    links left out."""
    text = _strip_code(text)
    targets = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)
    targets += re.findall(r"^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)", text, flags=re.M)
    return [
        t.split("#")[0]
        for t in targets
        if not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", t) and not t.startswith("#")
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(page):
    broken = []
    for target in _relative_links(page.read_text(encoding="utf-8")):
        path = (page.parent / target).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links outside the repository or to nothing"


def test_the_link_reader_finds_links_and_skips_code():
    text = (
        'See [a](docs/a.md#x "t"), ![img](b.png), [web](https://x.org), [in](#here),\n'
        "`[no](code.md)`\n```\n[no](block.md)\n```\n[ref]: ../outside.md\n"
    )
    assert _relative_links(text) == ["docs/a.md", "b.png", "../outside.md"]


def test_nothing_points_to_the_design_file_outside_the_repository():
    files = [
        *PAGES,
        *sorted((ROOT / "bayes_hcl").rglob("*.py")),
        *sorted((ROOT / "models").glob("*.toml")),
    ]
    pattern = re.compile(r"DESIGN(\.md|\s+section)|\.\./shared|\bshared/DESIGN")
    offenders = [str(f.relative_to(ROOT)) for f in files if pattern.search(f.read_text())]
    assert not offenders, f"these point outside the repository (use docs/): {offenders}"
