"""Every node's sufficient statistics given the memberships, binary children augmented.

A binary node ``j`` with linear predictor ``eta_ij = offset_j + b_kj + x_i W_k.j`` is made
Gaussian by a Pólya-Gamma variable per row, ``omega_ij ~ PG(1, eta_ij)`` (Polson, Scott &
Windle 2013): given ``omega``, ``y_ij`` enters as the pseudo-response
``kappa_ij / omega_ij - offset_j`` (``kappa = y - 1/2``) with noise variance ``1 / omega_ij``.
Its statistics are those of that weighted regression, so the collapsed indicator, order and
parameter updates treat it like a continuous node with unit noise scale. ``omega`` is drawn
right after the memberships, from the same cluster parameters: together the two steps draw
``(z, omega)`` from their joint conditional, and the next steps condition on both.
"""

from __future__ import annotations

import jax.numpy as jnp

from bayes_hcl.inference.gibbs.conjugate import cluster_statistics
from bayes_hcl.inference.gibbs.polya_gamma import polya_gamma
from bayes_hcl.inference.gibbs.state import SweepSettings, SweepStats

__all__ = ["sufficient_statistics"]


def sufficient_statistics(
    rng_key, onehot, design, y, eta, offset, settings: SweepSettings
) -> SweepStats:
    """Per-cluster statistics of every node (binary nodes: of their augmented regression).

    Parameters
    ----------
    rng_key : jax.random.PRNGKey
    onehot : array ``(n, K)``
        Memberships.
    design : array ``(n, P)``
        ``Z = [1, x]``.
    y : array ``(n, d)``
        Responses (a continuous node's less its offset; a binary node's 0/1).
    eta : array ``(n, K, d)``
        Every row's linear predictor in every cluster, offsets excluded.
    offset : array ``(d,)``
        The binary nodes' baseline log odds (others unused).
    settings : SweepSettings

    Returns
    -------
    SweepStats
    """
    zz, zy, yy, count = cluster_statistics(onehot, design, y)
    d = y.shape[1]
    zz = jnp.broadcast_to(zz, (d, *zz.shape))
    if not settings.binary:
        return SweepStats(zz, zy, yy, count)
    nodes = jnp.asarray(settings.binary)
    tilt = jnp.einsum("nk,nkb->nb", onehot, eta[:, :, nodes]) + offset[nodes]
    omega = polya_gamma(rng_key, tilt)
    kappa = y[:, nodes] - 0.5
    # pseudo-response u = kappa / omega - offset, weight omega: sums of omega*u = kappa -
    # omega*offset and of omega*u^2 (a constant of the integral, kept finite)
    weighted = kappa - omega * offset[nodes]
    square = kappa**2 / omega - 2.0 * kappa * offset[nodes] + omega * offset[nodes] ** 2
    zz = zz.at[nodes].set(jnp.einsum("nk,nb,np,nq->bkpq", onehot, omega, design, design))
    zy = zy.at[:, :, nodes].set(jnp.einsum("nk,nb,np->kpb", onehot, weighted, design))
    yy = yy.at[:, nodes].set(jnp.einsum("nk,nb->kb", onehot, square))
    return SweepStats(zz, zy, yy, count)
