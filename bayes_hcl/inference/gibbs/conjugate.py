"""The Gaussian integrals of the Gibbs sampler: one node's regressions in every cluster.

Given the memberships, the causal order, the noise scales and the discrete indicators, the
continuous parameters of node ``j`` are jointly Gaussian: in cluster ``k`` its intercept
``b_kj = beta_j + c_kj`` and weights ``W_k.j``, with ``W_kij ~ N(mu_ij, s1^2)`` when the edge is
in the slab (``gamma_kij = 1``), ``N(0, s0^2)`` in the spike, ``c_kj ~ N(0, slab or spike of
the intercept shift)`` by ``delta_kj``, and the universal ``g_j = (beta_j, mu_.j)`` with prior
``N(0, diag(1, sigma_mu^2, ...))``. :func:`node_evidence` integrates all of them out (first each
cluster's ``theta_k = (b_kj, W_k.j)`` given ``g_j``, which leaves a Gaussian factor in
``g_j``, then ``g_j``): the collapsed likelihood the indicators and the order moves are drawn
from (George & McCulloch 1997). :func:`draw_node_parameters` then draws ``g_j`` and every
``theta_k`` from their Gaussian conditional.

Covariates are ``Z = [1, x]`` (``P = d + 1`` columns, intercept first) and enter through
per-cluster sufficient statistics, so the cost does not grow with the rows once they are
summed. A parent the order forbids has its column of ``Z`` zeroed: its weight then keeps its
``N(0, s0^2)`` prior and drops out of the integral exactly, so every node has the same static
shapes whatever the order.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayes_hcl.inference.gibbs.linalg import (
    cho_solve,
    cholesky,
    solve_lower,
    solve_upper,
    spd_inverse,
)

__all__ = [
    "NodePriors",
    "NodeStats",
    "cluster_statistics",
    "draw_node_parameters",
    "node_evidence",
    "plug_in_log_noise",
]

_LOG_2PI = 1.8378770664093453


class NodePriors(NamedTuple):
    """Prior variances of one node's Gaussian pieces (from the model's configuration)."""

    spike_var: float  # s0^2: an absent edge's weight
    slab_var: float  # s1^2: a present edge's weight around its universal mechanism
    mechanism_var: float  # sigma_mu^2: the universal mechanism mu_ij
    base_var: float  # the universal intercept beta_j (1.0)
    shift_spike_var: float  # an intercept shift in the spike
    shift_slab_var: float  # an intercept shift in the slab


class NodeStats(NamedTuple):
    """One node's per-cluster sufficient statistics (``K`` clusters, ``P = d + 1``)."""

    zz: jnp.ndarray  # (K, P, P): sum over the cluster's rows of Z_i Z_i^T
    zy: jnp.ndarray  # (K, P): sum of Z_i y_ij
    yy: jnp.ndarray  # (K,): sum of y_ij^2
    count: jnp.ndarray  # (K,): rows in the cluster


def cluster_statistics(onehot: jnp.ndarray, z: jnp.ndarray, y: jnp.ndarray):
    """Sufficient statistics of every cluster: ``Z^T Z`` ``(K, P, P)``, ``Z^T y`` ``(K, P,
    d)``, ``y^T y`` ``(K, d)`` and row counts ``(K,)``, from one-hot memberships ``(n, K)``,
    the design ``Z`` ``(n, P)`` and responses ``y`` ``(n, d)``."""
    zz = jnp.einsum("nk,na,nb->kab", onehot, z, z)
    zy = jnp.einsum("nk,na,nj->kaj", onehot, z, y)
    yy = jnp.einsum("nk,nj->kj", onehot, y * y)
    return zz, zy, yy, onehot.sum(0)


def _prior_diagonals(allowed, gamma, delta, priors: NodePriors):
    """Per cluster: prior variances ``D`` ``(K, P)`` of ``theta_k`` and the selection ``A``
    ``(K, P)`` of ``g`` that is its prior mean; and ``g``'s prior variances ``(P,)``."""
    k = gamma.shape[0]
    slab = gamma & allowed[None, 1:]
    weight_var = jnp.where(slab, priors.slab_var, priors.spike_var)
    shift_var = jnp.where(delta, priors.shift_slab_var, priors.shift_spike_var)
    var = jnp.concatenate([shift_var[:, None], weight_var], axis=1)
    select = jnp.concatenate([jnp.ones((k, 1)), slab.astype(var.dtype)], axis=1)
    g_var = jnp.concatenate(
        [jnp.full((1,), priors.base_var), jnp.full((gamma.shape[1],), priors.mechanism_var)]
    )
    return var, select, g_var


