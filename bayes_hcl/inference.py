"""SVI driver: restarts vmapped into one jitted program, draws, and label alignment.

The fit runs ``num_restarts`` independent SVI optimisations as one ``vmap``-ed, ``jit``-ed
``lax.scan``. The scan is cut into fixed chunks of ``CHUNK`` steps so the host can show
progress between chunks; every chunk runs the same compiled program. Programs are cached per
(configuration, data shape), so a new seed or new data values never recompile.

Restarts are combined by their final ELBO: restart ``r`` gets weight
``exp(ELBO_r) / sum exp(ELBO)`` and contributes that share of the posterior draws. All restarts,
their ELBO traces and their point summaries are kept for the agreement diagnostic.
"""

from __future__ import annotations

import functools
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from numpyro.handlers import replay, seed
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.util import log_density, potential_energy
from numpyro.optim import ClippedAdam
from scipy.optimize import linear_sum_assignment

from .config import Config, ModelConfig, SVIConfig
from .data import PreparedData
from .guide import (
    NOISE_SITES,
    guide_median,
    guide_sample,
    initial_params,
    latent_sites,
    mean_field_guide,
)
from .model import draw_quantities, hcl_model
from .warm_start import warm_start_params

__all__ = [
    "CHUNK",
    "SVIFit",
    "default_progress",
    "enable_compilation_cache",
    "fit_svi",
    "relabel_draws",
]

CHUNK = 50
# XLA's CPU backend at optimisation level 1 compiles these programs in about 60 % of the time
# of the default level (3) with the same steps per second (n = 2000, d = 10, 2 cores:
# compile 9.2 s vs 15.7 s, 229 vs 232 steps/s); level 0 halves the speed of a step.
CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
CLUSTER_SITES = (
    "W",
    "b",
    "sigma",
    "b_shift",
    "log_sigma_shift",
    "intercept_shift",
    "noise_shift",
    "membership",
    "inclusion",
    "weights",
    "log_weights",
)


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache (once per process); returns its folder.

    Compiling the programs dominates a small fit (about 20 s on 2 CPU cores for n = 2000,
    d = 10), and a new process would otherwise compile them again. The folder is
    ``$BAYES_HCL_CACHE_DIR`` or ``~/.cache/bayes_hcl/jax``; ``BAYES_HCL_CACHE_DIR=off``
    disables the cache.
    """
    folder = os.environ.get("BAYES_HCL_CACHE_DIR", "")
    if folder.lower() in {"off", "0", "false", "none"}:
        return None
    folder = folder or os.path.join(os.path.expanduser("~"), ".cache", "bayes_hcl", "jax")
    if jax.config.jax_compilation_cache_dir != folder:
        os.makedirs(folder, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return folder


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
        Per restart at its guide median: ``score`` ``(R,)`` Laplace-style ELBO, ``order``
        ``(R, d)`` node potentials, ``partition`` ``(R, n)`` hard assignment, ``inclusion``
        ``(R, K, d, d)``; ``searched_order`` ``(R, d)`` when the order search ran.
    timings : dict of str to float
        ``compile_s``, ``run_s``, ``steps_per_s``, ``draws_s``, ``total_s``.
    """

    draws: dict[str, np.ndarray]
    draw_restart: np.ndarray
    restart_elbo: np.ndarray
    restart_weights: np.ndarray
    elbo_history: np.ndarray
    restart_summary: dict[str, np.ndarray]
    timings: dict[str, float] = field(default_factory=dict)


class _OrderedTraceELBO(Trace_ELBO):
    """Trace_ELBO summed over sites in trace order.

    NumPyro's Trace_ELBO sums site terms in the iteration order of a Python ``set`` of site
    names, which changes with the interpreter's hash seed; the compiled program then differs
    between processes and JAX's persistent compilation cache never hits. Summing in trace
    order gives the same value and the same program every time.
    """

    def loss_with_mutable_state(self, rng_key, param_map, model, guide, *args, **kwargs):
        """Negative single-particle ELBO (the guide has no mutable state)."""
        guide_key, model_key = jax.random.split(rng_key)
        q, guide_trace = log_density(seed(guide, guide_key), args, kwargs, param_map)
        replayed = replay(seed(model, model_key), guide_trace)
        p, _ = log_density(replayed, args, kwargs, param_map)
        return {"loss": q - p, "mutable_state": None}


def _data_args(data: PreparedData) -> tuple[jnp.ndarray, ...]:
    return (
        jnp.asarray(data.y, dtype=jnp.float32),
        jnp.asarray(data.x, dtype=jnp.float32),
        jnp.asarray(data.offset, dtype=jnp.float32),
    )


