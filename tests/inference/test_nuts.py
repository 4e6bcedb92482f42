"""NUTS: exactness against the enumerated posterior, order moves, chains, ArviZ output."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

import bayes_hcl as bh
from bayes_hcl.bench import exact
from bayes_hcl.bench.calibration import chain_data
from bayes_hcl.config import load_config
from bayes_hcl.errors import ConvergenceWarning
from bayes_hcl.inference.nuts.driver import fit_nuts, initial_values, sample_nuts
from bayes_hcl.inference.nuts.order_moves import _propose, proposal_moments
from bayes_hcl.inference.svi.driver import fit_svi
from bayes_hcl.model.priors import stick_fractions
from bayes_hcl.results.convergence import convergence_report
from bayes_hcl.results.io import arviz_io
from bayes_hcl.results.io.posterior import decode_attr

# SVI only initialises the chains here: a short fit is enough
INIT = {"num_steps": 400, "num_restarts": 3}


def one_cluster_config(**nuts):
    return load_config(
        "hcl",
        # the exact posterior is the Gaussian model's
        model_overrides={"max_clusters": 1, "noise_family": "gaussian"},
        svi_overrides=INIT,
        nuts_overrides=nuts,
    )


def test_gaussian_integral_matches_dense_density():
    rng = np.random.default_rng(3)
    y, z = rng.normal(size=12), rng.normal(size=(12, 3))
    prior_var, s2 = np.array([0.5, 2.0, 0.01]), np.array([0.3, 1.7])
    got = exact._log_marginal(y, z, prior_var, s2)
    for value, s in zip(got, s2, strict=True):
        cov = s * np.eye(12) + z @ np.diag(prior_var) @ z.T
        assert value == pytest.approx(multivariate_normal(np.zeros(12), cov).logpdf(y), rel=1e-9)


def test_exact_probabilities_are_a_distribution_over_dags():
    data = chain_data(3)
    p = exact.exact_edge_probabilities(data.y, one_cluster_config().model)
    assert np.all(np.diag(p) == 0) and np.all((p >= 0) & (p <= 1))
    assert np.all(p + p.T <= 1 + 1e-12)  # one orientation per DAG
    # a strong chain: both links present with high probability, the far pair rarely
    assert p[0, 1] + p[1, 0] > 0.9 and p[1, 2] + p[2, 1] > 0.9 and p[0, 2] + p[2, 0] < 0.2
    with pytest.raises(ValueError, match="d <= 7"):
        exact.exact_edge_probabilities(np.zeros((10, 8)), one_cluster_config().model)


@pytest.mark.parametrize("d", [3, pytest.param(4, marks=pytest.mark.slow)])
def test_nuts_edge_probabilities_match_the_exact_posterior(d):
    # one cluster, Gaussian: the posterior over (order, edges) is enumerable in closed form
    data = chain_data(d)
    config = one_cluster_config(num_warmup=500, num_samples=1000, num_chains=4)
    truth = exact.exact_edge_probabilities(data.y, config.model)
    fit = fit_nuts(data, config, seed=0, progress=False)
    nuts = fit.draws["inclusion"][:, :, 0].mean((0, 1))
    svi = fit.svi.draws["inclusion"][:, 0].mean(0)
    # measured on this seed: d = 3: NUTS 0.008, SVI 0.27; d = 4: NUTS 0.017, SVI 0.47
    assert np.abs(nuts - truth).max() <= 0.05
    assert np.abs(svi - truth).max() > np.abs(nuts - truth).max()
    assert fit.sample_stats["diverging"].sum() == 0


@pytest.mark.slow  # 30 s; the exact-posterior test above checks what the chains reach
def test_chains_started_in_different_orders_meet():
    data = chain_data(3)
    config = one_cluster_config(num_warmup=300, num_samples=600, num_chains=4)
    truth = exact.exact_edge_probabilities(data.y, config.model)
    svi = fit_svi(data, config, seed=1, progress=False)
    init = initial_values(svi, data.n, config, 4, seed=1)
    # every chain starts from the same parameters in a different order, two of them reversed
    init = {k: np.repeat(v[:1], 4, axis=0) for k, v in init.items()}
    init["rank"] = np.array([[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]], dtype=np.int32)
    samples, stats, _ = sample_nuts(data, config, init, seed=1, progress=False)
    first_rank = samples["rank"][:, 0]
    assert len({tuple(r) for r in first_rank}) >= 3  # still apart after one transition
    assert stats["order_acceptance"].mean() > 0.05
    # each chain alone ends up sampling the same orders: the reversed chain included
    orders = np.argsort(samples["rank"], -1)
    for c in range(4):
        before = (np.argsort(orders[c], -1)[:, 1] < np.argsort(orders[c], -1)[:, 2]).mean()
        assert abs(before - (1 - truth[2, 1] / (truth[1, 2] + truth[2, 1]))) < 0.3


PROPOSE = jax.jit(_propose)  # one compile for every example (indices and kind are traced)


@settings(max_examples=60, deadline=None)
@given(
    i=st.integers(0, 4),
    j=st.integers(0, 4),
    kind=st.integers(0, 3),
    seed=st.integers(0, 1000),
)
def test_order_proposals_are_involutions(i, j, kind, seed):
    # the reverse move (same positions, so nodes j then i, from the swapped order) undoes it
    if i == j:
        return
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(50, 5))
    moments = proposal_moments(x, rng.dirichlet(np.ones(2), size=50))
    others = [n for n in range(5) if n not in (i, j)]
    rank = np.empty(5, int)
    rank[others[:2]], rank[i], rank[j], rank[others[2:]] = [0, 1], 2, 3, [4]
    swapped = rank.copy()
    swapped[[i, j]] = [3, 2]
    z = {
        "W": jnp.asarray(rng.normal(size=(2, 5, 5))),
        "mu": jnp.asarray(rng.normal(size=(5, 5))),
        "rho": jnp.asarray(rng.normal(size=(5, 5))),
        "b_base": jnp.asarray(rng.normal(size=5)),
        "b_shift": jnp.asarray(rng.normal(size=(2, 5))),
        "noise_logits": jnp.asarray(rng.normal(size=(5, 3))),
    }
    z["log_sigma_shift"] = jnp.asarray(rng.normal(size=(2, 5)))
    z["log_sigma_base"] = jnp.asarray(rng.normal(size=5))
    once = PROPOSE(z, i, j, kind, moments, jnp.asarray(rank))
    twice = PROPOSE(once, j, i, kind, moments, jnp.asarray(swapped))
    for name in z:
        np.testing.assert_allclose(np.asarray(twice[name]), np.asarray(z[name]), atol=1e-5)
    changed = any(not np.array_equal(once[n], z[n]) for n in z)
    assert changed == (kind > 0)
    if kind in (1, 2):
        assert once["W"][0, i, j] == z["W"][0, j, i]


@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=6))
def test_stick_fractions_reproduce_the_weights(raw):
    w = np.array(raw) / np.sum(raw)
    v = stick_fractions(w)
    log_pi = bh.model.stick_breaking_log_weights(jnp.asarray(v))
    np.testing.assert_allclose(np.exp(np.asarray(log_pi)), w, rtol=1e-3, atol=1e-4)


def test_non_finite_start_is_a_clear_error():
    data = chain_data(3, n=40)
    config = one_cluster_config(num_warmup=5, num_samples=5, num_chains=2)
    svi = fit_svi(data, config, seed=0, progress=False)
    init = initial_values(svi, data.n, config, 2, seed=0)
    init["log_sigma_base"] = np.full_like(init["log_sigma_base"], np.nan)
    with pytest.raises(FloatingPointError, match="NUTS could not start"):
        sample_nuts(data, config, init, seed=0, progress=False)


@pytest.fixture(scope="module")
def nuts_fit(small_sim):
    with pytest.warns(ConvergenceWarning):  # 2 chains x 100 draws: too short, and it says so
        return bh.fit(
            small_sim.data,
            method="nuts",
            seed=0,
            progress=False,
            max_clusters=4,
            num_steps=600,
            num_warmup=100,
            num_samples=100,
            num_chains=2,
        )


def test_nuts_result_is_arviz_native(nuts_fit, tmp_path):
    data = nuts_fit.to_arviz()
    for group in ("posterior", "log_likelihood", "sample_stats", "observed_data", "restarts"):
        assert group in data.groups() if hasattr(data, "groups") else group in data.children
    post = data.posterior
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 100
    assert post["W"].dims == ("chain", "draw", "cluster", "parent", "node")
    assert post["membership"].dims == ("chain", "draw", "obs", "cluster")
    assert data.log_likelihood["obs_loglik"].dims == ("chain", "draw", "obs")
    stats = data.sample_stats
    for name in ("diverging", "tree_size", "acceptance_rate", "step_size", "lp", "energy"):
        assert stats[name].dims == ("chain", "draw"), name
    attrs = {k: decode_attr(v) for k, v in post.attrs.items()}
    assert attrs["method"] == "nuts" and attrs["seed"] == 0
    assert attrs["config"]["nuts"]["num_chains"] == 2
    assert attrs["versions"]["bayes_hcl"] == bh.__version__
    nuts_fit.save(tmp_path / "r.nc")
    again = bh.load_result(tmp_path / "r.nc")
    np.testing.assert_array_equal(
        again.edge_probabilities().to_numpy(), nuts_fit.edge_probabilities().to_numpy()
    )
    assert again.convergence() == nuts_fit.convergence()
    assert arviz_io.ARVIZ_MAJOR in (0, 1)


def test_nuts_convergence_is_reported_with_the_summary(nuts_fit, small_sim):
    report = nuts_fit.convergence()
    assert report["num_chains"] == 2 and report["num_draws"] == 100
    assert set(report["quantities"]) == {"log_likelihood", "n_clusters", "partition_ari"}
    assert report["converged"] is False and report["warnings"]
    table = nuts_fit.summary()
    assert {"rhat", "ess_bulk"} <= set(table.columns)
    assert table["rhat"].notna().all()
    # the easy two-cluster case is still recovered by the short chains
    assert bh.metrics.adjusted_rand_index(small_sim.labels, nuts_fit.clusters()) >= 0.9


def test_svi_convergence_says_it_does_not_apply(small_fit):
    report = small_fit.convergence()
    assert report["converged"] is None and "restarts" in report["note"]
    assert small_fit.summary()["rhat"].isna().all()


def test_chain_orders_reads_the_chains_and_the_svi_restarts(nuts_fit, small_fit):
    table = nuts_fit.chain_orders()
    assert table["chain"].tolist() == [0, 1] and (table["draws"] == 100).all()
    for order in table["modal_order"]:
        assert sorted(order.split(" < ")) == sorted(nuts_fit.columns)
    assert table["share"].between(0, 1).all() and (table["n_orders"] >= 1).all()
    loglik = nuts_fit.idata.log_likelihood["obs_loglik"].values.astype(float).sum(-1).mean(1)
    np.testing.assert_allclose(table["mean_log_likelihood"], loglik, rtol=1e-6)
    svi = small_fit.chain_orders()  # one row per restart that has draws
    assert svi.columns[0] == "restart" and svi["draws"].sum() == 100


def test_convergence_report_on_hand_built_chains():
    rng = np.random.default_rng(0)
    c, s, n, k, d = 2, 200, 30, 2, 3
    labels = np.repeat([0, 1], n // 2)
    membership = np.zeros((c, s, n, k))
    membership[..., np.arange(n), labels] = 1.0
    occupied = np.ones((c, s, k), dtype=bool)
    log_lik = rng.normal(size=(c, s, n))
    stats = {"diverging": np.zeros((c, s), bool), "tree_size": np.full((c, s), 7)}
    agree = rng.uniform(0.4, 0.6, size=(c, s, k, d, d))
    report, table = convergence_report(
        log_lik, membership, agree, occupied, labels, list("abc"), stats, 8
    )
    assert report["converged"], report["warnings"]
    assert report["quantities"]["partition_ari"]["rhat"] == 1.0  # constant: every draw agrees
    apart = agree.copy()
    apart[1, ..., 0, 1] = 0.0  # chain 1 never has a -> b
    apart[0, ..., 0, 1] = 1.0
    stats["diverging"][0, :3] = True
    report, table = convergence_report(
        log_lik, membership, apart, occupied, labels, list("abc"), stats, 8
    )
    assert not report["converged"] and report["edge_probabilities"]["worst_edge"] == "a -> b"
    assert table[0, 1, 0] > 1.05 and report["divergences"] == 3
    assert any("chains disagree" in w for w in report["warnings"])
    assert any("target_accept_prob" in w for w in report["warnings"])


PARALLEL_SCRIPT = """
import warnings
import numpy as np
import bayes_hcl as bh
from bayes_hcl.inference.nuts.driver import _chain_method
warnings.simplefilter("ignore")
sim = bh.simulate(100, d=3, n_clusters=1, seed=0)
r = bh.fit(sim.data, method="nuts", max_clusters=1, num_steps=200, num_restarts=3,
           num_warmup=50, num_samples=50, num_chains=2, progress=False)
p = r.edge_probabilities().to_numpy()
print(_chain_method(2), r.to_arviz().posterior.sizes["chain"], bool(np.isfinite(p).all()))
"""


@pytest.mark.slow  # 33 s; the default suite splits rows over two devices (test_devices.py)
def test_chains_run_in_parallel_over_devices():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "CI": "true"}
    proc = subprocess.run(
        [sys.executable, "-c", PARALLEL_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["parallel", "2", "True"]
