"""Several independent latent factors (issue #9): construction, recovery, readout, CLI."""

import json

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import bayes_hcl as bh
from bayes_hcl.bench.factors import factor_scores
from bayes_hcl.cli.outputs import write_outputs
from bayes_hcl.inference.relabel import relabel_factor_draws
from bayes_hcl.model.factorial import (
    factor_marginals,
    factor_slots,
    joint_from_slots,
    joint_log_weights,
    joint_states_table,
    slots_from_joint,
)
from bayes_hcl.model.priors import stick_breaking_log_weights
from bayes_hcl.results.factors import difference_inclusion
from bayes_hcl.simulate.factors import simulate_factors
from tests.conftest import SMALL_FIT
from tests.integration.test_cli import run_cli

# two factors of two states, disjoint pairs of targets among 6 variables (strong shifts)
FACTOR_FIT = {"latent_factors": 2, "max_clusters": 2, "num_steps": 1500, "num_samples": 100}


@pytest.fixture(scope="module")
def factor_sim():
    return simulate_factors(800, 6, (2, 2), 2, mean_shift=3.0, seed=1)


@pytest.fixture(scope="module")
def factor_fit(factor_sim):
    return bh.fit(factor_sim.data, seed=0, progress=False, **FACTOR_FIT)


# ------------------------------------------------------------------ construction


def test_joint_states_enumerate_every_combination_of_factor_states():
    table = joint_states_table(2, 3)
    assert table.shape == (9, 2)
    assert {tuple(r) for r in table} == {(a, b) for a in range(3) for b in range(3)}
    assert (table == np.stack(np.unravel_index(np.arange(9), (3, 3)), 1)).all()
    assert (factor_slots(2, 3) == table + np.array([0, 3])).all()


def test_one_factor_reduces_to_the_clusters_exactly():
    rng = np.random.default_rng(0)
    per_slot = jnp.asarray(rng.normal(size=(5, 4, 4)), jnp.float32)
    for how in ("sum", "mean"):
        assert (np.asarray(joint_from_slots(per_slot, 1, 5, how)) == np.asarray(per_slot)).all()
    v = jnp.asarray(rng.uniform(0.1, 0.9, size=4), jnp.float32)
    one = np.asarray(joint_log_weights(v[None], 1, 5))
    assert (one == np.asarray(stick_breaking_log_weights(v))).all()


def test_joint_parameters_add_shifts_and_average_weights_over_factors():
    shifts = jnp.asarray([[1.0], [2.0], [10.0], [20.0]])  # factor 0: 1, 2; factor 1: 10, 20
    joint = np.asarray(joint_from_slots(shifts, 2, 2, "sum"))[:, 0]
    assert joint.tolist() == [11.0, 21.0, 12.0, 22.0]
    mean = np.asarray(joint_from_slots(shifts, 2, 2, "mean"))[:, 0]
    assert mean.tolist() == [5.5, 10.5, 6.0, 11.0]
    v = jnp.asarray([[0.25], [0.5]])  # factor 0: (0.25, 0.75); factor 1: (0.5, 0.5)
    weights = np.exp(np.asarray(joint_log_weights(v, 2, 2)))
    assert np.allclose(weights, [0.125, 0.125, 0.375, 0.375])
    marginals = np.asarray(factor_marginals(jnp.asarray(weights), 2, 2))
    assert np.allclose(marginals, [[0.25, 0.75], [0.5, 0.5]])


def test_warm_start_parts_reproduce_additive_joint_values():
    parts = np.array([0.0, 1.5, -1.0, 0.5, 2.0, 0.0])  # factors of 2 and 3 states... as 2 x 3
    table = joint_states_table(2, 3)
    full = np.r_[parts[:3], parts[3:]]
    joint = full[table[:, 0]] + full[3 + table[:, 1]]
    found = slots_from_joint(joint[:, None], np.ones(9), 2, 3)[:, 0]
    assert np.allclose(found[table[:, 0]] + found[3 + table[:, 1]], joint, atol=1e-8)


