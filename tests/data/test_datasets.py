"""The bundled Sachs data: shapes, labels, targets and consensus as documented."""

import numpy as np
import pytest

from bayes_hcl.data.datasets import load_sachs

PROTEINS = ["Raf", "Mek", "Plcg", "PIP2", "PIP3", "Erk", "Akt", "PKA", "PKC", "P38", "Jnk"]


def test_sachs_data_labels_and_counts():
    sachs = load_sachs()
    assert list(sachs.data.columns) == PROTEINS
    assert sachs.data.shape == (7466, 11)
    assert np.isfinite(sachs.data.to_numpy()).all()
    counts = sachs.conditions.value_counts()
    table = sachs.condition_table
    expected = dict(zip(table.condition, table.n_cells, strict=True))
    assert counts.to_dict() == expected and len(expected) == 9
    assert list(sachs.conditions.cat.categories) == list(sachs.condition_table.condition)


def test_sachs_log_scale_and_raw():
    raw, logged = load_sachs(log=False), load_sachs()
    assert raw.data.to_numpy().min() >= 1.0
    np.testing.assert_allclose(np.log(raw.data.to_numpy()), logged.data.to_numpy())


def test_sachs_targets_and_consensus():
    sachs = load_sachs()
    assert sachs.targets["cd3cd28"] == () and sachs.targets["cd3cd28+ly"] == ("PIP3", "Akt")
    assert sachs.intervention_targets == ["Mek", "PIP2", "PIP3", "Akt", "PKA", "PKC"]
    adj = sachs.consensus_adjacency()
    assert adj.sum() == 17 and not np.diag(adj).any()
    assert adj[PROTEINS.index("Raf"), PROTEINS.index("Mek")] == 1
    assert "Sachs" in sachs.provenance and "MIT licence" in sachs.provenance


@pytest.mark.slow
def test_sachs_demo_runs_from_the_cli():
    from tests.integration.test_cli import run_cli

    proc = run_cli("demo", "--dataset", "sachs", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "adjusted Rand index vs conditions" in proc.stdout
    assert "17-edge consensus" in proc.stdout and "identifiability" in proc.stdout
