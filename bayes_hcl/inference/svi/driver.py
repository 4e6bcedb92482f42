"""SVI driver: vmapped restarts, the order-search warm start, pruning, draws, label alignment.

A fit runs ``num_restarts`` independent SVI optimisations as one ``vmap``-ed, ``jit``-ed
``lax.scan`` (the programs live in :mod:`bayes_hcl.programs`), cut into chunks of ``CHUNK``
steps so the host can show progress and act between chunks:

* at ``order_search_at`` every restart jumps to the causal order found by a score-based search
  from its own memberships (:mod:`bayes_hcl.warm_start`): the move gradient steps on node
  potentials cannot make;
* at ``order_search_at`` (before the search, which sees only clusters in use) and again at
  ``prune_at``, clusters holding fewer than ``prune_fraction`` of the rows are switched off;
  every other restart uses ``merge_fraction`` instead, and with ``one_cluster_restart``
  the last restart fits the one-population model throughout, so the final comparison weighs
  leaner against fuller partitions.

Restarts are combined by a deterministic ELBO (log joint at the guide centre plus the guide's
entropy): restart ``r`` gets weight ``exp(score_r) / sum exp(score)`` and contributes that share
of the posterior draws. All restarts, their ELBO traces and point summaries are kept for the
agreement diagnostic.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from bayes_hcl.config import Config, ModelConfig, SVIConfig, joint_states
from bayes_hcl.data.prepared import PreparedData
from bayes_hcl.errors import ConvergenceWarning
from bayes_hcl.inference.devices import is_main_process, pad_rows, row_devices, shard_rows
from bayes_hcl.inference.relabel import relabel_draws, relabel_factor_draws
from bayes_hcl.inference.svi.minibatch import (
    BatchedPrograms,
    RowSource,
    batched_programs,
    compact_draws,
    resolve_batch_size,
)
from bayes_hcl.inference.svi.programs import (
    CHUNK,
    Programs,
    data_args,
    enable_compilation_cache,
    programs,
    schedule_rates,
    shape_config,
)
from bayes_hcl.inference.svi.warm_start import warm_start_params
from bayes_hcl.model.factorial import factor_state_keep, factor_warm_params
from bayes_hcl.model.guide import NOISE_SITES

__all__ = ["SVIFit", "default_progress", "fit_svi"]


def default_progress() -> bool:
    """Progress bars are on, except under CI (environment variable ``CI`` set and true)."""
    return os.environ.get("CI", "").lower() not in {"1", "true", "yes"}


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
        Devices the rows were split over (:mod:`bayes_hcl.devices`).
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


class _FullBatch:
    """Every step sees all rows: the data arrays are put on the device(s) once (split over
    several devices by rows, padded to a multiple of their number)."""

    def __init__(self, data: PreparedData, devices: int):
        args = data_args(data)
        if devices > 1:
            args, weight = pad_rows(args, data.n, devices)
            args = args if weight is None else (*args, jnp.asarray(weight))
            args = shard_rows(args, args[0].shape[0], devices)
        self.args, self.devices = args, devices
        self.padded = int(args[0].shape[0])

    def batch(self) -> tuple:
        return self.args

    def chunk(self) -> tuple:
        return self.args

    def summary_rows(self) -> tuple:
        return self.args


def _programs_and_feed(data: PreparedData, config: Config, seed: int):
    """The compiled programs of this fit and what feeds them rows (all, or minibatches)."""
    column_types, node_of = data.model_layout(config.model.count_likelihood)
    devices = row_devices()
    batch = resolve_batch_size(config.svi, data.n, devices)
    if batch:
        prog = batched_programs(shape_config(config), column_types, batch, node_of, devices)
        return prog, RowSource(data, batch, seed, devices)
    feed = _FullBatch(data, devices)
    return programs(shape_config(config), column_types, feed.padded, node_of, devices), feed


def _trim(values: dict, n: int) -> dict:
    """Drop the padding rows (beyond ``n``) of a multi-device full-batch fit's outputs."""
    out = dict(values)
    for name in ("membership", "log_lik", "partition", "factor_membership"):
        if name in out and out[name].shape[1] != n:  # rows are axis 1 of each
            out[name] = out[name][:, :n]
    return out