def test_relabelling_undoes_swapped_factors_and_states():
    rng = np.random.default_rng(1)
    n, m, k = 50, 2, 3
    reference = rng.dirichlet(np.ones(k), size=(n, m))
    joint = np.einsum("na,nb->nab", reference[:, 0], reference[:, 1]).reshape(n, k * k)
    slot_values = rng.normal(size=(m * k, 2))
    log_w = np.log(np.array([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1]]))
    draw = {
        "factor_membership": reference,
        "factor_log_weights": log_w,
        "b_shift": slot_values,
        "membership": joint,
        "log_weights": (log_w[0][:, None] + log_w[1][None, :]).reshape(-1),
        "alpha": np.array([1.0, 2.0]),
    }
    # the same draw with factors swapped and the states of each permuted
    perm0, perm1 = np.array([2, 0, 1]), np.array([1, 2, 0])
    swapped = {
        "factor_membership": np.stack(
            [reference[:, 1][:, perm1], reference[:, 0][:, perm0]], axis=1
        ),
        "factor_log_weights": np.stack([log_w[1][perm1], log_w[0][perm0]]),
        "b_shift": np.r_[slot_values[3:][perm1], slot_values[:3][perm0]],
        "membership": joint.reshape(n, k, k)[:, perm0][:, :, perm1]
        .transpose(0, 2, 1)
        .reshape(n, -1),
        "log_weights": (log_w[1][perm1][:, None] + log_w[0][perm0][None, :]).reshape(-1),
        "alpha": np.array([2.0, 1.0]),
    }
    draws = {name: np.stack([draw[name], swapped[name]]) for name in draw}
    aligned = relabel_factor_draws(draws, reference)
    for name in draw:
        assert np.allclose(aligned[name][0], aligned[name][1]), name
    # the states come out sorted by weight, factors in the reference's order
    assert np.allclose(aligned["factor_log_weights"][0], np.sort(log_w, 1)[:, ::-1])


def test_a_difference_is_a_change_only_beyond_the_spike():
    small = difference_inclusion(np.array([0.0, 0.05]), 0.2, 0.05, 1.5)
    large = difference_inclusion(np.array([1.0, -2.0]), 0.2, 0.05, 1.5)
    assert (small < 0.05).all() and (large > 0.99).all()
    # at zero: the spike's density over the slab's, by the prior odds
    ratio = (1.5 / 0.05) * (0.8 / 0.2)
    assert np.isclose(small[0], 1 / (1 + ratio))


# ------------------------------------------------------------------ simulated truth


def test_simulated_factors_shift_only_their_own_targets():
    sim = simulate_factors(400, 8, (2, 3), (2, 3), seed=4)
    assert sim.factor_labels.shape == (400, 2)
    assert (sim.labels == np.ravel_multi_index(tuple(sim.factor_labels.T), (2, 3))).all()
    t0, t1 = map(set, sim.factor_targets)
    assert len(t0) == 2 and len(t1) == 3 and not t0 & t1
    untouched = [sim.data.columns.get_loc(c) for c in sim.data.columns if c not in t0 | t1]
    assert np.allclose(sim.intercepts[:, untouched], 0.0)
    assert np.allclose(sim.noise_scales[:, untouched], sim.noise_scales[0, untouched])
    # a joint state of factor-0 state 0 and factor-1 state 0 shifts nothing
    assert np.allclose(sim.intercepts[0], 0.0)
    assert (sim.pooled_adjacency == sim.adjacency[0]).all()


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"latent_factors": 0}, r"latent_factors must be an integer >= 1"),
        ({"latent_factors": 4, "max_clusters": 3}, r"make 81 joint states, more than the 64"),
        ({"latent_factors": 2, "max_clusters": 1}, r"must be at least 2 with 2 latent factors"),
        ({"latent_factors": 5, "max_clusters": 2}, r"more than the 4 variables allow"),
        ({"latent_factors": 2, "method": "nuts"}, r"fitted by SVI only"),
        ({"latent_factors": 2, "batch_size": 64}, r"fits all rows at every step"),
    ],
)
def test_impossible_factor_settings_are_one_line_errors(small_sim, options, message):
    # the joint-state limit binds several factors only: one factor takes any truncation
    assert bh.load_config(model_overrides={"max_clusters": 100}).model.max_clusters == 100
    with pytest.raises(bh.ConfigError, match=message):
        bh.fit(small_sim.data, progress=False, **options)


# ------------------------------------------------------------------ fits


