"""The outputs tell one story: every readout of a fit is over the same clusters and agrees.

Run on the README's quick start, command by command as written there (its data make the
posterior keep a small third cluster that the point estimate merges), and on the shared
small fit. Checks:

* pooled edge probabilities lie between the largest per-cluster value (less the share of
  draws in which that cluster is unoccupied) and P(edge in any shown cluster) computed from
  the draws;
* the cluster folders, the membership columns, ``n_clusters`` and ``clusters_shown`` agree,
  and agree with the posterior over K or the note that explains the difference;
* universal / specific edges are identical in ``summary()``, ``identifiability.json`` and
  the HTML report.
"""

from __future__ import annotations

import json
import re
import shlex
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_hcl as bh
from bayes_hcl.results.shown import shown_occupancy
from tests.integration.test_cli import run_cli

ROOT = Path(__file__).resolve().parents[2]


def quick_start_commands() -> list[list[str]]:
    """The ``bayes-hcl`` commands of the README's quick start, in order, minus ``demo``."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", text, re.S)
    assert block, "README has no bash block under '## Quick start'"
    commands = []
    for line in block.group(1).splitlines():
        words = shlex.split(line.split("#")[0])
        if words and words[0] == "bayes-hcl" and words[1] != "demo":
            commands.append(words[1:])
    return commands


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quick_start")
    printed = {}
    for args in quick_start_commands():
        proc = run_cli(*args, cwd=folder)
        assert proc.returncode == 0, proc.stderr
        printed[args[0]] = proc.stdout
    out = next(folder.glob("*/summary.json")).parent
    return out, printed


class _Tables(HTMLParser):
    """Rows of the first table under each ``<h3>`` of an HTML page: ``{heading: [[cells]]}``."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._heading, self._in, self._cells, self._text = "", "", [], ""

    def handle_starttag(self, tag, attrs):
        if tag in ("h3", "td"):
            self._in, self._text = tag, ""
        elif tag == "tr":
            self._cells = []

    def handle_endtag(self, tag):
        if tag == "h3" and self._in == "h3":
            self._heading, self._in = self._text.strip(), ""
            self.tables.setdefault(self._heading, [])
        elif tag == "td" and self._in == "td":
            self._cells.append(self._text.strip())
            self._in = ""
        elif tag == "tr" and self._cells and self._heading:
            self.tables[self._heading].append(self._cells)
        elif tag in ("table", "p", "section"):
            self._heading = ""  # only the table right under the heading

    def handle_data(self, data):
        if self._in:
            self._text += data


def _pairs(records) -> set[tuple[str, str]]:
    return {(r["cause"], r["effect"]) for r in records}


def _labelled(table: pd.DataFrame, mechanism: str) -> set[tuple[str, str]]:
    return _pairs(table[table.mechanism == mechanism].to_dict("records"))


def _report_pairs(path: Path, heading_start: str) -> set[tuple[str, str]]:
    parser = _Tables()
    parser.feed(path.read_text())
    (heading,) = [h for h in parser.tables if h.startswith(heading_start)]
    return {(row[0], row[1]) for row in parser.tables[heading]}


def _check_pooled_between_bounds(result: bh.HCLResult, pooled: pd.DataFrame, per_cluster):
    shown = result.occupied_clusters()
    occupied = shown_occupancy(result._occupied, shown)
    inclusion = result.idata.posterior["inclusion"].values
    inclusion = inclusion.reshape((-1, *inclusion.shape[2:]))[:, shown]
    in_any_shown = (1.0 - np.prod(1.0 - inclusion, axis=1)).mean(0)
    unoccupied = 1.0 - occupied[:, shown].mean(0)
    lower = np.max([p.to_numpy() - u for p, u in zip(per_cluster, unoccupied, strict=True)], 0)
    assert (pooled.to_numpy() >= lower - 1e-6).all()
    assert (pooled.to_numpy() <= in_any_shown + 1e-6).all()


def _check_outputs_tell_one_story(out: Path, report: Path) -> dict:
    """The files of one fit folder agree with each other and with the saved result;
    returns ``summary.json``."""
    result = bh.load_result(out / "posterior.nc")
    summary = json.loads((out / "summary.json").read_text())
    ident = json.loads((out / "identifiability.json").read_text())
    members = pd.read_csv(out / "memberships.csv", index_col="row")

    folders = sorted(int(p.name) for p in (out / "clusters").iterdir())
    shown = result.occupied_clusters()
    assert folders == shown == summary["clusters_shown"]
    assert [int(c) for c in members.columns if c != "cluster"] == shown
    assert sorted(members["cluster"].unique().tolist()) == shown
    assert summary["n_clusters"] == len(shown)
    assert ident["clusters"]["occupied"] == shown
    sizes = members["cluster"].value_counts()
    assert ident["clusters"]["sizes"] == {str(k): int(sizes[k]) for k in shown}
    assert summary["cluster_sizes"] == ident["clusters"]["sizes"]
    np.testing.assert_allclose(members.drop(columns="cluster").sum(axis=1), 1.0, atol=1e-6)

    # the number shown agrees with the posterior over K, or the note says why not
    posterior = {int(k): p for k, p in summary["n_clusters_posterior"].items()}
    note = summary["clusters_note"]
    if max(posterior, key=posterior.get) != len(shown) or note["hidden"]:
        assert note["text"] and f"shows {len(shown)} cluster" in note["text"]
    for hidden in note["hidden"]:
        assert f"~{hidden['rows']:.0f} rows of membership" in note["text"]

    pooled = pd.read_csv(out / "edge_probabilities.csv", index_col=0)
    per_cluster = [
        pd.read_csv(out / "clusters" / str(k) / "edge_probabilities.csv", index_col=0)
        for k in shown
    ]
    _check_pooled_between_bounds(result, pooled, per_cluster)
    with pytest.raises(ValueError, match=r"clusters shown are"):
        result.edge_probabilities(max(shown) + 1)

    table = result.summary()
    universal, specific = _labelled(table, "universal"), _labelled(table, "specific")
    assert _pairs(ident["interpretation"]["universal_edges"]) == universal
    assert _pairs(ident["interpretation"]["specific_edges"]) == specific
    assert _pairs(result.universal_edges().to_dict("records")) == universal
    assert _pairs(result.specific_edges().to_dict("records")) == specific
    assert _report_pairs(report, "Universal edges") == universal
    assert _report_pairs(report, "Cluster-specific edges") == specific
    return summary


