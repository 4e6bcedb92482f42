"""One self-contained HTML report of a fit: figures embedded, no network access needed.

Sections (each an ``<section id=...>``): ``overview`` (data and fit), ``clusters``, with
several latent factors ``factors`` (states, what each changes, separability), ``graphs``,
``mechanisms`` (universal and cluster-specific edges), ``shifts``, ``effects``,
``identifiability``, ``convergence``, ``types`` (the type, likelihood and reason the fit took
for every column, and the overrides its flags suggest) and ``provenance`` (command, config,
versions, seed).
Every figure comes from :mod:`bayes_hcl.viz.plots`; numbers carry their uncertainty (posterior
probabilities, HDIs).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayes_hcl.viz import plots

__all__ = ["FACTOR_SECTION", "SECTIONS", "render_report", "write_report"]

SECTIONS = (
    "overview",
    "clusters",
    "graphs",
    "mechanisms",
    "shifts",
    "effects",
    "identifiability",
    "convergence",
    "types",
    "provenance",
)

#: The section a fit with several latent factors adds after ``clusters``.
FACTOR_SECTION = "factors"

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:13px;margin:0.5em 0}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3} img{max-width:100%} h2{border-bottom:1px solid #ddd}
.warn{color:#a33} pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:12px}
"""


def _figure(ax_or_axes) -> str:
    fig = getattr(ax_or_axes, "figure", None) or ax_or_axes.ravel()[0].figure
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame, empty: str = "none") -> str:
    if not len(frame):
        return f"<p>{html.escape(empty)}</p>"
    return frame.to_html(index=False, float_format="{:.3g}".format, border=0)


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{html.escape(title)}</h2>{body}</section>'


def _data_table(result) -> pd.DataFrame:
    """Per variable: type, mean, sd, range, and the mean within each cluster (data units);
    a categorical variable shows its level shares and each cluster's most frequent level."""
    meta = result.meta["data"]
    y = result.idata.observed_data["y"].values.astype(float)
    scaled = np.isin(np.asarray(result.types), ("continuous", "ordinal"))
    values = np.where(scaled, y * np.asarray(meta["scale"]) + np.asarray(meta["center"]), y)
    levels = meta.get("levels", {})
    categorical = np.array([t == "categorical" for t in result.types])
    numeric = np.where(categorical, np.nan, values)
    table = pd.DataFrame(
        {
            "variable": result.columns,
            "type": result.types,
            "mean": numeric.mean(0),
            "sd": numeric.std(0),
            "min": numeric.min(0),
            "max": numeric.max(0),
        }
    )
    labels = result.clusters()
    for k in result.occupied_clusters():
        table[f"mean in cluster {k}"] = numeric[labels == k].mean(0)
    if categorical.any():
        table["levels"] = [
            _level_shares(values[:, j], levels[c]) if categorical[j] else ""
            for j, c in enumerate(result.columns)
        ]
        for k in result.occupied_clusters():
            table[f"mean in cluster {k}"] = table[f"mean in cluster {k}"].astype(object)
            for j in np.flatnonzero(categorical):
                codes = values[labels == k, j].astype(int)
                top = np.bincount(codes, minlength=len(levels[result.columns[j]])).argmax()
                share = float((codes == top).mean())
                label = levels[result.columns[j]][top]
                table.loc[j, f"mean in cluster {k}"] = f"{label} ({share:.0%})"
    return table


def _level_shares(codes: np.ndarray, levels: list[str]) -> str:
    shares = np.bincount(codes.astype(int), minlength=len(levels)) / len(codes)
    return ", ".join(f"{lv} {p:.0%}" for lv, p in zip(levels, shares, strict=True))


def _overview(result) -> str:
    n = result.idata.observed_data.sizes["obs"]
    types = pd.Series(result.types).value_counts().to_dict()
    timings = result.meta.get("timings", {})
    lines = [
        f"{n} rows × {len(result.columns)} variables "
        f"({', '.join(f'{v} {k}' for k, v in types.items())})",
        f"method {result.method}, model preset {result.config.name!r}, seed {result.seed}",
        f"fit time {timings.get('total_s', float('nan')):.1f} s",
    ]
    missing = result.missing_cells()
    if missing:
        cells = ", ".join(f"{c}: {k}" for c, k in missing.items())
        lines.append(
            f"{sum(missing.values())} missing cells, masked as missing at random ({cells})"
        )
    if result.meta["data"].get("size_factors"):
        lines.append("count columns offset by per-row size factors")
    return (
        "<ul>"
        + "".join(f"<li>{html.escape(x)}</li>" for x in lines)
        + "</ul><h3>Variables (data units; binary: share of ones; counts: raw counts)</h3>"
        + _table(_data_table(result))
    )


