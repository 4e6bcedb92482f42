"""Minibatch SVI for large n: rows streamed from host memory, every pass over rows in blocks.

With ``svi.batch_size`` rows per step (automatic above ``FULL_BATCH_MAX_ROWS`` rows), a fit's
cost per step and its device memory no longer grow with n:

* the data stay in host memory (:class:`RowSource`); each chunk of ``CHUNK`` steps receives
  its minibatches, gathered on the host from consecutive slices of random permutations of
  the rows (epochs), while the previous chunk runs;
* every restart sees the same minibatch, whose log-likelihood is weighted by
  ``n / batch_size`` (an unbiased estimate of the full data's);
* the restarts' summaries (memberships, the Laplace-style score) and the posterior draws'
  memberships are computed over fixed-size blocks of rows, so the compiled programs depend on
  the batch and block sizes, never on n: data of any number of rows reuse them;
* the posterior keeps, instead of per-draw memberships ``(S, n, K)`` (6.4 GB at n = 10⁶),
  their posterior mean ``(n, K)`` and each draw's expected cluster sizes ``(S, K)`` (see
  :func:`compact_draws`).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from numpyro.infer.util import potential_energy

from bayes_hcl.config import SVIConfig, joint_states
from bayes_hcl.data.prepared import PreparedData
from bayes_hcl.inference.compiled import program_cache
from bayes_hcl.inference.devices import shard_rows
from bayes_hcl.inference.relabel import cluster_permutations, permute_clusters
from bayes_hcl.inference.svi.programs import CHUNK, Programs
from bayes_hcl.model.guide import guide_median, latent_sites

__all__ = [
    "AUTO_BATCH_SIZE",
    "FULL_BATCH_MAX_ROWS",
    "MEMBERSHIP_DRAWS",
    "SIZE_ROWS",
    "BatchedPrograms",
    "RowSource",
    "batched_programs",
    "block_rows",
    "compact_draws",
    "resolve_batch_size",
]

#: Above this many rows an automatic batch size (``svi.batch_size = 0``) means minibatches:
#: per-draw memberships of 50,000 rows already take 320 MB (200 draws, 8 clusters).
FULL_BATCH_MAX_ROWS = 50_000
AUTO_BATCH_SIZE = 4096
#: Elements (draws x rows x clusters x model columns) of one block's linear predictors.
BLOCK_ELEMENTS = 2**24
#: Rows on which every draw's cluster sizes are computed (a share's standard error is then
#: at most 0.2 %, far below the 3 % that makes a cluster occupied).
SIZE_ROWS = 65_536
#: Draws averaged for a minibatch fit's mean memberships of all rows.
MEMBERSHIP_DRAWS = 32


def resolve_batch_size(svi_cfg: SVIConfig, n: int, devices: int = 1) -> int:
    """Rows per SVI step, or 0 for the full-batch fit.

    ``svi.batch_size = 0`` is automatic: the full batch up to ``FULL_BATCH_MAX_ROWS`` rows,
    ``AUTO_BATCH_SIZE`` above. A batch at least as large as the data is the full batch. With
    several devices the batch is rounded up to a multiple of their number.
    """
    size = svi_cfg.batch_size or (AUTO_BATCH_SIZE if n > FULL_BATCH_MAX_ROWS else 0)
    size = -(-size // devices) * devices
    return size if 0 < size < n else 0


def block_rows(draws: int, clusters: int, width: int, devices: int = 1) -> int:
    """Rows per evaluation block: a power of two keeping ``draws * rows * clusters * width``
    within ``BLOCK_ELEMENTS`` (16 to 8192 rows), rounded up to a multiple of ``devices``."""
    rows = BLOCK_ELEMENTS // max(1, draws * clusters * width)
    rows = int(min(8192, max(16, 2 ** int(math.log2(max(rows, 1))))))
    return -(-rows // devices) * devices


class RowSource:
    """The model's data arrays in host memory, served as minibatches and as row blocks.

    Parameters
    ----------
    data : PreparedData
        Validated, standardised data.
    batch_size : int
        Rows per SVI step.
    seed : int
        Seed of the row order (a fresh random permutation per epoch).
    """

    def __init__(self, data: PreparedData, batch_size: int, seed: int, devices: int = 1):
        sized = bool(np.any(data.log_size_factor != 0))
        y, x, offset, observed = data.model_arrays(sized)
        f32 = functools.partial(np.ascontiguousarray, dtype=np.float32)
        per_row_offset = offset.ndim == 2
        self.rows = (
            f32(y),
            f32(x),
            f32(offset) if per_row_offset else None,
            None if observed.all() else f32(observed),
        )
        self.offset = None if per_row_offset else jnp.asarray(offset, jnp.float32)
        self.n = y.shape[0]
        self.batch_size, self.devices = batch_size, devices
        self.weight = jnp.float32(self.n / batch_size)
        self._rng = np.random.default_rng(seed)
        self._queue = np.empty(0, dtype=np.int64)

    def _next_rows(self, count: int) -> np.ndarray:
        while self._queue.size < count:
            self._queue = np.concatenate([self._queue, self._rng.permutation(self.n)])
        rows, self._queue = self._queue[:count], self._queue[count:]
        return rows

    def _gather(self, rows: np.ndarray, shape: tuple[int, ...]) -> tuple:
        """The per-row arrays at ``rows`` shaped ``(*shape, columns)``, split over the
        devices along the last of ``shape`` (the rows)."""
        arrays = tuple(
            None if a is None else a[rows].reshape(*shape, a.shape[1]) for a in self.rows
        )
        if self.devices == 1:
            return tuple(None if a is None else jnp.asarray(a) for a in arrays)
        return shard_rows(arrays, shape[-1], self.devices, axis=len(shape) - 1)

    def _with_offset(self, rows: tuple) -> tuple:
        y, x, offset, observed = rows
        return (y, x, self.offset if offset is None else offset, observed)

    def batch(self) -> tuple:
        """One minibatch as model arguments ``y, x, offset, observed, row_weight``."""
        rows = self._gather(self._next_rows(self.batch_size), (self.batch_size,))
        return (*self._with_offset(rows), self.weight)

    def chunk(self) -> tuple:
        """``CHUNK`` minibatches: per-row arrays with leading ``(CHUNK, batch)`` axes, the
        shared offset (or ``None``) and the row weight."""
        rows = self._next_rows(CHUNK * self.batch_size)
        return self._gather(rows, (CHUNK, self.batch_size)), self.offset, self.weight

    def summary_rows(self) -> RowSource:
        """What the restarts' summaries read: all rows, block by block (this source)."""
        return self

    def blocks(self, size: int, rows: np.ndarray | None = None):
        """The rows (all, or ``rows`` in that order) in blocks of ``size``.

        Yields
        ------
        block : tuple
            ``size`` rows as ``y, x, offset, observed`` (the last block padded by repeating
            row 0).
        count : int
            How many of them are real rows.
        """
        rows = np.arange(self.n) if rows is None else rows
        for start in range(0, len(rows), size):
            real = rows[start : start + size]
            padded = np.concatenate([real, np.zeros(size - len(real), dtype=real.dtype)])
            yield self._with_offset(self._gather(padded, (size,))), len(real)


