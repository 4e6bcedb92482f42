"""Warm start of an SVI restart from a searched causal order.

Midway through the fit, each restart's memberships go to the order search
(:mod:`bayes_hcl.inference.search.order_search`); the best order found, its parent sets and
the fitted mechanisms then become the restart's new guide parameters, and SVI continues from there.
This is the move SVI cannot make on its own: jumping between causal orders.
"""

from __future__ import annotations

import numpy as np

from bayes_hcl.config import ModelConfig
from bayes_hcl.data.prepared import PreparedData
from bayes_hcl.inference.search.order_search import (
    OrderSearch,
    cluster_moments,
    discrete_nodes,
    search_order,
)
from bayes_hcl.model.guide import NOISE_SITES, initial_noise_locs, latent_sites
from bayes_hcl.model.priors import expand_to_columns, stick_fractions

__all__ = ["order_potentials", "warm_start_params"]

_EDGE_LOGIT = float(np.log(0.9 / 0.1))
_EMPTY_MASS = 1e-3
_GUIDE_SCALE = 0.03


def order_potentials(order: list[int], phi_range: float = 2.5) -> np.ndarray:
    """Node potentials spread evenly over ``[-phi_range, phi_range]`` in causal ``order``."""
    d = len(order)
    phi = np.zeros(d)
    phi[np.asarray(order)] = np.linspace(-phi_range, phi_range, d) if d > 1 else 0.0
    return phi


def _mechanisms(search: OrderSearch, order, parents, data: PreparedData):
    """Per-cluster weights, intercepts and log noise scales, on the model's scales."""
    k, d = search.k, data.d
    weights, intercepts, log_sigma = np.zeros((k, d, d)), np.zeros((k, d)), np.zeros((k, d))
    for j in order:
        p, w, b, sigma = search.mechanism(j, parents[j])
        weights[:, p, j] = w
        if search.is_discrete(j):
            # link-scale fits; the model adds the node's offset to its linear predictor
            intercepts[:, j], log_sigma[:, j] = b - data.offset[j], np.log(0.5)
        else:
            intercepts[:, j], log_sigma[:, j] = b, np.log(sigma)
    return weights, intercepts, log_sigma


def _to_model_columns(locs: dict, node_of: np.ndarray, current: dict | None, edge) -> dict:
    """Per-variable starting values spread to the model columns.

    The search sees a categorical variable through its one score column, whose regression
    weights do not translate into level weights: its blocks keep the restart's ``current``
    guide locations (zero without them), with the edge indicators the search chose.
    """
    single = np.bincount(node_of)[node_of] == 1
    both = single[:, None] & single[None, :]
    width = len(node_of)
    k = locs["W"].shape[0]
    keep = current or {
        "W": np.zeros((k, width, width)),
        "mu": np.zeros((width, width)),
        "b_base": np.zeros(width),
        "b_shift": np.zeros((k, width)),
        "log_sigma_shift": np.zeros((k, width)),
        "log_sigma_base": np.full(width, np.log(0.5)),
    }
    # a weight the search's graph leaves out starts at zero: where the restart's order
    # forbade the edge, its current value was never fitted to the data
    chosen = expand_to_columns(edge, node_of)
    out = dict(locs)
    for name in ("W", "mu"):
        spread = expand_to_columns(locs[name], node_of)
        out[name] = np.where(both, spread, np.where(chosen, np.asarray(keep[name]), 0.0))
    for name in ("b_base", "b_shift", "log_sigma_shift", "log_sigma_base"):
        out[name] = np.where(single, locs[name][..., node_of], np.asarray(keep[name]))
    for name in NOISE_SITES:
        if name in locs:
            out[name] = locs[name][node_of]
    return out


