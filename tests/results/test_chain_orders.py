"""chain_orders: each chain's causal order, on hand-built draws; the warning that names it."""

import numpy as np
import pandas as pd

from bayes_hcl.results.convergence import chain_orders, convergence_report

ORDERS = {"abc": [0, 1, 2], "bac": [1, 0, 2], "acb": [0, 2, 1], "cba": [2, 1, 0]}


def _phi(*chains: list[str]) -> np.ndarray:
    """Node potentials ``(C, S, 3)`` putting each draw in the order named (``"bac"``: b < a < c)."""
    out = np.zeros((len(chains), len(chains[0]), 3))
    for c, chain in enumerate(chains):
        for s, name in enumerate(chain):
            out[c, s, ORDERS[name]] = np.arange(3)  # position of each variable
    return out


def test_chain_orders_on_hand_built_chains():
    phi = _phi(["abc", "abc", "abc", "bac"], ["abc", "acb", "acb", "abc"], ["cba"] * 4)
    log_lik = np.arange(12.0).reshape(3, 4)
    table = chain_orders(phi, log_lik, list("abc"))
    assert list(table.columns) == [
        "chain",
        "draws",
        "modal_order",
        "share",
        "n_orders",
        "mean_log_likelihood",
        "agrees",
        "opposed_pairs",
    ]
    assert table["chain"].tolist() == [0, 1, 2] and table["draws"].tolist() == [4, 4, 4]
    # chain 1 ties a < b < c with a < c < b: the first in lexicographic order of positions
    assert table["modal_order"].tolist() == ["a < b < c", "a < b < c", "c < b < a"]
    assert table["share"].tolist() == [0.75, 0.5, 1.0]
    assert table["n_orders"].tolist() == [2, 2, 1]
    assert table["mean_log_likelihood"].tolist() == [1.5, 5.5, 9.5]
    assert table["agrees"].dtype == "boolean"
    assert table["agrees"].tolist() == [True, True, False]
    # pairs held one way in every draw of a chain and the other way in every draw of another
    assert table["opposed_pairs"].tolist() == [
        "a < c, b < c",
        "a < b, a < c",
        "b < a, c < a, c < b",
    ]


def test_chain_orders_per_svi_restart_and_single_runs():
    phi = _phi(["abc", "abc", "cba", "cba", "bac", "abc"])
    runs = np.array([[0, 0, 1, 1, 1, 3]])
    table = chain_orders(phi, None, list("abc"), runs, label="restart")
    assert table["restart"].tolist() == [0, 1, 3]  # restart 2 has no draw: no row
    assert table["draws"].tolist() == [2, 3, 1]
    assert table["modal_order"].tolist() == ["a < b < c", "c < b < a", "a < b < c"]
    assert table["share"].tolist() == [1.0, 2 / 3, 1.0]
    assert table["mean_log_likelihood"].isna().all()  # no log-likelihood kept
    assert table["agrees"].tolist() == [True, False, True]
    one = chain_orders(_phi(["abc", "bac"]), np.zeros((1, 2)), list("abc"))
    assert len(one) == 1 and one["agrees"].isna().all() and one["opposed_pairs"][0] == ""


def _report(inclusion: np.ndarray):
    c, s, n, k = 2, 50, 10, 1
    rng = np.random.default_rng(1)
    membership = np.ones((c, s, n, k))
    stats = {"diverging": np.zeros((c, s), bool), "tree_size": np.full((c, s), 7)}
    return convergence_report(
        rng.normal(size=(c, s, n)),
        membership,
        inclusion,
        np.ones((c, s, k), bool),
        np.zeros(n, int),
        list("abc"),
        stats,
        8,
    )[0]


def test_disagreeing_chains_warning_names_chain_orders_and_explains_inf():
    rng = np.random.default_rng(0)
    inclusion = rng.uniform(0.4, 0.6, size=(2, 50, 1, 3, 3))
    inclusion[0, ..., 0, 1] = 1.0  # chain 0 always has a -> b, chain 1 never
    inclusion[1, ..., 0, 1] = 0.0
    report = _report(inclusion)
    assert report["edge_probabilities"]["rhat_max"] == np.inf
    (warning,) = [w for w in report["warnings"] if w.startswith("chains disagree")]
    assert "result.chain_orders()" in warning
    assert "bayes_hcl.load_result('OUT/posterior.nc').chain_orders()" in warning
    assert "R-hat inf: every chain holds that quantity at its own constant value" in warning
    # a finite R-hat above the limit gets the advice without the explanation of inf
    inclusion[0, :, 0, 0, 1] = rng.uniform(0.8, 1.0, size=50)
    inclusion[1, :, 0, 0, 1] = rng.uniform(0.0, 0.2, size=50)
    (warning,) = [w for w in _report(inclusion)["warnings"] if w.startswith("chains disagree")]
    assert "result.chain_orders()" in warning and "R-hat inf" not in warning


def test_chain_orders_frame_is_empty_safe_for_pandas():
    table = chain_orders(_phi(["abc"], ["cba"]), np.zeros((2, 1)), list("abc"))
    assert isinstance(table, pd.DataFrame) and table["agrees"].tolist() == [False, False]


def test_disagreeing_cluster_counts_alone_do_not_point_to_the_orders():
    rng = np.random.default_rng(2)
    c, s, n, k = 2, 50, 10, 2
    occupied = np.ones((c, s, k), bool)
    occupied[1, :, 1] = False  # chain 1 has one cluster, chain 0 two
    stats = {"diverging": np.zeros((c, s), bool), "tree_size": np.full((c, s), 7)}
    inclusion = rng.uniform(0.4, 0.6, size=(c, s, k, 3, 3))
    inclusion[:, :, 1] = 0.0  # the second cluster has no edge: pooled edges agree
    report = convergence_report(
        rng.normal(size=(c, s, n)),
        np.ones((c, s, n, k)) / k,
        inclusion,
        occupied,
        np.zeros(n, int),
        list("abc"),
        stats,
        8,
    )[0]
    (warning,) = [w for w in report["warnings"] if w.startswith("chains disagree")]
    assert "n_clusters inf" in warning and "chain_orders" not in warning