class BatchedPrograms(Programs):
    """The programs of a minibatch fit: shapes fixed by the batch and block sizes, not n.

    The model's arguments gain the minibatch's row weight; ``summary`` runs block by block
    over all rows and the posterior's memberships come from :func:`compact_draws`.
    """

    def __init__(
        self, config, types: tuple[int, ...], batch_size: int, node_of=None, devices: int = 1
    ):
        super().__init__(config, types, batch_size, node_of, devices)
        k, r = joint_states(config.model), config.svi.num_restarts
        self.batch_size = batch_size
        self.summary_rows = block_rows(r, k, self.width, devices)
        self.draw_rows = block_rows(config.svi.num_samples, k, self.width, devices)
        draws = min(config.svi.num_samples, MEMBERSHIP_DRAWS)
        self.mean_rows = block_rows(draws, k, self.width, devices)

    def compile_ahead(self, keys, args) -> None:
        """The minibatch programs compile on demand (their inputs depend on the host's
        blocks); the persistent compilation cache keeps them across processes."""

    def _run_chunk(self, states, step0, active, chunk, rates, scale):
        rows, offset, weight = chunk

        def one(state, mask, factor):
            svi = self.svi_of(rates, factor)

            def body(state, step):
                t, (y, x, row_offset, observed) = step
                args = (y, x, offset if row_offset is None else row_offset, observed, weight)
                model_args = self._model_args(args, self.temperature(step0 + t, rates), mask)
                return svi.update(state, *model_args)

            return lax.scan(body, state, (jnp.arange(CHUNK, dtype=jnp.float32), rows))

        return jax.vmap(one)(states, active, scale)

    def summary(self, states, active, source: RowSource) -> dict[str, np.ndarray]:
        """Guide-median summary of every restart, block by block over all rows: the score
        is the log prior plus the blocks' log-likelihoods plus the guide's entropy."""
        parts, loglik, first = [], 0.0, None
        for block, count in source.blocks(self.summary_rows):
            valid = jnp.asarray(np.arange(self.summary_rows) < count, jnp.float32)
            out = self._get("summary_block", self._summary_block, states, active, block, valid)
            first = first or out
            loglik = loglik + np.asarray(out["loglik"], np.float64)
            parts.append(np.asarray(out["membership"])[:, :count])
        membership = np.concatenate(parts, axis=1)
        score = np.asarray(first["prior"], np.float64) + np.asarray(first["entropy"]) + loglik
        return {
            "score": score,
            "prior": np.asarray(first["prior"], np.float64),
            "loglik": loglik,
            "entropy": np.asarray(first["entropy"], np.float64),
            "order": np.asarray(first["order"]),
            "membership": membership,
            "partition": membership.argmax(-1),
            "inclusion": np.asarray(first["inclusion"]),
        }

    def _summary_block(self, states, active, block, valid):
        params = jax.vmap(self.svi.get_params)(states)
        sites = latent_sites(self.config.model, self.d, self.width)

        def log_joint(centre, mask, weight):
            args = self._model_args((*block, weight), self.final_temperature, mask)
            return -potential_energy(self.model, args, {}, centre)

        def at_median(p, mask):
            median = guide_median(p, self.config.model, self.d, self.width)
            centre = {name: p[f"{name}_loc"] for name in sites}
            prior = log_joint(centre, mask, jnp.zeros_like(valid))
            q = self._quantities(median, block, mask)
            return {
                "prior": prior,
                "loglik": log_joint(centre, mask, valid) - prior,
                "entropy": sum(jnp.log(p[f"{name}_scale"]).sum() for name in sites),
                "order": median["phi"],
                "membership": q["membership"],
                "inclusion": q["inclusion"],
            }

        return jax.vmap(at_median)(params, active)

    def draw_block(self, latents, active, block):
        """Memberships ``(S, rows, K)`` of a block under every draw (``active``: ``(S, K)``
        clusters in use by each draw's restart); one program per number of draws."""
        return self._get("draw_block", self._draw_block, latents, active, block)

    def _draw_block(self, latents, active, block):
        def one(draw, mask):
            return self._quantities(draw, block, mask)["membership"]

        return jax.vmap(one)(latents, active)


