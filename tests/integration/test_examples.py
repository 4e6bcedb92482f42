"""The examples/ folder runs as shipped: both notebooks (at small sizes) and the batch script."""

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from bayes_hcl import simulate
from bayes_hcl.viz.report import SECTIONS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run_notebook(name: str, workdir: Path) -> str:
    """Execute a notebook in ``workdir`` (small sizes) and return all its text output."""
    book = nbformat.read(EXAMPLES / name, as_version=4)
    os.environ["BAYES_HCL_EXAMPLES"] = "small"  # the kernel inherits this process's environment
    try:
        NotebookClient(book, timeout=600, resources={"metadata": {"path": str(workdir)}}).execute()
    finally:
        del os.environ["BAYES_HCL_EXAMPLES"]
    texts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", "") + str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


def _report_sections(path: Path) -> list[str]:
    return re.findall(r'<section id="([a-z]+)">', path.read_text())


@pytest.mark.slow  # 22 s; the same calls run in test_cli's demo and test_api; Sachs runs here
def test_quickstart_notebook_runs_and_finds_the_clusters(tmp_path):
    text = _run_notebook("quickstart.ipynb", tmp_path)
    ari = float(re.search(r"adjusted Rand index against the hidden truth: ([\d.]+)", text)[1])
    assert ari >= 0.8
    assert "heterogeneity: supported" in text
    assert _report_sections(tmp_path / "quickstart_report.html") == list(SECTIONS)


@pytest.mark.slow  # 33 s; the Sachs fit also runs in the sachs benchmark suite
def test_sachs_notebook_runs_and_compares_with_what_is_known(tmp_path):
    text = _run_notebook("sachs.ipynb", tmp_path)
    assert re.search(r"ARI of clusters vs conditions: [\d.]+", text)
    assert re.search(r"AUPRC [\d.]+", text)
    assert re.search(r"known targets among them: \d+ of 6", text)
    assert _report_sections(tmp_path / "sachs_report.html") == list(SECTIONS)


@pytest.mark.slow  # 19 s; the CLI fits it drives are covered by tests/test_cli.py
def test_batch_script_fits_every_file_and_records_failures(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for seed in (1, 2):
        simulate(120, d=4, n_clusters=2, seed=seed).data.to_csv(
            data / f"sim{seed}.csv", index=False
        )
    bad = simulate(120, d=4, n_clusters=1, seed=3).data.assign(X2=1.0)
    bad.to_csv(data / "constant.csv", index=False)
    script = [sys.executable, str(EXAMPLES / "batch_run.py"), str(data)]
    proc = subprocess.run(
        [*script, "--out", str(tmp_path / "runs"), "--seeds", "0", "1", "--num-steps", "200"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr  # one input is bad: reported, not fatal
    table = pd.read_csv(tmp_path / "runs" / "batch_summary.csv")
    assert len(table) == 6
    failed = table[table.file == "constant.csv"]
    assert failed.status.str.contains("X2").all() and failed.status.str.startswith("error").all()
    ok = table[table.status == "ok"]
    assert len(ok) == 4 and ok.ari_vs_other_seeds.between(-1, 1).all()
    for row in ok.itertuples():
        folder = tmp_path / "runs" / Path(row.file).stem / f"seed{row.seed}"
        assert (folder / "posterior.nc").is_file() and (folder / "edge_probabilities.csv").is_file()
        assert _report_sections(folder / "report.html") == list(SECTIONS)


@pytest.mark.parametrize("name", ["quickstart.ipynb", "sachs.ipynb"])
def test_notebooks_are_committed_without_outputs(name):
    book = nbformat.read(EXAMPLES / name, as_version=4)
    nbformat.validate(book)
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