def _schedules(svi_cfg: SVIConfig, model_cfg: ModelConfig):
    steps = svi_cfg.num_steps
    lr_ratio = svi_cfg.final_learning_rate / svi_cfg.learning_rate
    anneal_steps = max(1.0, svi_cfg.anneal_fraction * steps)
    t_ratio = model_cfg.order_temperature / svi_cfg.initial_temperature

    def learning_rate(i):
        return svi_cfg.learning_rate * lr_ratio ** jnp.minimum(i / steps, 1.0)

    def temperature(i):
        return svi_cfg.initial_temperature * t_ratio ** jnp.minimum(i / anneal_steps, 1.0)

    return learning_rate, temperature


class _Programs:
    """Compiled pieces of one (configuration, variable types, data shape).

    Built once and reused by every fit with the same key, so a new seed or new data values
    run the already compiled programs.
    """

    def __init__(self, config: Config, types: tuple[int, ...], n: int):
        self.config, self.types, self.n, self.d = config, types, n, len(types)
        self.model = functools.partial(hcl_model, types=types, config=config.model)
        guide = functools.partial(mean_field_guide, config=config.model)
        lr, self.temperature = _schedules(config.svi, config.model)
        self.svi = SVI(
            self.model, guide, ClippedAdam(step_size=lr, clip_norm=10.0), _OrderedTraceELBO()
        )
        self._compiled: dict[str, Any] = {}
        self._pending: dict[str, Future] = {}
        self.compile_s = 0.0
        self.compile_times: dict[str, float] = {}

    def compile_ahead(self, keys, args) -> None:
        """Compile the programs needed after the SVI loop starts on a background thread.

        They are lowered here (tracing needs this thread: NumPyro's effect-handler stack is
        global) and compiled by XLA, which releases the GIL, while this thread compiles and
        runs the SVI steps. Set ``BAYES_HCL_SERIAL_COMPILE=1`` to compile on demand instead.
        """
        if os.environ.get("BAYES_HCL_SERIAL_COMPILE") or self._compiled or self._pending:
            return
        states = jax.eval_shape(self._init_states, keys, args)
        params = jax.eval_shape(jax.vmap(self.svi.get_params), states)
        r, k = keys.shape[0], self.config.model.max_clusters
        active = jax.ShapeDtypeStruct((r, k), jnp.float32)
        draws = jax.ShapeDtypeStruct((self.config.svi.num_samples,), jnp.int32)
        key = jax.ShapeDtypeStruct(keys.shape[1:], keys.dtype)
        step = jax.ShapeDtypeStruct((), jnp.float32)
        jobs = {
            "summary": (self._summary, states, active, args),
            "restart_from": (self._restart_from, keys, params, step, args),
            "posterior": (self._posterior, states, active, draws, key, args),
        }
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bayes_hcl-compile")
        for name, (fn, *call_args) in jobs.items():
            lowered = jax.jit(fn).lower(*call_args)
            self._pending[name] = pool.submit(self._compile_lowered, name, lowered)
        pool.shutdown(wait=False)

    def _compile(self, name, fn, *call_args):
        return self._compile_lowered(name, jax.jit(fn).lower(*call_args))

    def _compile_lowered(self, name, lowered):
        start = time.perf_counter()
        options = CPU_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None
        compiled = lowered.compile(options)
        self.compile_times[name] = time.perf_counter() - start
        return compiled

    def init_states(self, keys, args):
        """Initial SVI states of all restarts (vmapped)."""
        return self._get("init", self._init_states, keys, args)

    def restart_from(self, keys, params, step, args):
        """Fresh SVI states at given guide parameters; the schedules resume at ``step``."""
        return self._get("restart_from", self._restart_from, keys, params, step, args)

    def run_chunk(self, states, step0, active, args):
        """Advance every restart by ``CHUNK`` steps (``active``: ``(R, K)`` cluster mask)."""
        return self._get("chunk", self._run_chunk, states, step0, active, args)

    def summary(self, states, active, args):
        """Guide-median summary of every restart: score, order, memberships, inclusion."""
        return self._get("summary", self._summary, states, active, args)

    def posterior(self, states, active, restarts, key, args):
        """Posterior draws; draw ``s`` comes from restart ``restarts[s]``."""
        return self._get("posterior", self._posterior, states, active, restarts, key, args)

    def _get(self, name, fn, *call_args):
        """Run a compiled program, compiling it (or waiting for its background compile)."""
        if name not in self._compiled:
            start = time.perf_counter()
            if name in self._pending:
                self._compiled[name] = self._pending.pop(name).result()
            else:
                self._compiled[name] = self._compile(name, fn, *call_args)
            # only the time the fit waited counts against it
            self.compile_s += time.perf_counter() - start
        return self._compiled[name](*call_args)

    def _init_states(self, keys, args):
        x = args[1]

        def one(key):
            k_init, k_params = jax.random.split(key)
            init = initial_params(k_params, x, self.config.model, self.config.svi.order_init_scale)
            active = jnp.ones(self.config.model.max_clusters)
            return self.svi.init(k_init, *args, self.temperature(0.0), active, init_params=init)

        return jax.vmap(one)(keys)

    def _restart_from(self, keys, params, step, args):
        active = jnp.ones(self.config.model.max_clusters)

        def one(key, init):
            state = self.svi.init(key, *args, self.temperature(step), active, init_params=init)
            count, opt_state = state.optim_state
            return state._replace(optim_state=(step.astype(count.dtype), opt_state))

        return jax.vmap(one)(keys, params)

    def _run_chunk(self, states, step0, active, args):
        def one(state, mask):
            def body(state, t):
                return self.svi.update(state, *args, self.temperature(step0 + t), mask)

            return lax.scan(body, state, jnp.arange(CHUNK, dtype=jnp.float32))

        return jax.vmap(one)(states, active)

    def _quantities(self, latents, args, active):
        return draw_quantities(latents, *args, active, types=self.types, config=self.config.model)

    def _laplace_elbo(self, params, active, args):
        """Deterministic ELBO of a restart: log joint at the guide's centre plus its entropy.

        For a mean-field Gaussian guide near a mode, ``ELBO ~ log p(centre) + sum log scale``
        up to a constant shared by all restarts (the curvature term cancels at the optimum).
        The single-particle ELBO estimates are far too noisy to rank restarts: a few draws
        that flip the order of two connected nodes cost hundreds of nats.
        """
        sites = latent_sites(self.config.model, self.d)
        centre = {name: params[f"{name}_loc"] for name in sites}
        final = self.temperature(jnp.float32(self.config.svi.num_steps))
        log_joint = -potential_energy(self.model, (*args, final, active), {}, centre)
        entropy = sum(jnp.log(params[f"{name}_scale"]).sum() for name in sites)
        return log_joint + entropy

    def _summary(self, states, active, args):
        params = jax.vmap(self.svi.get_params)(states)

        def at_median(p, mask):
            median = guide_median(p, self.config.model, self.d)
            q = self._quantities(median, args, mask)
            return {
                "score": self._laplace_elbo(p, mask, args),
                "order": median["phi"],
                "membership": q["membership"],
                "partition": q["membership"].argmax(-1),
                "inclusion": q["inclusion"],
            }

        return jax.vmap(at_median)(params, active)

    def _posterior(self, states, active, restarts, key, args):
        params = jax.vmap(self.svi.get_params)(states)

        def one_draw(r, k):
            p = jax.tree_util.tree_map(lambda a: a[r], params)
            latents = guide_sample(k, p, self.config.model, self.d)
            return {**latents, **self._quantities(latents, args, active[r])}

        keys = jax.random.split(key, restarts.shape[0])
        return jax.vmap(one_draw)(restarts, keys)