def _cluster_terms(stats: NodeStats, allowed, sigma2, var, select):
    """Each cluster's Gaussian factor in ``g`` once ``theta_k`` is integrated out.

    Returns the Cholesky factor of ``theta_k``'s conditional precision, the data part of its
    linear term, the constant, the linear term ``r_k`` and the precision ``Q_k`` in ``g``.
    """
    keep = allowed.astype(stats.zz.dtype)
    zz = stats.zz * keep[None, :, None] * keep[None, None, :]
    a = stats.zy * keep[None, :] / sigma2[:, None]
    precision = zz / sigma2[:, None, None] + jax.vmap(jnp.diag)(1.0 / var)
    chol = cholesky(precision)
    inverse = spd_inverse(chol)
    solved = jnp.einsum("kab,kb->ka", inverse, a)
    b = select / var
    q = jax.vmap(jnp.diag)(select * b) - b[:, :, None] * b[:, None, :] * inverse
    r = b * solved
    log_det = 2.0 * jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)).sum(1)
    const = -0.5 * (
        stats.count * (_LOG_2PI + jnp.log(sigma2))
        + jnp.log(var).sum(1)
        + log_det
        + stats.yy / sigma2
        - (a * solved).sum(1)
    )
    return chol, a, const, r, q


def node_evidence(stats: NodeStats, allowed, gamma, delta, sigma2, priors: NodePriors):
    """Log marginal likelihood of one node's responses in every cluster, its intercepts,
    weights and universal mechanisms integrated out.

    Parameters
    ----------
    stats : NodeStats
        The node's per-cluster sufficient statistics.
    allowed : array of bool ``(P,)``
        ``[True, parents the order allows...]``.
    gamma : array of bool ``(K, d)``
        Slab indicators of the node's incoming edges (ignored where not allowed).
    delta : array of bool ``(K,)``
        Slab indicators of its intercept shifts.
    sigma2 : array ``(K,)``
        Its noise variances.
    priors : NodePriors

    Returns
    -------
    scalar
        ``log p(y_.j | order, gamma, delta, sigma)``.
    """
    var, select, g_var = _prior_diagonals(allowed, gamma, delta, priors)
    _, _, const, r, q = _cluster_terms(stats, allowed, sigma2, var, select)
    precision = jnp.diag(1.0 / g_var) + q.sum(0)
    chol = cholesky(precision)
    half = solve_lower(chol, r.sum(0))
    return (
        const.sum()
        - 0.5 * jnp.log(g_var).sum()
        - jnp.log(jnp.diagonal(chol)).sum()
        + 0.5 * (half * half).sum()
    )


def plug_in_log_noise(stats: NodeStats, allowed, gamma, delta, priors: NodePriors):
    """``(K,)``: log residual sd of each cluster's ridge fit of the node on its allowed
    parents (prior precisions as penalties, unit noise; 0 for a cluster of fewer than two
    rows). A function of the order and indicators only, not of the noise scales: the order
    moves translate the log noise scales by its change, which makes each move its own
    reverse."""
    var, _, _ = _prior_diagonals(allowed, gamma, delta, priors)
    keep = allowed.astype(stats.zz.dtype)
    zz = stats.zz * keep[None, :, None] * keep[None, None, :]
    zy = stats.zy * keep[None, :]
    ridge = zz + jax.vmap(jnp.diag)(1.0 / var)
    theta = cho_solve(cholesky(ridge), zy)
    rss = stats.yy - 2.0 * (theta * zy).sum(1) + jnp.einsum("ka,kab,kb->k", theta, zz, theta)
    level = 0.5 * jnp.log(jnp.maximum(rss, 1e-12) / jnp.maximum(stats.count, 1.0))
    return jnp.where(stats.count >= 2, level, 0.0)


def draw_node_parameters(
    rng_key, stats: NodeStats, allowed, gamma, delta, sigma2, priors, mean_only: bool = False
):
    """Draw ``g = (beta_j, mu_.j)`` ``(P,)`` and every cluster's ``theta_k = (b_kj, W_k.j)``
    ``(K, P)`` from their joint Gaussian conditional (arguments as :func:`node_evidence`).

    A forbidden parent's weight comes out ``N(0, s0^2)`` and its ``mu`` from its prior.
    With ``mean_only``, the conditional means instead of draws.
    """
    var, select, g_var = _prior_diagonals(allowed, gamma, delta, priors)
    chol_k, a, _, r, q = _cluster_terms(stats, allowed, sigma2, var, select)
    key_g, key_theta = jax.random.split(rng_key)
    chol = cholesky(jnp.diag(1.0 / g_var) + q.sum(0))
    g = _gaussian(key_g, chol, r.sum(0), mean_only)
    h = a + (select / var) * g[None, :]
    keys = jax.random.split(key_theta, gamma.shape[0])
    theta = jax.vmap(_gaussian, in_axes=(0, 0, 0, None))(keys, chol_k, h, mean_only)
    return g, theta


def _gaussian(rng_key, chol, linear, mean_only=False):
    """A draw of ``N(Lambda^-1 h, Lambda^-1)`` from ``Lambda``'s lower Cholesky factor (its
    mean with ``mean_only``)."""
    mean = cho_solve(chol, linear)
    if mean_only:
        return mean
    noise = jax.random.normal(rng_key, linear.shape, linear.dtype)
    return mean + solve_upper(chol, noise)