def test_two_factors_are_recovered_with_what_each_shifts(factor_fit, factor_sim):
    scores = factor_scores(factor_fit, factor_sim)
    assert scores["ari_0"] >= 0.8 and scores["ari_1"] >= 0.8, scores
    assert scores["jaccard_0"] >= 0.99 and scores["jaccard_1"] >= 0.99, scores
    assert scores["f1"] >= 0.7, scores
    table = factor_fit.factors.table()
    assert table["n_states"].tolist() == [2, 2]
    shifts = factor_fit.factors.shifts()
    assert shifts.shape == (2, 6) and ((shifts >= 0) & (shifts <= 1)).all().all()
    pairs = factor_fit.identifiability()["factors"]["pairs"]
    assert pairs[0]["separable"] and abs(pairs[0]["ari"]) < 0.2


def test_factor_readouts_agree_with_each_other(factor_fit):
    readout = factor_fit.factors
    # built from the result itself, as before PosteriorDraws existed: the same readout
    from bayes_hcl.results.factors import FactorReadout

    assert FactorReadout(factor_fit).table().equals(readout.table())
    for f in range(2):
        members = readout.memberships(f)
        assert np.allclose(members.sum(axis=1), 1.0)
        assert (readout.states(f) == members.columns.to_numpy()[members.to_numpy().argmax(1)]).all()
        assert np.isclose(readout.n_states(f).sum(), 1.0)
        g = readout.graph(f, readout.occupied_states(f)[0])
        assert nx_is_dag(g)
        assert {n for n, changed in g.nodes(data="changed") if changed} == set(readout.shifted(f))
        effects = readout.effects(f)
        assert set(effects["child"]) <= set(readout.shifted(f))
    # every state's edge probabilities average (by the states' weights) to the pooled mean
    probs = readout.edge_probabilities(0, 0)
    assert probs.shape == (6, 6) and ((probs >= 0) & (probs <= 1)).all().all()


def nx_is_dag(g) -> bool:
    import networkx as nx

    return nx.is_directed_acyclic_graph(g)


def test_a_factor_fit_round_trips_through_a_file(factor_fit, tmp_path):
    factor_fit.save(tmp_path / "f.nc")
    back = bh.load_result(tmp_path / "f.nc")
    pd.testing.assert_frame_equal(back.factors.shifts(), factor_fit.factors.shifts())
    pd.testing.assert_frame_equal(back.factors.memberships(1), factor_fit.factors.memberships(1))


def test_latent_factors_one_is_the_default_model_bit_for_bit(small_sim, small_fit):
    one = bh.fit(small_sim.data, seed=0, progress=False, latent_factors=1, **SMALL_FIT)
    assert (one.edge_probabilities().to_numpy() == small_fit.edge_probabilities().to_numpy()).all()
    assert (one.memberships().to_numpy() == small_fit.memberships().to_numpy()).all()
    # the one-factor readout: its factor is the clustering
    assert one.factors.n_factors == 1 and not one.factors.several
    assert bh.metrics.adjusted_rand_index(one.factors.states(0), one.clusters()) > 0.99


def test_two_factors_on_one_source_data_reduce_to_the_one_factor_fit(small_sim, small_fit):
    two = bh.fit(small_sim.data, seed=0, progress=False, latent_factors=2, **SMALL_FIT)
    states = [len(two.factors.occupied_states(f)) for f in range(2)]
    assert sorted(states) == [1, 2], states
    agree = bh.metrics.adjusted_rand_index(two.clusters(), small_fit.clusters())
    assert agree >= 0.95, agree
    probs = two.edge_probabilities().to_numpy()
    reference = small_fit.edge_probabilities().to_numpy()
    assert ((probs > 0.5) == (reference > 0.5)).all()  # the same graph
    # the uncertain edge X2 -> X1 moves by up to 0.14 between seeds of the one-factor fit
    assert np.abs(probs - reference).max() <= 0.3
    pair = two.identifiability()["factors"]["pairs"][0]
    assert not pair["separable"] and "single occupied state" in pair["reason"]


# ------------------------------------------------------------------ command line