def _clusters(result) -> str:
    labels = result.clusters()
    sizes = pd.Series(labels).value_counts().sort_index()
    m = result.memberships()
    table = pd.DataFrame(
        {
            "cluster": sizes.index,
            "rows": sizes.to_numpy(),
            "expected rows": [float(m[k].sum()) for k in sizes.index],
            "mean membership of its rows": [
                float(m.loc[labels == k, k].mean()) for k in sizes.index
            ],
        }
    )
    k = result.n_clusters()
    text = "Posterior over the number of clusters: " + ", ".join(
        f"K = {i}: {p:.2f}" for i, p in k.items()
    )
    shown = f"Clusters shown (point estimate): {', '.join(map(str, sizes.index))}."
    note = result.cluster_note()["text"]
    return (
        f"<p>{html.escape(text)}. {html.escape(shown)}</p>"
        + (f'<p class="warn">{html.escape(note[0].upper() + note[1:])}</p>' if note else "")
        + _table(table)
        + _figure(plots.plot_n_clusters(result))
        + _figure(plots.plot_coclustering(result))
    )


def _factors(result) -> str:
    readout = result.factors
    table = readout.table()
    table["shifts"] = [", ".join(v) or "nothing" for v in table["shifts"]]
    pairs = pd.DataFrame(readout.separability()["pairs"])
    if len(pairs):
        pairs["factors"] = [" & ".join(map(str, f)) for f in pairs["factors"]]
    shifts = readout.shifts().reset_index()
    return (
        "<p>Independent hidden factors, each with its own states; the joint states are the "
        "clusters above. A factor changes a variable when two of its states differ in the "
        "variable's intercept, noise or an incoming weight.</p>"
        + _table(table)
        + "<h3>Probability that each factor changes each variable</h3>"
        + _table(shifts)
        + "<h3>Are the factors separable?</h3>"
        + _table(pairs, "one factor: nothing to separate")
    )


def _graphs(result) -> str:
    pos = plots.graph_layout(result)
    parts = [_figure(plots.plot_graph(result, pos=pos))]
    for k in result.occupied_clusters():
        parts.append(_figure(plots.plot_graph(result, k, pos=pos)))
    parts.append(_figure(plots.plot_edge_probabilities(result)))
    return "".join(parts)


def _shifts(result) -> str:
    return (
        "<p>A variable is a shift target when the hidden cluster moves its intercept or noise "
        "scale directly (not through its parents) by more than "
        f"{result.min_shift:g} sd between two clusters shown, with probability ≥ 0.5 "
        "(p_shift_exceeds); p_shift counts a shift of any size. The same targets are in "
        "identifiability.json.</p>" + _table(result.shift_targets())
    )


def _mechanisms(result) -> str:
    return (
        "<p>An edge is universal when it is present with the same mechanism in every cluster "
        "shown (p_universal ≥ 0.5) and cluster-specific when its mechanism differs between "
        "them (p_differs ≥ 0.5: present in some only, or weights differing by more than "
        f"{result.min_weight_change:g} sd); p_universal + p_differs = p_edge. The same "
        "classification is in "
        "summary() and identifiability.json.</p>"
        "<h3>Universal edges (same mechanism in every cluster)</h3>"
        + _table(result.universal_edges(), "no edge is universal with P ≥ 0.5")
        + "<h3>Cluster-specific edges</h3>"
        + _table(result.specific_edges(), "no edge is cluster-specific with P ≥ 0.5")
    )


def _identifiability(result) -> str:
    report = result.identifiability()
    warnings = "".join(f'<li class="warn">{html.escape(w)}</li>' for w in report["warnings"])
    return (
        "<ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in report.headline())
        + "</ul>"
        + _table(report.to_frame("edges").drop(columns=["reasons_available"], errors="ignore"))
        + "<h3>Cluster separability</h3>"
        + _table(report.to_frame("separability"), "one cluster: nothing to separate")
        + (f"<h3>Warnings</h3><ul>{warnings}</ul>" if warnings else "")
    )