@functools.lru_cache(maxsize=16)
def _programs(config: Config, types: tuple[int, ...], n: int) -> _Programs:
    return _Programs(config, types, n)


def _restart_summary(prog: _Programs, states, active, args) -> dict:
    """Guide-median summary of every restart (order, memberships, partition) as NumPy arrays."""
    return {name: np.asarray(value) for name, value in prog.summary(states, active, args).items()}


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


def _prune(summary: dict, active, fractions: np.ndarray):
    """Switch off clusters holding less than ``fractions[r]`` of the rows in restart ``r``.

    A truncated DP fitted by SVI keeps spare clusters that copy the universal model and pick
    up a few rows in the overlap of real clusters; they cost nothing in the likelihood and so
    never empty out. Pruning them and refining the remaining clusters is a merge move: rows
    of a spurious cluster return to the real clusters, which are then refitted with them.
    """
    partition = summary["partition"]
    k = active.shape[1]
    counts = np.stack([np.bincount(p, minlength=k) for p in partition])
    keep = counts >= np.maximum(1.0, fractions[:, None] * partition.shape[1])
    keep[np.arange(len(keep)), counts.argmax(1)] = True
    return jnp.asarray(keep, dtype=jnp.float32) * active


def _warm_restarts(prog, states, summary, active, data, step: int, key, args, seed: int):
    """Re-start every restart at the order found by searching from its own memberships."""
    params, orders = [], []
    for r, membership in enumerate(summary["membership"]):
        start = list(np.argsort(summary["order"][r]))
        p, order = warm_start_params(
            data, membership, np.asarray(active[r]), start, prog.config.model, seed=seed + r
        )
        params.append(p)
        orders.append(order)
    stacked = jax.tree_util.tree_map(lambda *a: jnp.asarray(np.stack(a)), *params)
    # the noise law is learnt from residuals, not from the order: keep what SVI has found
    current = jax.vmap(prog.svi.get_params)(states)
    for name in NOISE_SITES:
        for part in ("loc", "scale"):
            if f"{name}_{part}" in current:
                stacked[f"{name}_{part}"] = current[f"{name}_{part}"]
    keys = jax.random.split(key, len(params))
    return prog.restart_from(keys, stacked, jnp.float32(step), args), np.asarray(orders)


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