def _restart_summary(prog: Programs, states, active, args, n: int) -> dict:
    """Guide-median summary of every restart (order, memberships, partition) as NumPy arrays."""
    out = {name: np.asarray(value) for name, value in prog.summary(states, active, args).items()}
    return _trim(out, n)


def _initial_active(svi_cfg: SVIConfig, max_clusters: int) -> jnp.ndarray:
    """Clusters in use by each restart at the start ``(R, K)``.

    With ``one_cluster_restart`` (and at least three restarts) the last restart fits the
    one-population model: the final ELBO comparison then weighs K = 1 against the mixture
    explicitly, instead of relying on SVI to empty every spare cluster.
    """
    active = np.ones((svi_cfg.num_restarts, max_clusters), dtype=np.float32)
    if svi_cfg.one_cluster_restart and svi_cfg.num_restarts >= 3 and max_clusters > 1:
        active[-1, 1:] = 0.0
    return jnp.asarray(active)


def _forced_one_cluster(svi_cfg: SVIConfig, max_clusters: int) -> np.ndarray:
    """``(R,)`` restarts that fit one population by construction (see :func:`_initial_active`)."""
    active = np.asarray(_initial_active(svi_cfg, max_clusters))
    return (active[:, 1:].sum(1) == 0) & (max_clusters > 1)


def _prune_fractions(svi_cfg: SVIConfig) -> np.ndarray:
    """Share of rows below which each restart switches off a cluster at ``prune_at``.

    Every other restart uses the larger ``merge_fraction``: it merges mid-sized clusters
    too, and the final ELBO comparison between restarts decides whether the leaner
    partition explains the data as well (mean-field SVI alone rarely empties a cluster that
    splits a real one, even when the merged model has the higher ELBO).
    """
    r = np.arange(svi_cfg.num_restarts)
    merge = max(svi_cfg.merge_fraction, svi_cfg.prune_fraction)
    return np.where(r % 2 == 1, merge, svi_cfg.prune_fraction)


def _prune(summary: dict, active, fractions: np.ndarray, model_cfg: ModelConfig):
    """Switch off clusters holding less than ``fractions[r]`` of the rows in restart ``r``.

    A truncated DP fitted by SVI keeps spare clusters that copy the universal model and pick
    up a few rows in the overlap of real clusters; they cost nothing in the likelihood and so
    never empty out. Pruning them and refining the remaining clusters is a merge move: rows
    of a spurious cluster return to the real clusters, which are then refitted with them.
    With several latent factors, the states of each factor are pruned (with every joint
    state they are part of; :func:`~bayes_hcl.factorial.factor_state_keep`).
    """
    partition = summary["partition"]
    if model_cfg.latent_factors > 1:
        keep = factor_state_keep(
            partition, fractions, model_cfg.latent_factors, model_cfg.max_clusters
        )
        return jnp.asarray(keep, dtype=jnp.float32) * active
    k = active.shape[1]
    counts = np.stack([np.bincount(p, minlength=k) for p in partition])
    keep = counts >= np.maximum(1.0, fractions[:, None] * partition.shape[1])
    keep[np.arange(len(keep)), counts.argmax(1)] = True
    return jnp.asarray(keep, dtype=jnp.float32) * active


def _warm_restarts(prog, states, summary, active, data, step: int, key, args, seed, rates):
    """Re-start every restart at the order found by searching from its own memberships
    (at ``step``; ``rates``: the fit's schedule rates)."""
    params = []
    current = jax.vmap(prog.svi.get_params)(states)
    sites = ("W", "mu", "b_base", "b_shift", "log_sigma_base", "log_sigma_shift")
    for r, membership in enumerate(summary["membership"]):
        start = list(np.argsort(summary["order"][r]))
        # only a categorical variable's blocks start from the restart's current values
        own = None
        factors = prog.config.model.latent_factors
        if data.design is not None and factors == 1:
            own = {name: np.asarray(current[f"{name}_loc"][r]) for name in sites}
        p, _ = warm_start_params(
            data,
            membership,
            np.asarray(active[r]),
            start,
            prog.config.model,
            seed=seed + r,
            current=own,
        )
        if factors > 1:
            p = factor_warm_params(p, membership, factors, prog.config.model.max_clusters)
        params.append(p)
    stacked = jax.tree_util.tree_map(lambda *a: jnp.asarray(np.stack(a)), *params)
    # the noise law is learnt from residuals, not from the order: keep what SVI has found
    for name in NOISE_SITES:
        for part in ("loc", "scale"):
            if f"{name}_{part}" in current:
                stacked[f"{name}_{part}"] = current[f"{name}_{part}"]
    keys = jax.random.split(key, len(params))
    return prog.restart_from(keys, stacked, jnp.float32(step), args, rates)