def _scalars(mapping: dict) -> pd.DataFrame:
    """The scalar entries of a mapping as a two-column table (lists joined, dicts skipped)."""
    rows = []
    for key, value in mapping.items():
        if isinstance(value, dict) or key == "warnings":
            continue
        if isinstance(value, list):
            value = ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value)
        rows.append({"quantity": key.replace("_", " "), "value": value})
    return pd.DataFrame(rows)


def _convergence(result) -> str:
    conv = result.convergence()
    agreement = result.identifiability()["agreement"]
    parts = [f"<p>{html.escape(conv['note'])}</p>" if "note" in conv else ""]
    if result.method != "svi":  # chains: NUTS or Gibbs
        quantities = pd.DataFrame(conv["quantities"]).T.rename_axis("quantity").reset_index()
        edges = pd.DataFrame(
            [{"quantity": "pooled edge probabilities", **conv["edge_probabilities"]}]
        )
        parts += [
            "<h3>Chains (R-hat, bulk and tail ESS)</h3>",
            _table(_scalars(conv)),
            _table(quantities),
            _table(edges),
        ]
    warnings = "".join(f'<li class="warn">{html.escape(w)}</li>' for w in conv["warnings"])
    parts += [
        f"<h3>Agreement of independent {html.escape(agreement['runs'])}</h3>",
        _table(_scalars(agreement)),
        f"<ul>{warnings}</ul>" if warnings else "",
        _figure(plots.plot_elbo(result)),
    ]
    return "".join(parts)


def _types(result) -> str:
    table = result.column_types()
    notes = table["note"] if "note" in table else pd.Series([""] * len(table))
    items = "".join(
        f'<li class="warn">{html.escape(f"{column}: {note}")}</li>'
        for column, note in zip(table["column"], notes, strict=True)
        if note
    )
    return (
        "<p>What the fit assumed about every column: inferred from its values unless declared "
        "(<code>types=</code>, <code>--types NAME=TYPE</code>).</p>"
        + _table(table.drop(columns=["note"], errors="ignore"))
        + (f"<h3>Notes</h3><ul>{items}</ul>" if items else "")
        + "<h3>Noise law fitted per continuous variable</h3><p>Degrees of freedom (median, "
        "5 %–95 %; inf is Gaussian), log skewness, the law's skewness and excess kurtosis, and "
        "whether it is non-Gaussian (p_non_gaussian ≥ 0.95): only then is an edge oriented "
        "by non-Gaussian noise.</p>" + _table(result.noise_law(), "no continuous variable")
    )


def _provenance(result) -> str:
    command = result.meta.get("command") or "not recorded (a fit from an older version)"
    meta = {k: result.meta.get(k) for k in ("method", "seed", "versions", "created")}
    meta["config"] = result.config.to_dict()
    return (
        f"<p>Produced by</p><pre>{html.escape(str(command))}</pre>"
        "<p>Seed, versions and the full configuration (same seed, data and configuration on "
        "the same machine give the same result):</p>"
        f"<pre>{html.escape(json.dumps(meta, indent=1, default=str))}</pre>"
    )


def render_report(result, title: str = "bayes_hcl report") -> str:
    """The report as one HTML string (figures as embedded PNG data URIs)."""
    effects = result.effects(min_probability=0.5)
    body = [
        _section("overview", "Data and fit", _overview(result)),
        _section("clusters", "Clusters", _clusters(result)),
        *(
            [_section(FACTOR_SECTION, "Latent factors", _factors(result))]
            if result.factors.several
            else []
        ),
        _section("graphs", "Graphs (pooled and per cluster)", _graphs(result)),
        _section("mechanisms", "Universal and cluster-specific mechanisms", _mechanisms(result)),
        _section(
            "shifts",
            "Shift targets (variables the hidden cluster shifts directly)",
            _shifts(result),
        ),
        _section(
            "effects",
            "Effects (standardised; 94 % HDI)",
            _figure(plots.plot_effects(result)) + _table(effects, "no effect with P ≥ 0.5"),
        ),
        _section("identifiability", "What the data support", _identifiability(result)),
        _section("convergence", "Convergence", _convergence(result)),
        _section("types", "Column types (what the fit assumed)", _types(result)),
        _section("provenance", "Provenance", _provenance(result)),
    ]
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{''.join(body)}</body></html>"
    )


def write_report(result, path: str | os.PathLike, title: str = "bayes_hcl report") -> Path:
    """Write :func:`render_report` to ``path`` (atomically: a temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_report(result, title), encoding="utf-8")
    os.replace(tmp, path)
    return path
