"""Small dense symmetric positive-definite algebra in plain JAX, for the Gibbs sampler.

The sampler factorises many small matrices (``P = d + 1`` rows, batched over nodes, clusters
and chains). jaxlib's CPU LAPACK kernels (0.10) split a batch over the intra-op thread pool
and wait for the pieces inside a pool worker: two such kernels running at once on a 2-core
machine each hold one of the two workers and wait for work queued behind the other, and the
program never finishes (measured: the vmapped Gibbs start candidates at ``n = 2000, d = 10``
hung with every thread idle, ``lapack_sgetrf_ffi`` and ``lapack_spotrf_ffi`` each blocked in
``ParallelBatchMap``). These loops lower to ordinary fused XLA operations, which have no such
wait, and for matrices this small cost no more than the kernels' dispatch.

Every function takes any leading batch axes. A matrix that is not positive definite gives
NaN, as ``jax.numpy.linalg.cholesky`` does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["cho_solve", "cholesky", "solve_lower", "solve_upper", "spd_inverse"]


def cholesky(a: jnp.ndarray) -> jnp.ndarray:
    """Lower Cholesky factor ``L`` of ``a`` ``(..., P, P)``, ``a = L L^T`` (column by column)."""
    p = a.shape[-1]
    index = jnp.arange(p)

    def column(j, lower):
        # rows of L hold their first j entries so far: v = a[:, j] - L L[j]^T
        v = a[..., :, j] - jnp.einsum("...ik,...k->...i", lower, lower[..., j, :])
        pivot = jnp.sqrt(v[..., j])
        col = jnp.where(index >= j, v / pivot[..., None], 0.0)
        return lower.at[..., :, j].set(col)

    return jax.lax.fori_loop(0, p, column, jnp.zeros_like(a))


def solve_lower(lower: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """``x`` with ``L x = b`` for lower-triangular ``L`` ``(..., P, P)``; ``b`` ``(..., P)`` or
    ``(..., P, M)``."""
    vector = b.ndim == lower.ndim - 1
    b = b[..., None] if vector else b
    p = lower.shape[-1]

    def row(i, x):
        # x's rows from i on are still zero, so the product sums the solved rows only
        rest = jnp.einsum("...k,...km->...m", lower[..., i, :], x)
        return x.at[..., i, :].set((b[..., i, :] - rest) / lower[..., i, i][..., None])

    x = jax.lax.fori_loop(0, p, row, jnp.zeros_like(b))
    return x[..., 0] if vector else x


def solve_upper(lower: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """``x`` with ``L^T x = b`` for lower-triangular ``L`` (shapes as :func:`solve_lower`)."""
    vector = b.ndim == lower.ndim - 1
    b = b[..., None] if vector else b
    p = lower.shape[-1]

    def row(step, x):
        i = p - 1 - step
        rest = jnp.einsum("...k,...km->...m", lower[..., :, i], x)
        return x.at[..., i, :].set((b[..., i, :] - rest) / lower[..., i, i][..., None])

    x = jax.lax.fori_loop(0, p, row, jnp.zeros_like(b))
    return x[..., 0] if vector else x


def cho_solve(lower: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """``x`` with ``L L^T x = b`` (shapes as :func:`solve_lower`)."""
    return solve_upper(lower, solve_lower(lower, b))


def spd_inverse(lower: jnp.ndarray) -> jnp.ndarray:
    """``(L L^T)^-1`` from its lower Cholesky factor ``(..., P, P)``."""
    inverse_lower = solve_lower(lower, jnp.broadcast_to(jnp.eye(lower.shape[-1]), lower.shape))
    return jnp.einsum("...ki,...kj->...ij", inverse_lower, inverse_lower)
