"""The identifiability report object: read-only sections, tables, text and HTML.

Built by :func:`bayes_hcl.results.identifiability.rules.identifiability_report`; returned by
:meth:`bayes_hcl.results.HCLResult.identifiability`. It behaves as a read-only mapping of its
sections (``report["edges"]``) and converts to JSON (:meth:`IdentifiabilityReport.to_dict`,
what the CLI writes as ``identifiability.json``) and to tidy DataFrames
(:meth:`IdentifiabilityReport.to_frame`).
"""

from __future__ import annotations

import copy
import html
import math
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

__all__ = ["SECTIONS", "TABLES", "IdentifiabilityReport"]

SECTIONS = ("edges", "clusters", "agreement", "conditions", "interpretation", "warnings")
TABLES = (
    "edges",
    "separability",
    "nodes",
    "universal_edges",
    "specific_edges",
    "shift_targets",
)
_EDGE_COLUMNS = [
    "cause",
    "effect",
    "status",
    "reason",
    "p_forward",
    "p_reverse",
    "p_none",
    "delta_evidence",
    "agreement",
]


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class IdentifiabilityReport(Mapping):
    """What the data can and cannot support, section by section.

    Sections: ``edges`` (one entry per pair with posterior mass: status, reason and the
    numbers behind it), ``clusters`` (heterogeneity verdict, posterior over K, evidence
    against one population, separability), ``agreement`` (restarts or chains), ``conditions``
    (samples per cluster, residual checks per node), ``interpretation`` (universal and
    cluster-specific edges, shift targets) and ``warnings``.
    """

    def __init__(self, sections: dict[str, Any]):
        missing = set(SECTIONS) - set(sections)
        if missing:
            raise ValueError(f"identifiability report lacks sections {sorted(missing)}")
        self._sections = sections

    # -- mapping ------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._sections[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sections)

    def __len__(self) -> int:
        return len(self._sections)

    # -- conversions --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A deep copy as plain JSON-compatible Python (``identifiability.json``); a number
        that is not finite (NaN: not computable here) becomes ``None``."""
        return _finite(copy.deepcopy(self._sections))

    def to_frame(self, table: str = "edges") -> pd.DataFrame:
        """One section as a tidy DataFrame.

        Parameters
        ----------
        table : str
            ``"edges"`` (default), ``"separability"`` (cluster pairs), ``"nodes"`` (residual
            checks per variable), ``"universal_edges"``, ``"specific_edges"`` or
            ``"shift_targets"``.
        """
        if table == "edges":
            frame = pd.DataFrame(self["edges"])
            return frame if len(frame) else pd.DataFrame(columns=_EDGE_COLUMNS)
        if table == "separability":
            return pd.DataFrame(self["clusters"]["separability"])
        if table == "nodes":
            return pd.DataFrame(self["conditions"]["nodes"])
        if table in ("universal_edges", "specific_edges", "shift_targets"):
            return pd.DataFrame(self["interpretation"][table])
        raise ValueError(f"unknown table {table!r}; choose one of {TABLES}")

    @property
    def counts(self) -> dict[str, int]:
        """Number of edges per status."""
        out = {"identified": 0, "orientation ambiguous": 0, "not supported": 0}
        for entry in self["edges"]:
            out[entry["status"]] += 1
        return out

    def headline(self) -> list[str]:
        """The verdicts in plain words, one line each."""
        c, a = self["clusters"], self["agreement"]
        lines = [f"heterogeneity: {c['heterogeneity']} ({c['explanation']})"]
        lbf = c["evidence"].get("log_bayes_factor")
        if lbf is not None:
            lines.append(f"evidence for K > 1 against one population: {lbf:.1f} nats")
        counts = self.counts
        lines.append(
            f"edges: {counts['identified']} identified, {counts['orientation ambiguous']} "
            f"orientation ambiguous, {counts['not supported']} not supported"
        )
        reasons: dict[str, int] = {}
        for entry in self["edges"]:
            if entry["reason"]:
                reasons[entry["reason"]] = reasons.get(entry["reason"], 0) + 1
        if reasons:
            lines.append("identified by: " + ", ".join(f"{k} ({v})" for k, v in reasons.items()))
        lines.append(f"agreement: {a['verdict']}")
        return lines

    # -- display ------------------------------------------------------------------------------
    def __repr__(self) -> str:
        lines = ["IdentifiabilityReport", *("  " + line for line in self.headline())]
        frame = self.to_frame("edges")
        if len(frame):
            shown = frame[_EDGE_COLUMNS].copy()
            shown["reason"] = shown["reason"].fillna("-")
            lines += ["", shown.to_string(index=False, float_format=lambda v: f"{v:.3g}")]
        lines += [f"warning: {w}" for w in self["warnings"]]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = ["<div class='bayes-hcl-identifiability'><h4>Identifiability</h4><ul>"]
        parts += [f"<li>{html.escape(line)}</li>" for line in self.headline()]
        parts.append("</ul>")
        frame = self.to_frame("edges")
        if len(frame):
            shown = frame[_EDGE_COLUMNS].assign(reason=frame["reason"].fillna("-"))
            parts.append(shown.to_html(index=False, float_format="{:.3g}".format))
        for name, title in (
            ("separability", "Cluster separability"),
            ("specific_edges", "Cluster-specific edges"),
            ("shift_targets", "Shift targets"),
        ):
            table = self.to_frame(name)
            if len(table):
                parts.append(f"<h5>{title}</h5>")
                parts.append(table.to_html(index=False, float_format="{:.3g}".format))
        if self["warnings"]:
            parts.append("<h5>Warnings</h5><ul>")
            parts += [f"<li>{html.escape(w)}</li>" for w in self["warnings"]]
            parts.append("</ul>")
        parts.append("</div>")
        return "".join(parts)