#: A restart whose chunk of steps meets a non-finite ELBO or parameter goes back to its state
#: before the chunk and on with its learning rate times ``RECOVERY_FACTOR``; after more than
#: ``MAX_RECOVERIES`` such faults it is given up (weight 0 in the posterior).
RECOVERY_FACTOR = 0.2
MAX_RECOVERIES = 3


def _finite_restarts(states) -> np.ndarray:
    """``(R,)`` whether every parameter and optimiser moment of each restart is finite."""
    finite = None
    for leaf in jax.tree_util.tree_leaves(states):
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            continue
        ok = np.isfinite(np.asarray(leaf)).reshape(leaf.shape[0], -1).all(axis=1)
        finite = ok if finite is None else finite & ok
    return finite


def _where_restarts(mask: np.ndarray, chosen, other):
    """Per restart: ``chosen``'s state where ``mask`` ``(R,)`` holds, else ``other``'s."""
    pick = jnp.asarray(mask)

    def one(a, b):
        return jnp.where(pick.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)

    return jax.tree_util.tree_map(one, chosen, other)


class _Recovery:
    """Numerical faults of the restarts: detection, roll-back, smaller steps, giving up."""

    def __init__(self, restarts: int):
        self.scale = np.ones(restarts, dtype=np.float32)
        self.faults = np.zeros(restarts, dtype=int)
        self.last_loss: np.ndarray | None = None  # each restart's last finite chunk

    def check(self, states, previous, loss: np.ndarray):
        """``states`` with every restart whose chunk went non-finite put back to
        ``previous`` (its state before the chunk), its learning rate reduced; the step count
        goes on, so the schedules stay in step. Raises once every restart is given up."""
        bad = ~(np.isfinite(loss).all(axis=1) & _finite_restarts(states))
        if self.last_loss is None:
            self.last_loss = np.where(bad[:, None], np.nan, loss)
        else:
            self.last_loss = np.where(bad[:, None], self.last_loss, loss)
        if not bad.any():
            return states
        self.faults[bad] += 1
        self.scale[bad] *= RECOVERY_FACTOR
        self._raise_if_none_left()
        restored = _where_restarts(bad, previous, states)
        _, opt_state = restored.optim_state
        return restored._replace(optim_state=(states.optim_state[0], opt_state))

    def keep_finite(self, states, previous):
        """``states`` (re-started ones) with any non-finite restart kept at ``previous``."""
        bad = ~_finite_restarts(states)
        return _where_restarts(bad, previous, states) if bad.any() else states

    def given_up(self) -> np.ndarray:
        return self.faults > MAX_RECOVERIES

    def _raise_if_none_left(self) -> None:
        if self.given_up().all():
            raise FloatingPointError(
                f"every SVI restart met a non-finite ELBO more than {MAX_RECOVERIES} times, "
                "even at smaller step sizes; look for extreme values in the data, or lower "
                "svi.learning_rate"
            )

    def report(self, score: np.ndarray) -> np.ndarray:
        """Scores with given-up restarts removed; warns about any fault."""
        self._raise_if_none_left()
        if self.faults.any():
            hit = np.flatnonzero(self.faults)
            warnings.warn(
                f"SVI restarts {hit.tolist()} met a non-finite ELBO "
                f"({self.faults[hit].tolist()} times) and went back to their last finite "
                f"state with smaller steps; restarts given up: "
                f"{np.flatnonzero(self.given_up()).tolist()}",
                ConvergenceWarning,
                stacklevel=3,
            )
        return np.where(self.given_up(), -np.inf, score)


def _restart_weights(elbo: np.ndarray) -> np.ndarray:
    finite = np.where(np.isfinite(elbo), elbo, -np.inf)
    if not np.isfinite(finite).any():
        raise FloatingPointError("every SVI restart ended with a non-finite ELBO")
    w = np.exp(finite - finite.max())
    return w / w.sum()