def test_cli_writes_factor_files(factor_sim, tmp_path):
    csv = tmp_path / "data.csv"
    factor_sim.data.to_csv(csv, index=False)
    out = tmp_path / "out"
    args = ["--latent-factors", "2", "--max-clusters", "2", "--num-steps", "1500"]
    proc = run_cli("fit", str(csv), "--out", str(out), *args, "--num-samples", "100")
    assert proc.returncode == 0, proc.stderr
    assert "latent factors:" in proc.stdout
    doc = json.loads((out / "factors.json").read_text())
    assert [f["factor"] for f in doc["factors"]] == [0, 1]
    for entry in doc["factors"]:
        assert entry["n_states"] == 2
        assert set(entry["shifts"]) == set(factor_sim.data.columns)
        members = pd.read_csv(out / "factors" / str(entry["factor"]) / "memberships.csv")
        assert len(members) == len(factor_sim.data) and "state" in members.columns
    found = {tuple(sorted(f["shifted"])) for f in doc["factors"]}
    assert found == set(factor_sim.factor_targets)
    assert json.loads((out / "summary.json").read_text())["latent_factors"] == 2
    assert "factors" in json.loads((out / "identifiability.json").read_text())


def test_cli_refuses_impossible_factor_counts(factor_sim, tmp_path, capsys):
    from bayes_hcl.cli.commands import main

    csv = tmp_path / "data.csv"
    factor_sim.data.to_csv(csv, index=False)
    out = str(tmp_path / "o")
    assert main(["fit", str(csv), "--out", out, "--latent-factors", "0"]) == 2
    assert "latent_factors must be an integer >= 1" in capsys.readouterr().err
    assert main(["fit", str(csv), "--out", out, "--latent-factors", "3"]) == 2
    assert "make 512 joint states, more than the 64" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_simulates_factors_with_their_truth(tmp_path, capsys):
    from bayes_hcl.cli.commands import main

    out = tmp_path / "f.csv"
    args = ["--factor-states", "2", "3", "--factor-targets", "2", "--n-per-cluster", "20"]
    assert main(["simulate", "--out", str(out), "--d", "6", *args]) == 0
    frame = pd.read_csv(out)
    truth = json.loads((tmp_path / "f.truth.json").read_text())
    assert frame.shape == (120, 6)
    assert len(truth["factor_labels"]) == 2 and len(truth["factor_labels"][0]) == 120
    assert [len(t) for t in truth["factor_targets"]] == [2, 2]
    assert max(truth["factor_labels"][1]) == 2 and truth["n_clusters"] == 6
    assert main(["simulate", "--out", str(out), "--d", "3", "--factor-states", "2", "2"]) == 2
    assert "6 targets in all do not fit in 3 variables" in capsys.readouterr().err


def test_the_report_shows_the_factors(factor_fit):
    from bayes_hcl.viz.report import FACTOR_SECTION, SECTIONS, render_report

    text = render_report(factor_fit)
    order = [s for s in (*SECTIONS[:2], FACTOR_SECTION, *SECTIONS[2:])]
    positions = [text.index(f'<section id="{s}">') for s in order]
    assert positions == sorted(positions)
    assert "Probability that each factor changes each variable" in text
    for name in factor_fit.factors.shifted(0):
        assert name in text


def test_factors_with_binary_count_and_bracketed_categorical_columns(tmp_path):
    sim = simulate_factors(240, 4, (2, 2), 1, mean_shift=3.0, count_fraction=0.25, seed=3)
    frame = sim.data.copy()
    frame["flag"] = (frame["X2"] > frame["X2"].median()).astype(int)
    frame["dose[mg]"] = np.where(frame["X3"] > 0, "hi", np.where(frame["X1"] > 0, "mid", "lo"))
    options = {"num_steps": 200, "num_samples": 20, "num_restarts": 2}
    result = bh.fit(frame, seed=0, latent_factors=2, max_clusters=2, progress=False, **options)
    assert "categorical" in result.types and "count" in result.types
    shifts = result.factors.shifts()
    assert list(shifts.columns) == list(frame.columns)
    assert np.isfinite(shifts.to_numpy()).all()
    assert result.factors.effects(0).columns[0] == "factor"
    write_outputs(result, tmp_path / "out", {})
    doc = json.loads((tmp_path / "out" / "factors.json").read_text())
    assert set(doc["factors"][0]["shifts"]) == set(frame.columns)