def warm_start_params(
    data: PreparedData,
    membership: np.ndarray,
    active: np.ndarray,
    start_order: list[int],
    config: ModelConfig,
    *,
    seed: int = 0,
    phi_scale: float = 0.05,
    current: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], list[int]]:
    """Guide parameters (constrained) of one restart re-started at a searched order.

    Parameters
    ----------
    data : PreparedData
        The prepared data.
    membership : ndarray
        ``(n, K)`` memberships of the restart (all ``K = max_clusters`` columns).
    active : ndarray
        ``(K,)`` 1 for clusters in use.
    start_order : list of int
        The restart's current order (one starting point of the search).
    config : ModelConfig
        Model hyperparameters.
    seed : int
        Seed of the search's random starting orders.
    phi_scale : float
        Guide scale of the node potentials.
    current : dict, optional
        The restart's current guide locations (constrained, by site name): the blocks of
        categorical variables start from them.

    Returns
    -------
    params, order
        Guide parameters keyed like :func:`bayes_hcl.model.guide.initial_params`, and the order.
    """
    k_max, d = membership.shape[1], data.d
    used, resp = _searched_clusters(membership, active)
    moments = cluster_moments(data.x, resp, min_count=0.0)
    types = tuple(int(t) for t in data.type_codes())
    discrete = discrete_nodes(data.y, data.x, resp, types, data.log_size_factor)
    search = OrderSearch(moments, discrete=discrete)
    order, _, parents = search_order(data.x, resp, [start_order], seed=seed, search=search)[0]
    pi = np.full(k_max, _EMPTY_MASS)
    pi[used] = moments.counts / moments.n
    pi /= pi.sum()
    edge = np.zeros((d, d), dtype=bool)
    for j, p in enumerate(parents):
        edge[sorted(p), j] = True
    prior_mean = min(config.edge_density / d, 0.5)
    locs = {
        "phi": order_potentials(order),
        "rho": np.where(edge, _EDGE_LOGIT, np.log(prior_mean / (1 - prior_mean))),
        **_pooled_mechanisms(_mechanisms(search, order, parents, data), pi, used),
        **{name: np.asarray(v) for name, v in initial_noise_locs(config, d).items()},
    }
    if k_max > 1:
        v = stick_fractions(pi)
        locs["alpha"] = np.zeros(())
        locs["v"] = np.log(v / (1 - v))
    width = d
    if data.design is not None:
        locs = _to_model_columns(locs, data.node_of(), current, edge)
        width = len(data.node_of())
    return _guide_params(locs, config, d, width, phi_scale), order


def _searched_clusters(membership: np.ndarray, active: np.ndarray):
    """Clusters the search sees (in use, with at least two rows' worth of membership) and
    the rows' memberships renormalised over them."""
    mass = np.where(active > 0, membership.sum(0), -1.0)
    used = np.flatnonzero(mass >= 2.0)
    if not used.size:
        # a handful of rows spread over many clusters: search with the fullest one alone
        used = np.array([int(mass.argmax())])
    resp = membership[:, used] + 1e-12
    resp /= resp.sum(1, keepdims=True)
    return used, resp


def _pooled_mechanisms(mechanisms, pi: np.ndarray, used: np.ndarray) -> dict[str, np.ndarray]:
    """The searched clusters' weights, intercepts and log noise scales as a universal value
    (their share-weighted mean) plus per-cluster shifts; clusters not searched get the
    universal value."""
    weights, intercepts, log_sigma = mechanisms
    k_max, d = len(pi), weights.shape[-1]
    share = pi[used] / pi[used].sum()
    mu = np.einsum("k,kij->ij", share, weights)
    full_w = np.broadcast_to(mu, (k_max, d, d)).copy()
    full_w[used] = weights
    b_base = share @ intercepts
    b_shift = np.zeros((k_max, d))
    b_shift[used] = intercepts - b_base
    s_base = share @ log_sigma
    s_shift = np.zeros((k_max, d))
    s_shift[used] = log_sigma - s_base
    return {
        "mu": mu,
        "W": full_w,
        "b_base": b_base,
        "b_shift": b_shift,
        "log_sigma_base": s_base,
        "log_sigma_shift": s_shift,
    }


def _guide_params(locs, config: ModelConfig, d: int, width: int, phi_scale: float) -> dict:
    """Guide locations (float32) and the fixed starting scales of every latent site."""
    params = {f"{name}_loc": np.asarray(value, np.float32) for name, value in locs.items()}
    for name, (shape, _) in latent_sites(config, d, width).items():
        params[f"{name}_scale"] = np.full(shape, _GUIDE_SCALE, np.float32)
    params["phi_scale"] = np.full(d, phi_scale, np.float32)
    return params