@program_cache(maxsize=8)
def batched_programs(
    config,
    types: tuple[int, ...],
    batch_size: int,
    node_of: tuple[int, ...] | None = None,
    devices: int = 1,
) -> BatchedPrograms:
    """The (cached) minibatch programs of one configuration, column types, batch size and
    number of devices."""
    return BatchedPrograms(config, types, batch_size, node_of, devices)


def compact_draws(
    prog: BatchedPrograms, states, active, restarts, best: int, key, source: RowSource, seed: int
):
    """Posterior draws of a minibatch fit with memberships summarised over all rows.

    Draw ``s`` comes from restart ``restarts[s]``. On a random sample of up to
    ``SIZE_ROWS`` rows (``seed``) every draw's memberships give its cluster sizes (scaled to
    n) and, on the first block, the alignment of clusters across draws (to the mean
    memberships of the ``best`` restart's draws). The mean memberships of all rows average
    ``MEMBERSHIP_DRAWS`` evenly spaced draws: a pass of every draw over 10⁶ rows would take
    minutes, and with that many rows memberships hardly change between draws.

    Returns
    -------
    draws : dict of str to ndarray
        Every site of the full-batch draws except ``membership`` and ``log_lik``, clusters
        aligned and sorted by decreasing mean weight, plus ``cluster_size`` ``(S, K)`` (each
        draw's expected rows per cluster).
    membership_mean : ndarray ``(n, K)``
        Posterior mean memberships, clusters aligned like the draws.
    """
    size = prog.draw_rows
    sample = np.random.default_rng(seed).permutation(source.n)[:SIZE_ROWS]
    blocks = source.blocks(size, sample)
    block, count = next(blocks)
    raw = prog.posterior(states, active, jnp.asarray(restarts), key, block)
    raw = {name: np.asarray(value) for name, value in raw.items()}
    first = raw.pop("membership")[:, :count]
    raw.pop("log_lik")
    reference = first[restarts == best].mean(0)
    perms = cluster_permutations(np.einsum("sik,ir->skr", first, reference), raw["log_weights"])
    sites = latent_sites(prog.config.model, prog.d, prog.width)
    latents = {name: jnp.asarray(raw[name]) for name in sites}
    draw_active = jnp.asarray(np.asarray(active)[restarts])

    def aligned(memberships, count, perms):
        return np.take_along_axis(np.asarray(memberships)[:, :count], perms[:, None, :], 2)

    sizes = aligned(first, count, perms).sum(1, dtype=np.float64)
    for block, count in blocks:
        sizes += aligned(prog.draw_block(latents, draw_active, block), count, perms).sum(1)
    # cluster_size is accumulated from aligned memberships: already in the draws' order
    sizes *= source.n / len(sample)
    pick = np.linspace(0, len(restarts) - 1, min(MEMBERSHIP_DRAWS, len(restarts))).astype(int)
    few = jax.tree_util.tree_map(lambda a: a[pick], latents)
    means = [
        aligned(prog.draw_block(few, draw_active[pick], block), count, perms[pick]).mean(0)
        for block, count in source.blocks(prog.mean_rows)
    ]
    draws = permute_clusters(raw, perms)
    draws["cluster_size"] = sizes
    return draws, np.concatenate(means, axis=0)