def relabel_draws(draws: dict[str, np.ndarray], reference: np.ndarray) -> dict[str, np.ndarray]:
    """Permute each draw's clusters to best match ``reference`` memberships (Hungarian).

    Parameters
    ----------
    draws : dict
        Draws with a leading draw axis; sites in ``CLUSTER_SITES`` carry a cluster axis
        (axis 1, or the last axis for ``membership``).
    reference : ndarray
        ``(n, K)`` reference memberships.

    Returns
    -------
    dict
        The draws with clusters permuted, then sorted by decreasing mean mixture weight.
    """
    overlap = np.einsum("sik,ir->skr", draws["membership"], reference)
    perms = np.stack([linear_sum_assignment(-o)[1].argsort() for o in overlap])
    # perms[s, r] = draw cluster matched to reference cluster r
    mass = np.take_along_axis(np.exp(draws["log_weights"]), perms, axis=1).mean(0)
    order = np.argsort(-mass, kind="stable")
    perms = perms[:, order]
    out = dict(draws)
    for name in CLUSTER_SITES:
        if name not in draws:
            continue
        axis = draws[name].ndim - 1 if name == "membership" else 1
        idx = perms.reshape(perms.shape + (1,) * (draws[name].ndim - 2))
        out[name] = np.take_along_axis(draws[name], np.moveaxis(idx, 1, axis), axis=axis)
    out.pop("v", None)
    return out


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

    progress = default_progress() if progress is None else progress
    start = time.perf_counter()
    enable_compilation_cache()
    args = _data_args(data)
    prog = _programs(config, tuple(int(t) for t in data.type_codes()), data.n)
    compile_start = prog.compile_s
    rng_key = jax.random.PRNGKey(seed)
    k_init, k_draws, k_search = jax.random.split(rng_key, 3)
    svi_cfg = config.svi
    init_keys = jax.random.split(k_init, svi_cfg.num_restarts)
    prog.compile_ahead(init_keys, args)
    states = prog.init_states(init_keys, args)
    n_chunks = -(-svi_cfg.num_steps // CHUNK)
    prune_chunk = round(svi_cfg.prune_at * n_chunks) if svi_cfg.prune_fraction > 0 else -1
    search_chunk = round(svi_cfg.order_search_at * n_chunks) if svi_cfg.order_search_at else -1
    active = _initial_active(svi_cfg, config.model.max_clusters)
    losses, search_s, searched = [], 0.0, None
    run_start, compile_before = time.perf_counter(), prog.compile_s
    with tqdm(total=n_chunks * CHUNK, desc="SVI", disable=not progress, unit="step") as bar:
        for c in range(n_chunks):
            if c in (prune_chunk, search_chunk):
                summary = _restart_summary(prog, states, active, args)
                if svi_cfg.prune_fraction > 0:
                    active = _prune(summary, active, _prune_fractions(svi_cfg))
            if c == search_chunk:
                search_start = time.perf_counter()
                states, searched = _warm_restarts(
                    prog, states, summary, active, data, c * CHUNK, k_search, args, seed
                )
                search_s = time.perf_counter() - search_start
            states, loss = prog.run_chunk(states, jnp.float32(c * CHUNK), active, args)
            losses.append(np.asarray(loss))
            bar.update(CHUNK)
            bar.set_postfix(elbo=f"{-float(np.nanmin(loss[:, -1])):.4g}")
    run_s = time.perf_counter() - run_start - (prog.compile_s - compile_before) - search_s
    # reported ELBO: mean of the last chunk of single-particle estimates; restarts are weighted
    # by the deterministic Laplace-style ELBO (see _Programs._laplace_elbo), far less noisy
    elbo = -losses[-1].mean(axis=1)
    summary = _restart_summary(prog, states, active, args)
    weights = _restart_weights(summary["score"])
    restarts = _allocate(weights, svi_cfg.num_samples)
    draw_start = time.perf_counter()
    raw = prog.posterior(states, active, jnp.asarray(restarts), k_draws, args)
    draws = {name: np.asarray(value) for name, value in raw.items()}
    best = restarts == np.argmax(weights)
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
            **{k: np.asarray(v) for k, v in summary.items() if k != "membership"},
            **({} if searched is None else {"searched_order": searched}),
        },
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
