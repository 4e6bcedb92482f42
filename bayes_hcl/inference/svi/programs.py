"""The compiled programs of an SVI fit, built once per (configuration, types, data shape).

Five programs make a fit: ``init`` (the restarts' starting states), ``chunk`` (``CHUNK`` SVI
steps of every restart, a ``vmap``-ed ``lax.scan``), ``summary`` (each restart at its guide
median: score, order, memberships), ``restart_from`` (restarts re-started at given guide
parameters, for the order-search warm start) and ``posterior`` (the draws). They are cached
per (configuration, variable types, number of rows), so a new seed or new data values never
recompile, and JAX's persistent compilation cache keeps them across processes.
"""

from __future__ import annotations

import copy
import functools
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from numpyro.handlers import replay, seed
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.util import log_density, potential_energy
from numpyro.optim import ClippedAdam

from bayes_hcl.config import Config, ModelConfig, SVIConfig, joint_states
from bayes_hcl.data.prepared import PreparedData
from bayes_hcl.inference.compiled import program_cache
from bayes_hcl.inference.devices import replicated
from bayes_hcl.model.guide import (
    guide_median,
    guide_sample,
    initial_params,
    latent_sites,
    mean_field_guide,
)
from bayes_hcl.model.program import draw_quantities, hcl_model

__all__ = [
    "CHUNK",
    "CPU_COMPILER_OPTIONS",
    "PROGRAM_SVI_FIELDS",
    "Programs",
    "data_args",
    "enable_compilation_cache",
    "programs",
    "schedule_rates",
    "shape_config",
]

CHUNK = 50
# XLA's CPU backend at optimisation level 1 compiles these programs in about 60 % of the time
# of the default level (3) with the same steps per second (n = 2000, d = 10, 2 cores:
# compile 9.2 s vs 15.7 s, 229 vs 232 steps/s); level 0 halves the speed of a step.
CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


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


def data_args(data: PreparedData) -> tuple[jnp.ndarray | None, ...]:
    """The model's data arrays ``y, x, offset, observed`` as float32, one column per model
    column (:meth:`~bayes_hcl.data.PreparedData.model_arrays`).

    ``offset`` is per row ``(n, D)`` only when there are size factors, else ``(D,)``, and
    ``observed`` is ``None`` when no cell is missing: the common case then pays for neither
    (an ``(n, D)`` offset and a mask cost about 10 % of the SVI step rate).
    """
    sized = bool(np.any(data.log_size_factor != 0))
    y, x, offset, observed = data.model_arrays(sized)
    return (
        jnp.asarray(y, dtype=jnp.float32),
        jnp.asarray(x, dtype=jnp.float32),
        jnp.asarray(offset, dtype=jnp.float32),
        None if observed.all() else jnp.asarray(observed, dtype=jnp.float32),
    )


def schedule_rates(svi_cfg: SVIConfig) -> jnp.ndarray:
    """``[1 / num_steps, 1 / anneal_steps]``: the progress per step of the learning-rate and
    temperature schedules. An argument of the compiled programs, so a new step count does not
    compile them again; reciprocals, as XLA turns a division by a constant into them (the
    schedules are then bit for bit those of a program with the step count built in)."""
    anneal_steps = max(1.0, svi_cfg.anneal_fraction * svi_cfg.num_steps)
    lengths = np.asarray([svi_cfg.num_steps, anneal_steps], dtype=np.float32)
    return jnp.asarray(np.float32(1.0) / lengths)


def _schedules(svi_cfg: SVIConfig, model_cfg: ModelConfig):
    """Learning rate and order temperature at step ``i`` given the fit's
    :func:`schedule_rates` ``rates`` (traced)."""
    lr_ratio = svi_cfg.final_learning_rate / svi_cfg.learning_rate
    t_ratio = model_cfg.order_temperature / svi_cfg.initial_temperature

    def learning_rate(i, rates):
        return svi_cfg.learning_rate * lr_ratio ** jnp.minimum(i * rates[0], 1.0)

    def temperature(i, rates):
        return svi_cfg.initial_temperature * t_ratio ** jnp.minimum(i * rates[1], 1.0)

    return learning_rate, temperature


#: The SVI settings the compiled programs read (everything else in ``[svi]``, the step count
#: and annealing length included, reaches them as arguments or not at all).
PROGRAM_SVI_FIELDS = (
    "num_restarts",
    "learning_rate",
    "final_learning_rate",
    "initial_temperature",
    "num_samples",
    "order_init_scale",
)


def shape_config(config: Config) -> Config:
    """``config`` with the settings the compiled programs do not depend on made canonical
    (pruning, the order search's timing, the step count, NUTS, the preset's name), so fits
    that differ only there share programs."""
    read = {name: getattr(config.svi, name) for name in PROGRAM_SVI_FIELDS}
    return Config(name="", description="", model=config.model, svi=SVIConfig(**read))


