"""Masks that let edges follow a causal order given by node potentials, and the Jacobian
that keeps a soft-masked (possibly cyclic) linear SEM a proper density."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bayes_hcl.vartypes import CONTINUOUS

__all__ = [
    "cyclic_jacobian",
    "hard_order_mask",
    "log_abs_det_unit",
    "mixed_order_mask",
    "order_mask",
    "straight_through_mask",
]


def order_mask(phi: jnp.ndarray, temperature) -> jnp.ndarray:
    """Soft mask ``sigmoid((phi_j - phi_i) / temperature)`` with a zero diagonal."""
    d = phi.shape[-1]
    soft = jax.nn.sigmoid((phi[None, :] - phi[:, None]) / temperature)
    return soft * (1.0 - jnp.eye(d))


def straight_through_mask(phi: jnp.ndarray, temperature) -> jnp.ndarray:
    """Hard order mask in the forward pass, soft-mask gradient in the backward pass.

    The likelihood is then always that of a DAG (no cyclic double counting of a pair whose
    potentials are close), while the node potentials still receive a gradient through the
    soft surrogate ``sigmoid((phi_j - phi_i) / temperature)``.
    """
    soft = order_mask(phi, temperature)
    return hard_order_mask(phi) + soft - jax.lax.stop_gradient(soft)


def mixed_order_mask(phi: jnp.ndarray, temperature, types: tuple[int, ...]) -> jnp.ndarray:
    """Soft mask between continuous nodes, straight-through hard mask on every other edge.

    Between continuous nodes a soft mask keeps the likelihood proper through the cyclic-SEM
    Jacobian (see :func:`bayes_hcl.model.component_loglik`). A binary or count node has no
    such Jacobian: with
    a soft mask, ``X -> Y`` and ``Y -> X`` would both carry weight and the product of
    conditionals would be a pseudo-likelihood that rewards the 2-cycle, so a fit prefers
    near-ties in the order and partitions that exploit them. Edges into or out of such a node
    therefore follow the hard order, with the soft mask's gradient for the node potentials.
    """
    discrete = np.asarray(types) != CONTINUOUS
    if not discrete.any():
        return order_mask(phi, temperature)
    touches = jnp.asarray(discrete[:, None] | discrete[None, :])
    soft = order_mask(phi, temperature)
    return jnp.where(touches, straight_through_mask(phi, temperature), soft)


def hard_order_mask(phi: jnp.ndarray) -> jnp.ndarray:
    """``mask[i, j] = 1`` iff ``phi[i] < phi[j]``: an edge ``i -> j`` respects the order."""
    return (phi[:, None] < phi[None, :]).astype(phi.dtype)


def log_abs_det_unit(a, order):
    """``log |det a|`` by Gaussian elimination in ``order``, written in plain JAX.

    ``a`` ``(..., m, m)`` is ``I - W`` for a soft-masked ``W``: close to triangular once rows
    and columns are put in the causal ``order`` (a similarity permutation, which leaves the
    determinant unchanged), so elimination without pivoting meets pivots near one.

    Why not ``jnp.linalg.slogdet``: on the CPU, jaxlib 0.10's batched LAPACK kernels hand
    their batch to XLA's intra-op thread pool and block until it is done; when the program
    runs as many independent LU calls at once as the pool has threads (two on a 2-core
    machine), every thread waits for work queued behind it and the fit hangs forever.
    """
    a = a[..., order, :][..., :, order]
    m = a.shape[-1]
    rows = jnp.arange(m)

    def eliminate(i, carry):
        a, total = carry
        row = jax.lax.dynamic_index_in_dim(a, i, axis=-2, keepdims=True)
        pivot = jax.lax.dynamic_index_in_dim(row, i, axis=-1, keepdims=False)[..., 0]
        # a vanishing pivot means a singular I - W (a cycle of gain one): its log density
        # is -inf; the floor keeps the value and its gradient finite
        pivot = jnp.where(jnp.abs(pivot) < 1e-6, 1e-6, pivot)
        column = jax.lax.dynamic_index_in_dim(a, i, axis=-1, keepdims=False)
        factor = jnp.where(rows > i, column / pivot[..., None], 0.0)
        return a - factor[..., :, None] * row, total + jnp.log(jnp.abs(pivot))

    total = jnp.zeros(a.shape[:-2], a.dtype)
    return jax.lax.fori_loop(0, m, eliminate, (a, total))[1]


def cyclic_jacobian(weights, continuous: np.ndarray, phi):
    """``log |det(I - W_cc)|`` per cluster over the continuous block ``(K,)``.

    A soft order mask lets both ``i -> j`` and ``j -> i`` carry weight. Without this term the
    product of conditionals is a pseudo-likelihood that rewards such 2-cycles (each node is
    "explained" by the other). With it, the continuous block is the proper density of the
    linear SEM ``x = W^T x + e`` for any ``W``; for a DAG the term is exactly zero, so hard-order
    readouts skip it (``phi=None``).
    """
    if continuous.size < 2 or phi is None:
        return jnp.zeros(weights.shape[0])
    block = weights[:, continuous][:, :, continuous]
    order = jnp.argsort(phi[continuous])
    return log_abs_det_unit(jnp.eye(continuous.size) - block, order)