def test_the_quick_start_outputs_tell_one_story(quick_start):
    out, printed = quick_start
    summary = _check_outputs_tell_one_story(out, next(out.parent.glob("**/report.html")))
    note = summary["clusters_note"]
    if note["text"]:
        assert f"clusters: {note['text']}" in printed["fit"]
    # under Gaussian noise the quick start kept a third cluster of ~150 rows that the point
    # estimate merged; the default skew-t noise keeps none, so a hidden cluster is planted
    # by test_a_planted_hidden_cluster_tells_one_story instead
    assert all(h["rows"] > 0 for h in note["hidden"])


def _with_hidden_cluster(fit: bh.HCLResult, edge: tuple[int, int]) -> bh.HCLResult:
    """``fit`` with a third cluster planted in a spare slot of the truncation: in every
    draw 45 % of the membership of 60 rows of cluster 0, and an edge no shown cluster has."""
    idata = fit.idata.copy()
    post = idata.posterior
    spare = len(fit.occupied_clusters())
    rows = np.nonzero(fit.clusters() == 0)[0][:60]
    membership = post["membership"].values.copy()
    moved = 0.45 * membership[..., rows, 0]
    membership[..., rows, 0] -= moved
    membership[..., rows, spare] += moved
    inclusion = post["inclusion"].values.copy()
    inclusion[..., spare, :, :] = 0.0
    inclusion[..., spare, edge[0], edge[1]] = 0.95
    post["membership"] = (post["membership"].dims, membership)
    post["inclusion"] = (post["inclusion"].dims, inclusion)
    return bh.HCLResult(idata)


def test_a_planted_hidden_cluster_tells_one_story(small_fit, tmp_path):
    from bayes_hcl.cli.outputs import write_outputs

    edge = (1, 2)  # X1 -> X2: absent from both shown clusters
    assert small_fit.edge_probabilities().iloc[edge] < 0.05
    planted = _with_hidden_cluster(small_fit, edge)
    # the posterior keeps the planted cluster in (almost) every draw; the point estimate
    # merges its uncertain rows back into cluster 0 and says so
    assert planted.n_clusters().idxmax() == 3
    assert planted.occupied_clusters() == small_fit.occupied_clusters() == [0, 1]
    (hidden,) = planted.cluster_note()["hidden"]
    assert hidden["cluster"] == 2 and hidden["rows"] == pytest.approx(27.0, abs=0.5)
    assert hidden["merged_into"]["0"] == pytest.approx(27.0, abs=0.5)
    assert "merges into cluster 0 (~27 rows)" in planted.cluster_note()["text"]
    # the hidden cluster's edge reaches no pooled readout
    assert planted.edge_probabilities().iloc[edge] < 0.05
    assert ("X1", "X2") not in _pairs(planted.summary().to_dict("records"))
    with pytest.raises(ValueError, match=r"cluster 2 holds no rows.*shown are 0, 1"):
        planted.edge_probabilities(2)
    out = tmp_path / "out"
    write_outputs(planted, out, {})
    report = planted.report(tmp_path / "report.html")
    summary = _check_outputs_tell_one_story(out, Path(report))
    assert summary["n_clusters"] == 2 and summary["n_clusters_posterior"]["3"] > 0.9


def test_the_small_fit_tells_one_story(small_fit):
    shown = small_fit.occupied_clusters()
    pooled = small_fit.edge_probabilities()
    _check_pooled_between_bounds(
        small_fit, pooled, [small_fit.edge_probabilities(k) for k in shown]
    )
    assert list(small_fit.memberships().columns) == shown
    empty = max(shown) + 1
    for readout in (small_fit.edge_probabilities, lambda k: small_fit.graph(cluster=k)):
        with pytest.raises(ValueError, match=rf"cluster {empty} holds no rows.*shown are"):
            readout(empty)
    table = small_fit.summary()
    np.testing.assert_allclose(table.p_universal + table.p_differs, table.p_edge, atol=1e-9)
    interpretation = small_fit.identifiability()["interpretation"]
    assert _pairs(interpretation["universal_edges"]) == _labelled(table, "universal")
    assert _pairs(interpretation["specific_edges"]) == _labelled(table, "specific")
    effects = small_fit.effects()
    present = effects.dropna(subset=["mean_if_present"])
    assert (present.hdi_low_if_present <= present.hdi_high_if_present).all()
    # the conditional mean is a weighted mean of the weight draws: it lies within their range
    weights = small_fit.idata.posterior["weights"].values
    weights = weights.reshape((-1, *weights.shape[2:]))
    idx = {c: i for i, c in enumerate(small_fit.columns)}
    for row in present.itertuples():
        w = weights[:, row.cluster, idx[row.parent], idx[row.child]]
        assert w.min() - 1e-9 <= row.mean_if_present <= w.max() + 1e-9