def _signature(call_args) -> tuple:
    """Structure, shapes and dtypes of a program's arguments (what its compilation fixes)."""
    leaves, treedef = jax.tree_util.tree_flatten(call_args)
    return treedef, tuple((np.shape(a), str(getattr(a, "dtype", type(a)))) for a in leaves)


class Programs:
    """Compiled pieces of one (configuration, variable types, data shape).

    Built once and reused by every fit with the same key, so a new seed or new data values
    run the already compiled programs.
    """

    def __init__(
        self,
        config: Config,
        types: tuple[int, ...],
        n: int,
        node_of: tuple[int, ...] | None = None,
        devices: int = 1,
    ):
        self.config, self.types, self.n, self.node_of = config, types, n, node_of
        self.devices = devices
        self.width = len(types)
        self.d = self.width if node_of is None else max(node_of) + 1
        self.model = functools.partial(hcl_model, types=types, config=config.model, node_of=node_of)
        self.guide = functools.partial(mean_field_guide, config=config.model, nodes=self.d)
        self._learning_rate, self.temperature = _schedules(config.svi, config.model)
        # annealing ends before the last step: the final temperature is the model's
        self.final_temperature = self.temperature(1.0, jnp.ones(2))
        # init and get_params do not use the step size; updates use svi_of(rates)
        self.svi = SVI(self.model, self.guide, self._optimizer(jnp.ones(2)), _OrderedTraceELBO())
        self._compiled: dict[str, Any] = {}
        self._pending: dict[str, Future] = {}
        self.compile_s = 0.0
        self.compile_times: dict[str, float] = {}

    def _optimizer(self, rates, scale=1.0) -> ClippedAdam:
        def step_size(i):
            return self._learning_rate(i, rates) * scale

        return ClippedAdam(step_size=step_size, clip_norm=10.0)

    def svi_of(self, rates, scale=1.0) -> SVI:
        """The SVI object of a fit of :func:`schedule_rates` ``rates``: ``self.svi``
        (after its ``init``) with that fit's learning-rate schedule, times ``scale`` (a
        restart that met a non-finite ELBO goes on with a smaller step size)."""
        svi = copy.copy(self.svi)
        svi.optim = self._optimizer(rates, scale)
        return svi

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
        r, k = keys.shape[0], joint_states(self.config.model)
        active = jax.ShapeDtypeStruct((r, k), jnp.float32)
        draws = jax.ShapeDtypeStruct((self.config.svi.num_samples,), jnp.int32)
        key = jax.ShapeDtypeStruct(keys.shape[1:], keys.dtype)
        step = jax.ShapeDtypeStruct((), jnp.float32)
        rates = jax.ShapeDtypeStruct((2,), jnp.float32)
        jobs = {
            "summary": (self._summary, states, active, args),
            "restart_from": (self._restart_from, keys, params, step, args, rates),
            "posterior": (self._posterior, states, active, draws, key, args),
        }
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bayes_hcl-compile")
        for name, (fn, *call_args) in jobs.items():
            lowered = self._jit(fn).lower(*call_args)
            self._pending[name] = pool.submit(self._compile_lowered, name, lowered)
        pool.shutdown(wait=False)

    def _compile(self, name, fn, *call_args):
        return self._compile_lowered(name, self._jit(fn).lower(*call_args))

    def _jit(self, fn):
        """``jax.jit``; on several devices every output is replicated, so each process can
        read it whole (the rows' shares are gathered inside the program)."""
        if self.devices == 1:
            return jax.jit(fn)
        return jax.jit(fn, out_shardings=replicated(self.devices))

    def _compile_lowered(self, name, lowered):
        start = time.perf_counter()
        options = CPU_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None
        compiled = lowered.compile(options)
        self.compile_times[name] = time.perf_counter() - start
        return compiled

    def init_states(self, keys, args):
        """Initial SVI states of all restarts (vmapped)."""
        return self._get("init", self._init_states, keys, args)

    def restart_from(self, keys, params, step, args, rates):
        """Fresh SVI states at given guide parameters; the schedules (of
        :func:`schedule_rates` ``rates``) resume at ``step``."""
        return self._get("restart_from", self._restart_from, keys, params, step, args, rates)

    def run_chunk(self, states, step0, active, args, rates, scale):
        """Advance every restart by ``CHUNK`` steps (``active``: ``(R, K)`` cluster mask;
        ``rates``: the fit's :func:`schedule_rates`; ``scale``: ``(R,)`` factor on each
        restart's learning rate)."""
        return self._get("chunk", self._run_chunk, states, step0, active, args, rates, scale)

    def summary(self, states, active, args):
        """Guide-median summary of every restart: score, order, memberships, inclusion."""
        return self._get("summary", self._summary, states, active, args)

    def posterior(self, states, active, restarts, key, args):
        """Posterior draws; draw ``s`` comes from restart ``restarts[s]``."""
        return self._get("posterior", self._posterior, states, active, restarts, key, args)

    def _get(self, name, fn, *call_args):
        """Run a compiled program, compiling it (or waiting for its background compile).

        A program is kept per structure and shapes of its arguments as well as its name:
        fits sharing these programs may differ in whether cells are missing (``observed``
        is ``None`` or an array), in per-row offsets, or in a row weight.
        """
        key = (name, _signature(call_args))
        if key not in self._compiled:
            start = time.perf_counter()
            pending = self._pending.pop(name, None)
            if pending is not None:
                # lowered ahead from this very fit's arguments
                self._compiled[key] = pending.result()
            else:
                self._compiled[key] = self._compile(name, fn, *call_args)
            # only the time the fit waited counts against it
            self.compile_s += time.perf_counter() - start
        return self._compiled[key](*call_args)

    def _init_states(self, keys, args):
        x = args[1]

        def one(key):
            k_init, k_params = jax.random.split(key)
            init = initial_params(
                k_params, x, self.config.model, self.config.svi.order_init_scale, self.d
            )
            active = jnp.ones(joint_states(self.config.model))
            model_args = self._model_args(args, self.temperature(0.0, jnp.ones(2)), active)
            return self.svi.init(k_init, *model_args, init_params=init)

        return jax.vmap(one)(keys)

    def _restart_from(self, keys, params, step, args, rates):
        active = jnp.ones(joint_states(self.config.model))

        def one(key, init):
            model_args = self._model_args(args, self.temperature(step, rates), active)
            state = self.svi.init(key, *model_args, init_params=init)
            count, opt_state = state.optim_state
            return state._replace(optim_state=(step.astype(count.dtype), opt_state))

        return jax.vmap(one)(keys, params)

    def _run_chunk(self, states, step0, active, args, rates, scale):
        def one(state, mask, factor):
            svi = self.svi_of(rates, factor)

            def body(state, t):
                model_args = self._model_args(args, self.temperature(step0 + t, rates), mask)
                return svi.update(state, *model_args)

            return lax.scan(body, state, jnp.arange(CHUNK, dtype=jnp.float32))

        return jax.vmap(one)(states, active, scale)

    def _model_args(self, args, temperature, active) -> tuple:
        """Positional arguments of the model and guide: the data arrays, then the order
        temperature, the clusters in use and, when ``args`` has one (a minibatch, padded
        rows), the rows' log-likelihood weight."""
        return (*args[:4], temperature, active, *args[4:])

    def _quantities(self, latents, args, active):
        return draw_quantities(
            latents,
            *args[:4],
            active,
            types=self.types,
            config=self.config.model,
            node_of=self.node_of,
        )

    def _laplace_elbo(self, params, active, args):
        """Deterministic ELBO of a restart: log joint at the guide's centre plus its entropy
        (``score``), and its parts: log prior, log-likelihood and entropy.

        For a mean-field Gaussian guide near a mode, ``ELBO ~ log p(centre) + sum log scale``
        up to a constant shared by all restarts (the curvature term cancels at the optimum).
        The single-particle ELBO estimates are far too noisy to rank restarts: a few draws
        that flip the order of two connected nodes cost hundreds of nats.
        """
        sites = latent_sites(self.config.model, self.d, self.width)
        centre = {name: params[f"{name}_loc"] for name in sites}

        def log_joint(weight):
            weighted = (*args[:4], args[4] * weight) if len(args) > 4 else (*args, weight)
            model_args = self._model_args(weighted, self.final_temperature, active)
            return -potential_energy(self.model, model_args, {}, centre)

        model_args = self._model_args(args, self.final_temperature, active)
        total = -potential_energy(self.model, model_args, {}, centre)
        prior = log_joint(jnp.float32(0.0))
        entropy = sum(jnp.log(params[f"{name}_scale"]).sum() for name in sites)
        return {
            "score": total + entropy,
            "prior": prior,
            "loglik": total - prior,
            "entropy": entropy,
        }

    def _summary(self, states, active, args):
        params = jax.vmap(self.svi.get_params)(states)

        def at_median(p, mask):
            median = guide_median(p, self.config.model, self.d, self.width)
            q = self._quantities(median, args, mask)
            return {
                **self._laplace_elbo(p, mask, args),
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
            latents = guide_sample(k, p, self.config.model, self.d, self.width)
            return {**latents, **self._quantities(latents, args, active[r])}

        keys = jax.random.split(key, restarts.shape[0])
        return jax.vmap(one_draw)(restarts, keys)


@program_cache(maxsize=16)
def programs(
    config: Config,
    types: tuple[int, ...],
    n: int,
    node_of: tuple[int, ...] | None = None,
    devices: int = 1,
) -> Programs:
    """The (cached) programs of one configuration, column types, number of rows, (with
    categorical variables) column-to-variable map and number of devices."""
    return Programs(config, types, n, node_of, devices)