def _allocate(weights: np.ndarray, total: int) -> np.ndarray:
    """Largest-remainder allocation of ``total`` draws; returns the restart of every draw."""
    raw = weights * total
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return np.repeat(np.arange(len(weights)), counts)


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
    from tqdm.auto import tqdm

    progress = (default_progress() if progress is None else progress) and is_main_process()
    start = time.perf_counter()
    enable_compilation_cache()
    prog, feed = _programs_and_feed(data, config, seed)
    compile_start = prog.compile_s
    rng_key = jax.random.PRNGKey(seed)
    k_init, k_draws, k_search = jax.random.split(rng_key, 3)
    svi_cfg = config.svi
    init_keys = jax.random.split(k_init, svi_cfg.num_restarts)
    first_batch = feed.batch()
    prog.compile_ahead(init_keys, first_batch)
    states = prog.init_states(init_keys, first_batch)
    rows = feed.summary_rows()
    n_chunks = -(-svi_cfg.num_steps // CHUNK)
    prune_chunk = round(svi_cfg.prune_at * n_chunks) if svi_cfg.prune_fraction > 0 else -1
    search_chunk = round(svi_cfg.order_search_at * n_chunks) if svi_cfg.order_search_at else -1
    active = _initial_active(svi_cfg, joint_states(config.model))
    losses, search_s = [], 0.0
    run_start, compile_before = time.perf_counter(), prog.compile_s
    chunk, rates = feed.chunk(), schedule_rates(svi_cfg)
    recovery = _Recovery(svi_cfg.num_restarts)
    with tqdm(total=n_chunks * CHUNK, desc="SVI", disable=not progress, unit="step") as bar:
        for c in range(n_chunks):
            if c in (prune_chunk, search_chunk):
                summary = _restart_summary(prog, states, active, rows, data.n)
                if svi_cfg.prune_fraction > 0:
                    active = _prune(summary, active, _prune_fractions(svi_cfg), config.model)
            if c == search_chunk:
                search_start = time.perf_counter()
                batch = feed.batch()
                warm = _warm_restarts(
                    prog, states, summary, active, data, c * CHUNK, k_search, batch, seed, rates
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
    # reported ELBO: mean of the last chunk of single-particle estimates; restarts are weighted
    # by the deterministic Laplace-style ELBO (see Programs._laplace_elbo), far less noisy
    elbo = -recovery.last_loss.mean(axis=1)
    summary = _restart_summary(prog, states, active, rows, data.n)
    summary["score"] = recovery.report(summary["score"])
    weights = _restart_weights(summary["score"])
    restarts = _allocate(weights, svi_cfg.num_samples)
    draw_start = time.perf_counter()
    membership_mean = None
    if isinstance(prog, BatchedPrograms):
        best = int(np.argmax(weights))
        draws, membership_mean = compact_draws(
            prog, states, active, restarts, best, k_draws, rows, seed
        )
    else:
        raw = prog.posterior(states, active, jnp.asarray(restarts), k_draws, rows)
        draws = _trim({name: np.asarray(value) for name, value in raw.items()}, data.n)
        best = restarts == np.argmax(weights)
        if "factor_membership" in draws:
            draws = relabel_factor_draws(draws, draws["factor_membership"][best].mean(0))
        else:
            draws = relabel_draws(draws, draws["membership"][best].mean(0))
    history = -np.concatenate(losses, axis=1)[:, : svi_cfg.num_steps]
    total_steps = n_chunks * CHUNK * svi_cfg.num_restarts
    return SVIFit(
        draws=draws,
        draw_restart=restarts,
        restart_elbo=elbo,
        restart_weights=weights,
        elbo_history=history,
        restart_summary={
            **{k: v for k, v in summary.items() if k != "membership"},
            "forced_one_cluster": _forced_one_cluster(svi_cfg, joint_states(config.model)),
            "faults": recovery.faults,
        },
        membership_mean=membership_mean,
        batch_size=getattr(prog, "batch_size", 0),
        devices=feed.devices,
        timings={
            "compile_s": prog.compile_s - compile_start,
            "run_s": run_s,
            "steps_per_s": n_chunks * CHUNK / max(run_s, 1e-9),
            "restart_steps_per_s": total_steps / max(run_s, 1e-9),
            "order_search_s": search_s,
            "draws_s": time.perf_counter() - draw_start,
            "total_s": time.perf_counter() - start,
        },
    )
