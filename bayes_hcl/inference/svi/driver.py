"""SVI driver: vmapped restarts, the order-search warm start, pruning, draws, label alignment.

A fit runs ``num_restarts`` independent SVI optimisations as one ``vmap``-ed, ``jit``-ed
``lax.scan`` (the programs live in :mod:`bayes_hcl.inference.svi.programs`), cut into chunks
of ``CHUNK`` steps so the host can show progress and act between chunks:

* at ``order_search_at`` every restart jumps to the causal order found by a score-based search
  from its own memberships (:mod:`bayes_hcl.inference.svi.warm_start`): the move gradient steps
  on node potentials cannot make;
* at ``order_search_at`` (before the search, which sees only clusters in use) and again at
  ``prune_at``, clusters holding fewer than ``prune_fraction`` of the rows are switched off;
  every other restart uses ``merge_fraction`` instead, and with ``one_cluster_restart``
  the last restart fits the one-population model throughout, so the final comparison weighs
  leaner against fuller partitions;
* with ``merge_moves`` > 0, right after the pruning at ``prune_at`` the worst restarts
  continue the best one with its smallest clusters switched off (merge moves;
  :func:`~bayes_hcl.inference.svi.restarts.merge_candidates`), each slot recording its
  ``origin``.

Restarts are combined by a deterministic ELBO (log joint at the guide centre plus the guide's
entropy; with ``coarsening`` = alpha > 0 the log-likelihood enters with the power
alpha / (alpha + n) of the coarsened posterior): restart ``r`` gets weight
``exp(score_r) / sum exp(score)`` and contributes that share of the posterior draws. All
restarts, their ELBO traces and point summaries are kept for the agreement diagnostic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from bayes_hcl.config import Config, SVIConfig, joint_states
from bayes_hcl.data.prepared import PreparedData
from bayes_hcl.inference.base import default_progress
from bayes_hcl.inference.compiled import release_if_near_map_limit
from bayes_hcl.inference.devices import is_main_process
from bayes_hcl.inference.relabel import relabel_draws, relabel_factor_draws
from bayes_hcl.inference.svi.feeds import programs_and_feed, trim_padding
from bayes_hcl.inference.svi.minibatch import BatchedPrograms, compact_draws
from bayes_hcl.inference.svi.programs import (
    CHUNK,
    enable_compilation_cache,
    schedule_rates,
)
from bayes_hcl.inference.svi.recovery import Recovery
from bayes_hcl.inference.svi.restarts import (
    allocate_draws,
    coarsening_power,
    forced_one_cluster,
    initial_active,
    merge_candidates,
    prune,
    prune_fractions,
    restart_summary,
    restart_weights,
    warm_restarts,
)

__all__ = ["SVIFit", "default_progress", "fit_svi"]


@dataclass
class SVIFit:
    """Raw output of :func:`fit_svi`: aligned draws plus per-restart information.

    Attributes
    ----------
    draws : dict of str to ndarray
        Posterior draws with a leading draw axis; cluster axes aligned across draws and sorted
        by decreasing mixture weight.
    draw_restart : ndarray
        ``(S,)`` restart each draw came from.
    restart_elbo : ndarray
        ``(R,)`` final ELBO of every restart (mean over its last chunk of steps).
    restart_weights : ndarray
        ``(R,)`` weights combining the restarts, ``softmax`` of ``restart_summary["score"]``.
    elbo_history : ndarray
        ``(R, num_steps)`` ELBO trace of every restart.
    restart_summary : dict of str to ndarray
        Per restart at its guide median: ``score`` ``(R,)`` Laplace-style ELBO (``-inf`` for
        a restart given up after numerical faults), ``order`` ``(R, d)`` node potentials,
        ``partition`` ``(R, n)`` hard assignment, ``inclusion`` ``(R, K, d, d)``,
        ``faults`` ``(R,)`` chunks of steps rolled back for a non-finite ELBO.
    membership_mean : ndarray, optional
        ``(n, K)`` posterior mean memberships of a minibatch fit, whose draws hold each
        draw's ``cluster_size`` instead of per-draw memberships; ``None`` otherwise.
    batch_size : int
        Rows per SVI step (0: every row, the full-batch fit).
    devices : int
        Devices the rows were split over (:mod:`bayes_hcl.inference.devices`).
    timings : dict of str to float
        ``compile_s``, ``run_s``, ``steps_per_s``, ``draws_s``, ``total_s``.
    """

    draws: dict[str, np.ndarray]
    draw_restart: np.ndarray
    restart_elbo: np.ndarray
    restart_weights: np.ndarray
    elbo_history: np.ndarray
    restart_summary: dict[str, np.ndarray]
    membership_mean: np.ndarray | None = None
    batch_size: int = 0
    devices: int = 1
    timings: dict[str, float] = field(default_factory=dict)
    method: ClassVar[str] = "svi"

    def chain_draws(self) -> dict[str, np.ndarray]:
        """Draws with a chain axis of length 1 in front (the restarts are pooled)."""
        return {name: value[None] for name, value in self.draws.items()}

    def chain_stats(self) -> dict[str, np.ndarray]:
        """The restart each draw came from, as a ``(1, S)`` statistic."""
        return {"restart": self.draw_restart[None]}

    @property
    def evidence_fit(self) -> SVIFit:
        """This fit: its restarts carry the evidence for the number of clusters."""
        return self


@dataclass
class _Optimised:
    """Where the optimisation of every restart ended, and what it cost."""

    states: Any
    active: Any
    losses: list[np.ndarray]
    recovery: Recovery
    run_s: float
    search_s: float
    n_chunks: int
    origin: np.ndarray
    power: float


def _event_chunks(svi_cfg: SVIConfig) -> tuple[int, int, int]:
    """Chunks of steps, and the chunks at which restarts are pruned and warm-started
    (``-1``: never)."""
    n_chunks = -(-svi_cfg.num_steps // CHUNK)
    prune_chunk = round(svi_cfg.prune_at * n_chunks) if svi_cfg.prune_fraction > 0 else -1
    search_chunk = round(svi_cfg.order_search_at * n_chunks) if svi_cfg.order_search_at else -1
    return n_chunks, prune_chunk, search_chunk


def _optimise(
    prog, feed, data: PreparedData, config: Config, states, search_key, *, seed, progress
):
    """Run every restart's SVI steps chunk by chunk: prune and warm-start where scheduled,
    roll back non-finite chunks, and show progress."""
    from tqdm.auto import tqdm

    svi_cfg = config.svi
    rows = feed.summary_rows()
    n_chunks, prune_chunk, search_chunk = _event_chunks(svi_cfg)
    active = initial_active(svi_cfg, joint_states(config.model))
    forced = forced_one_cluster(svi_cfg, joint_states(config.model))
    origin = np.arange(svi_cfg.num_restarts)
    power = coarsening_power(svi_cfg.coarsening, data.n)
    losses, search_s = [], 0.0
    run_start, compile_before = time.perf_counter(), prog.compile_s
    chunk, rates = feed.chunk(), schedule_rates(svi_cfg)
    recovery = Recovery(svi_cfg.num_restarts)
    with tqdm(total=n_chunks * CHUNK, desc="SVI", disable=not progress, unit="step") as bar:
        for c in range(n_chunks):
            if c in (prune_chunk, search_chunk):
                summary = restart_summary(prog, states, active, rows, data.n, power)
                if svi_cfg.prune_fraction > 0:
                    active = prune(summary, active, prune_fractions(svi_cfg), config.model)
                if c == prune_chunk and svi_cfg.merge_moves and config.model.latent_factors == 1:
                    sources, active = merge_candidates(
                        summary, active, forced, svi_cfg.merge_moves, recovery.given_up()
                    )
                    states = jax.tree_util.tree_map(lambda a, at=sources: a[at], states)
                    recovery.continue_from(sources)
                    origin = origin[sources]
                    losses = [loss[sources] for loss in losses]
            if c == search_chunk:
                search_start = time.perf_counter()
                batch = feed.batch()
                warm = warm_restarts(
                    prog, states, summary, active, data, c * CHUNK, search_key, batch, seed, rates
                )
                states = recovery.keep_finite(warm, states)
                search_s = time.perf_counter() - search_start
            step0, previous = jnp.float32(c * CHUNK), states
            scale = jnp.asarray(recovery.scale)
            states, loss = prog.run_chunk(states, step0, active, chunk, rates, scale)
            if c + 1 < n_chunks:
                chunk = feed.chunk()  # the next minibatches are gathered while this chunk runs
            losses.append(np.asarray(loss))
            states = recovery.check(states, previous, losses[-1])
            bar.update(CHUNK)
            bar.set_postfix(elbo=f"{-float(np.nanmin(loss[:, -1])):.4g}")
    run_s = time.perf_counter() - run_start - (prog.compile_s - compile_before) - search_s
    return _Optimised(states, active, losses, recovery, run_s, search_s, n_chunks, origin, power)


def _posterior_draws(prog, run: _Optimised, restarts, weights, key, rows, seed: int, n: int):
    """Draws of every restart in its share, cluster labels aligned to the best restart's
    memberships; a minibatch fit keeps mean memberships instead of per-draw ones."""
    if isinstance(prog, BatchedPrograms):
        best = int(np.argmax(weights))
        return compact_draws(prog, run.states, run.active, restarts, best, key, rows, seed)
    raw = prog.posterior(run.states, run.active, jnp.asarray(restarts), key, rows)
    draws = trim_padding({name: np.asarray(value) for name, value in raw.items()}, n)
    best = restarts == np.argmax(weights)
    if "factor_membership" in draws:
        return relabel_factor_draws(draws, draws["factor_membership"][best].mean(0)), None
    return relabel_draws(draws, draws["membership"][best].mean(0)), None


def fit_svi(
    data: PreparedData, config: Config, *, seed: int = 0, progress: bool | None = None
) -> SVIFit:
    """Fit the model by SVI with vmapped restarts.

    Parameters
    ----------
    data : PreparedData
        Validated, standardised data.
    config : Config
        Model and SVI settings.
    seed : int
        Seed of every random choice of the fit.
    progress : bool, optional
        Show a progress bar (default: on unless under CI).

    Returns
    -------
    SVIFit
        Aligned draws and per-restart information.
    """
    progress = (default_progress() if progress is None else progress) and is_main_process()
    start = time.perf_counter()
    enable_compilation_cache()
    release_if_near_map_limit()
    prog, feed = programs_and_feed(data, config, seed)
    compile_start = prog.compile_s
    rng_key = jax.random.PRNGKey(seed)
    k_init, k_draws, k_search = jax.random.split(rng_key, 3)
    svi_cfg = config.svi
    init_keys = jax.random.split(k_init, svi_cfg.num_restarts)
    first_batch = feed.batch()
    prog.compile_ahead(init_keys, first_batch)
    states = prog.init_states(init_keys, first_batch)
    run = _optimise(prog, feed, data, config, states, k_search, seed=seed, progress=progress)
    # reported ELBO: mean of the last chunk of single-particle estimates; restarts are weighted
    # by the deterministic Laplace-style ELBO (see Programs._laplace_elbo), far less noisy
    elbo = -run.recovery.last_loss.mean(axis=1)
    rows = feed.summary_rows()
    summary = restart_summary(prog, run.states, run.active, rows, data.n, run.power)
    summary["score"] = run.recovery.report(summary["score"])
    weights = restart_weights(summary["score"])
    restarts = allocate_draws(weights, svi_cfg.num_samples)
    draw_start = time.perf_counter()
    draws, membership_mean = _posterior_draws(
        prog, run, restarts, weights, k_draws, rows, seed, data.n
    )
    history = -np.concatenate(run.losses, axis=1)[:, : svi_cfg.num_steps]
    total_steps = run.n_chunks * CHUNK * svi_cfg.num_restarts
    return SVIFit(
        draws=draws,
        draw_restart=restarts,
        restart_elbo=elbo,
        restart_weights=weights,
        elbo_history=history,
        restart_summary={
            **{k: v for k, v in summary.items() if k != "membership"},
            "forced_one_cluster": forced_one_cluster(svi_cfg, joint_states(config.model)),
            "origin": run.origin,
            "coarsening_power": np.full(svi_cfg.num_restarts, run.power),
            "faults": run.recovery.faults,
        },
        membership_mean=membership_mean,
        batch_size=getattr(prog, "batch_size", 0),
        devices=feed.devices,
        timings={
            "compile_s": prog.compile_s - compile_start,
            "run_s": run.run_s,
            "steps_per_s": run.n_chunks * CHUNK / max(run.run_s, 1e-9),
            "restart_steps_per_s": total_steps / max(run.run_s, 1e-9),
            "order_search_s": run.search_s,
            "draws_s": time.perf_counter() - draw_start,
            "total_s": time.perf_counter() - start,
        },
    )
