"""Categorical and ordinal variables: encoding, likelihood, group prior, errors, recovery."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import bayes_hcl
from bayes_hcl.config import Config
from bayes_hcl.data import describe_types, infer_types, prepare
from bayes_hcl.errors import DataError
from bayes_hcl.inference.nuts.driver import fit_nuts
from bayes_hcl.inference.svi.programs import data_args
from bayes_hcl.metrics import adjusted_rand_index, edge_scores
from bayes_hcl.model.likelihoods import categorical_loglik
from bayes_hcl.model.program import GroupSpikeAndSlab, SpikeAndSlab, component_loglik
from bayes_hcl.simulate.sem import simulate
from bayes_hcl.vartypes import CATEGORICAL, CONTINUOUS
from bayes_hcl.viz.report import _data_table


def _frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    logits = np.stack([np.zeros(n), 2.0 * a, -2.0 * a], axis=1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(1)
    c = np.array([0.0, 1.5, -1.5])[g] + rng.normal(size=n)
    return pd.DataFrame({"a": a, "g": np.array(["lo", "mid", "hi"])[g], "c": c})


# ------------------------------------------------------------------------------- the data


def test_text_and_category_columns_are_inferred_with_reasons():
    df = _frame()
    df["o"] = pd.Categorical(
        np.resize(["low", "high", "mid"], len(df)), ["low", "mid", "high"], ordered=True
    )
    df["u"] = pd.Categorical(np.resize(["x", "y"], len(df)))
    assert infer_types(df) == {
        "a": "continuous",
        "g": "categorical",
        "c": "continuous",
        "o": "ordinal",
        "u": "categorical",
    }
    table = describe_types(df).set_index("column")
    assert table.loc["g", "reason"] == "text values"
    assert table.loc["o", "reason"] == "ordered pandas category"
    assert table.loc["u", "reason"] == "pandas category (unordered)"
    assert table.loc["g", "likelihood"].startswith("categorical, multinomial logit")
    assert table.loc["o", "likelihood"].startswith("Gaussian on the z-scored level ranks")


def test_categorical_encoding_design_and_layout():
    df = _frame()
    data = prepare(df)
    assert data.types == ("continuous", "categorical", "continuous")
    assert data.levels == ((), ("hi", "lo", "mid"), ())
    codes = pd.Series(df["g"]).map({"hi": 0, "lo": 1, "mid": 2}).to_numpy()
    np.testing.assert_array_equal(data.y[:, 1], codes)
    assert data.model_terms() == ("a", "g[lo]", "g[mid]", "c")
    np.testing.assert_array_equal(data.node_of(), [0, 1, 1, 2])
    types, node_of = data.model_layout()
    assert types == (CONTINUOUS, CATEGORICAL, CATEGORICAL, CONTINUOUS) and node_of == (0, 1, 1, 2)
    # design: z-scored indicators of the non-reference levels
    for col, level in ((1, 1), (2, 2)):
        share = (codes == level).mean()
        expected = ((codes == level) - share) / np.sqrt(share * (1 - share))
        np.testing.assert_allclose(data.design[:, col], expected)
    np.testing.assert_allclose(data.design[:, [0, 3]], data.x[:, [0, 2]])
    # the variable's own column is a z-scored score of its block
    score = data.x[:, 1]
    assert abs(score.mean()) < 1e-9 and abs(score.std() - 1.0) < 1e-9
    assert len(np.unique(np.round(score, 9))) == 3
    y, _, offset, observed = data.model_arrays(sized=False)
    np.testing.assert_array_equal(y[:, 1:3], np.stack([codes == 1, codes == 2], 1))
    share = np.bincount(codes, minlength=3) / len(codes)
    np.testing.assert_allclose(offset[1:3], np.log(share[1:] / share[0]))
    assert observed.shape == (len(df), 4) and observed.all()


def test_declared_categorical_and_ordinal_numeric_columns():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.normal(size=60), "k": np.resize([3, 1, 7], 60)})
    data = prepare(df, {"k": "categorical"})
    assert data.types[1] == "categorical" and data.levels[1] == ("1", "3", "7")
    ordinal = prepare(df, {"k": "ordinal"})
    assert ordinal.types[1] == "ordinal" and ordinal.design is None
    ranks = pd.Series(df["k"]).map({1: 0, 3: 1, 7: 2}).to_numpy()
    np.testing.assert_allclose(ordinal.y[:, 1], (ranks - ranks.mean()) / ranks.std())
    assert ordinal.model_layout() == ((CONTINUOUS, CONTINUOUS), None)


def test_missing_levels_are_masked_and_counted():
    df = _frame()
    df.loc[[3, 10, 11], "g"] = None
    with pytest.raises(DataError, match=r"column 'g' has 3 missing values \(first in row 3\)"):
        prepare(df)
    data = prepare(df, missing="mask")
    assert data.missing_counts() == {"g": 3}
    _, x, _, observed = data.model_arrays(sized=False)
    assert not observed[3, 1:3].any() and observed[3, [0, 3]].all()
    assert np.isfinite(x).all()


BAD = [
    (["x"] * 40, None, r"column 'g' is categorical with a single level 'x'; it carries no info"),
    (
        [f"v{i}" for i in range(40)],
        None,
        r"column 'g' has 40 levels for 40 observed rows; a categorical variable may have at "
        r"most 8 here \(5 rows per level, never more than 50\)",
    ),
    (
        np.resize(["x", "y"], 40),
        {"g": "continuous"},
        r"column 'g' holds text \('x' in row 0\) but is declared continuous; declare it "
        r"categorical or ordinal",
    ),
    ([None] * 40, {"g": "categorical"}, r"column 'g' has no observed value"),
    (
        np.resize(["low", "mid", "high"], 40),
        {"g": "ordinal"},
        r"column 'g' has levels without an order \(text or an unordered category\); to treat "
        r"it as ordinal, give its levels lowest first \(types=\{'g': \['high', 'low', 'mid'\]\}, "
        r"--types 'g=ordinal:high<low<mid', reordered\), or declare it categorical",
    ),
    (
        pd.Categorical(np.resize(["x", "y"], 40), ["x", "y", "z"]),
        None,
        r"column 'g' has a level with no observed row \('z'\)",
    ),
]


@pytest.mark.parametrize(("values", "types", "match"), BAD)
def test_bad_categorical_columns_get_one_line_errors(values, types, match):
    df = pd.DataFrame({"a": np.linspace(0, 1, 40), "g": values})
    with pytest.raises(DataError, match=match) as info:
        prepare(df, types)
    assert "\n" not in str(info.value)


def test_nuts_refuses_categorical_variables_by_name():
    data = prepare(_frame())
    with pytest.raises(DataError, match=r"method 'nuts' does not support categorical .*'g'"):
        fit_nuts(data, Config())


# -------------------------------------------------------------- likelihood and edge prior


@settings(max_examples=25, deadline=None)
@given(levels=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_categorical_loglik_is_the_softmax_over_levels(levels, seed):
    rng = np.random.default_rng(seed)
    eta = rng.normal(size=(5, 3, levels - 1)) * 30  # large logits: stability matters
    codes = rng.integers(0, levels, size=(5, 3))
    y = (codes[..., None] == np.arange(1, levels)).astype(float)
    got = np.asarray(categorical_loglik(jnp.asarray(y), jnp.asarray(eta)))
    logits = np.concatenate([np.zeros((5, 3, 1)), eta], axis=-1)
    log_p = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    expected = np.take_along_axis(log_p, codes[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
    assert np.isfinite(jax.grad(lambda e: categorical_loglik(y, e).sum())(jnp.asarray(eta))).all()


def test_component_loglik_scores_a_categorical_child_and_parent():
    data = prepare(_frame(n=50))
    y, x, offset, _ = (np.asarray(a) for a in data_args(data))
    types, node_of = data.model_layout()
    rng = np.random.default_rng(0)
    w = rng.normal(size=(1, 4, 4)) * np.array([[0, 1, 1, 1], [0, 0, 0, 1], [0, 0, 0, 1], [0] * 4])
    b, sigma = rng.normal(size=(1, 4)), np.full((1, 4), 0.7)
    got = component_loglik(y, x, types, offset, w, b, sigma, node_of=node_of)[:, 0]
    eta = offset + b[0] + x @ w[0]
    logits = np.concatenate([np.zeros((50, 1)), eta[:, 1:3]], axis=1)
    cat = logits[np.arange(50), data.y[:, 1].astype(int)] - np.logaddexp.reduce(logits, axis=1)
    gauss = stats.norm(eta[:, [0, 3]], 0.7).logpdf(y[:, [0, 3]]).sum(1)
    np.testing.assert_allclose(got, cat + gauss, rtol=1e-4, atol=1e-4)


def test_group_spike_and_slab_shares_one_indicator_per_block():
    rho = np.array([[0.2, 0.7], [0.4, 0.1]])
    node_of = (0, 1, 1)
    mu = np.array([[0.0, 0.5, -0.5], [0.1, 0.0, 0.0], [0.3, 0.0, 0.0]])
    prior = GroupSpikeAndSlab(rho, mu, 0.05, 0.8, node_of, 1)
    w = np.array([[[0.0, 0.6, -0.4], [0.02, 0.0, 0.01], [0.5, -0.01, 0.0]]])
    spike = stats.norm(0, 0.05).logpdf(w[0])
    slab = stats.norm(mu, 0.8).logpdf(w[0])
    blocks = {(0, 0): [(0, 0)], (0, 1): [(0, 1), (0, 2)], (1, 0): [(1, 0), (2, 0)]}
    blocks[(1, 1)] = [(1, 1), (1, 2), (2, 1), (2, 2)]
    total, resp = 0.0, np.zeros((2, 2))
    for (i, j), cells in blocks.items():
        off = np.log1p(-rho[i, j]) + sum(spike[c] for c in cells)
        on = np.log(rho[i, j]) + sum(slab[c] for c in cells)
        total += np.logaddexp(off, on)
        resp[i, j] = 1.0 / (1.0 + np.exp(off - on))
    np.testing.assert_allclose(prior.log_prob(jnp.asarray(w)), total, rtol=1e-5)
    np.testing.assert_allclose(prior.responsibility(jnp.asarray(w))[0], resp, rtol=1e-4)
    # one column per variable: the plain spike-and-slab
    single = GroupSpikeAndSlab(rho, mu[:2, :2], 0.05, 0.8, (0, 1), 1)
    plain = SpikeAndSlab(rho, mu[:2, :2], 0.05, 0.8)
    sub = jnp.asarray(w[:, :2, :2])
    np.testing.assert_allclose(single.log_prob(sub), plain.log_prob(sub).sum(), rtol=1e-5)
    # a draw: every weight of an excluded block is in the spike
    draws = GroupSpikeAndSlab(np.full((2, 2), 0.5), np.zeros((3, 3)), 1e-6, 1.0, node_of, 1)
    sample = np.asarray(draws.sample(jax.random.PRNGKey(0), (400,)))[:, 0, 1:, 1:]
    small = np.abs(sample) < 1e-4
    assert ((small.all((1, 2))) | (~small).all((1, 2))).all()
    assert 0.4 < small.all((1, 2)).mean() < 0.6


# ------------------------------------------------------------------------------ recovery


def test_simulate_writes_categorical_levels_and_truth():
    sim = simulate(100, d=6, n_clusters=2, categorical_fraction=0.34, n_levels=4, seed=3)
    cats = [c for c, t in zip(sim.data.columns, sim.types, strict=True) if t == "categorical"]
    assert len(cats) == 2 and set(sim.level_scores) == set(cats)
    for c in cats:
        assert set(sim.data[c]) <= set("abcd") and len(sim.level_scores[c]) == 4
    assert infer_types(sim.data)[cats[0]] == "categorical"
    assert json.loads(sim.truth_json())["level_scores"].keys() == set(cats)
    assert adjusted_rand_index(sim.labels, sim.bayes_labels()) > 0.5


def test_fit_recovers_clusters_and_edges_of_categorical_variables():
    # a categorical child of a shifted root and a categorical parent of two nodes
    sim = simulate(300, d=5, n_clusters=2, categorical_fraction=0.4, seed=11)
    # the categorical machinery under the noise law it was pinned with: on this seed the
    # default skew-t noise gives ARI 0.72 (ceiling 0.85), on seeds 12 and 13 it beats the
    # Gaussian (0.66 and 0.85 against 0.49 and 0.83), on 14 it trails (0.74 against 0.79)
    result = bayes_hcl.fit(sim.data, seed=0, noise="gaussian", progress=False)
    ceiling = adjusted_rand_index(sim.labels, sim.bayes_labels())
    assert adjusted_rand_index(sim.labels, result.clusters()) >= ceiling - 0.1
    probs = result.edge_probabilities().to_numpy()
    assert edge_scores(sim.pooled_adjacency, probs >= 0.5)["f1"] >= 0.7
    cats = [c for c, t in zip(sim.data.columns, sim.types, strict=True) if t == "categorical"]
    touching = [(i, j) for i, j in zip(*np.nonzero(sim.pooled_adjacency), strict=True)]
    touching = [
        (i, j) for i, j in touching if {sim.data.columns[i], sim.data.columns[j]} & set(cats)
    ]
    assert touching and all(probs[i, j] + probs[j, i] >= 0.5 for i, j in touching)
    posterior = result.to_arviz().posterior
    assert posterior["W"].dims[-2:] == ("parent_term", "term")
    table = _data_table(result).set_index("variable")
    assert np.isnan(table.loc[cats[0], "mean"])
    assert table.loc[cats[0], "levels"].startswith("a ")


def test_cli_fits_a_csv_with_a_text_column(tmp_path):
    df = _frame(n=200)
    df.to_csv(tmp_path / "data.csv", index=False)
    out = tmp_path / "out"
    run = subprocess.run(
        [
            *(sys.executable, "-m", "bayes_hcl.cli", "fit", str(tmp_path / "data.csv")),
            *("--out", str(out), "--num-steps", "400", "--max-clusters", "2"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "true"},
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    probs = pd.read_csv(out / "edge_probabilities.csv", index_col=0)
    assert probs.loc["a", "g"] + probs.loc["g", "a"] >= 0.5
    assert probs.loc["g", "c"] + probs.loc["c", "g"] >= 0.5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["types"] == ["continuous", "categorical", "continuous"]
    assert summary["data"]["levels"] == {"g": ["hi", "lo", "mid"]}


def test_cli_simulates_categorical_and_single_cell_data(tmp_path, capsys):
    from bayes_hcl.cli.commands import main

    code = main(
        [
            *("simulate", "--out", str(tmp_path / "cat.csv"), "--d", "4"),
            *("--n-per-cluster", "50", "--categorical-fraction", "0.5", "--n-levels", "4"),
        ]
    )
    assert code == 0
    frame = pd.read_csv(tmp_path / "cat.csv")
    truth = json.loads((tmp_path / "cat.truth.json").read_text())
    assert len(truth["level_scores"]) == 2
    for column in truth["level_scores"]:
        assert set(frame[column]) <= set("abcd")
    assert infer_types(frame) == dict(zip(truth["columns"], truth["types"], strict=True))
    code = main(
        [
            *("simulate", "--out", str(tmp_path / "sc.csv"), "--single-cell", "--d", "6"),
            *("--clusters", "2", "--n-per-cluster", "120"),
        ]
    )
    assert code == 0
    cells = pd.read_csv(tmp_path / "sc.csv")
    assert cells.shape == (120, 7) and "library_size" in cells
    assert "(120 rows × 7 columns)" in capsys.readouterr().out
    data = prepare(cells, size_factors="library_size")
    assert data.d == 6 and np.ptp(data.log_size_factor) > 0


@settings(max_examples=40, deadline=None)
@given(
    cells=st.lists(st.sampled_from(["u", "v", "w", "x", None]), min_size=12, max_size=40),
    missing=st.sampled_from(["error", "mask"]),
)
def test_prepare_either_encodes_a_text_column_consistently_or_says_why(cells, missing):
    df = pd.DataFrame({"a": np.linspace(-1.0, 1.0, len(cells)), "g": cells})
    try:
        data = prepare(df, missing=missing)
    except DataError as err:
        assert "\n" not in str(err) and "'g'" in str(err)
        return
    seen = [c for c in cells if c is not None]
    levels = tuple(sorted(set(seen)))
    assert data.levels[1] == levels
    y, x, offset, observed = data.model_arrays(sized=False)
    assert y.shape == x.shape == observed.shape == (len(cells), len(levels))
    assert np.isfinite(x).all() and np.isfinite(offset).all()
    rows = np.flatnonzero([c is not None for c in cells])
    np.testing.assert_array_equal(y[rows, 1:].sum(1), [c != levels[0] for c in seen])
    assert (~observed[:, 1:]).sum() == (len(cells) - len(seen)) * (len(levels) - 1)
