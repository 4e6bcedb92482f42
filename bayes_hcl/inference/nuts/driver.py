"""NUTS fits (``method="nuts"``): SVI start, chains, per-draw quantities.

The cluster indicators stay marginalised (as in the SVI model), so every latent is continuous
except the causal order; :class:`bayes_hcl.inference.nuts.order_moves.OrderedNUTS` alternates
NUTS given the order with Metropolis moves across orders. Chains start from distinct draws
of the best SVI restart (the same posterior, so warm-up is short), with the clusters that fit
occupies plus ``nuts.extra_clusters`` spare ones; they are vectorised on one device and spread over
devices when there are as many as chains. Draws are relabelled to a reference partition (Hungarian
matching on memberships) before any per-cluster summary.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.util import potential_energy, unconstrain_fn

from bayes_hcl.config import Config, min_cluster_size
from bayes_hcl.data.prepared import PreparedData
from bayes_hcl.errors import ConfigError, DataError
from bayes_hcl.inference.base import ChainFit, default_progress
from bayes_hcl.inference.compiled import program_cache
from bayes_hcl.inference.devices import row_devices
from bayes_hcl.inference.nuts.order_moves import OrderedNUTS, proposal_moments
from bayes_hcl.inference.relabel import relabel_draws
from bayes_hcl.inference.svi.driver import SVIFit, fit_svi
from bayes_hcl.inference.svi.minibatch import FULL_BATCH_MAX_ROWS, resolve_batch_size
from bayes_hcl.inference.svi.programs import data_args, enable_compilation_cache
from bayes_hcl.model.guide import NOISE_SITES
from bayes_hcl.model.priors import stick_fractions
from bayes_hcl.model.program import draw_quantities, ordered_model

__all__ = [
    "NUTSFit",
    "chain_fit",
    "chain_quantities",
    "chain_summary",
    "check_finite_draws",
    "fit_nuts",
    "initial_values",
    "sample_nuts",
    "svi_start",
]

# order proposals per transition when nuts.order_moves = 0: a proposal costs one forward pass,
# NUTS tens to hundreds of gradients, and fewer moves left d = 4 chains measurably unmixed
# (max edge error vs the exact posterior 0.094 with d moves, 0.033 with 5 d; bench/calibration)
MOVES_PER_NODE = 5
CANDIDATES_PER_CHAIN = 8  # SVI draws scored per chain when choosing the starting points


class NUTSFit(ChainFit):
    """Raw output of :func:`fit_nuts` (a :class:`~bayes_hcl.inference.base.ChainFit`):
    ``sample_stats`` holds NUTS's per-transition statistics."""

    method: ClassVar[str] = "nuts"
    label: ClassVar[str] = "NUTS"


def _occupied_count(svi: SVIFit, n: int, fraction: float) -> int:
    best = svi.draw_restart == int(np.argmax(svi.restart_weights))
    mass = svi.draws["membership"][best].mean(0).sum(0)
    return max(1, int((mass >= min_cluster_size(n, fraction)).sum()))


def initial_values(
    svi: SVIFit,
    n: int,
    config: Config,
    num_chains: int,
    seed: int,
    extra_clusters: int | None = None,
) -> dict:
    """Constrained candidate starts ``(num_chains, ...)``: distinct draws of the best restart.

    Clusters are cut to those the SVI fit occupies plus ``extra_clusters`` spare ones
    (default ``nuts.extra_clusters``; each spare given at least 2 % weight), with stick
    fractions recomputed for the kept weights.
    """
    extra = config.nuts.extra_clusters if extra_clusters is None else extra_clusters
    k = min(config.model.max_clusters, _occupied_count(svi, n, config.svi.prune_fraction) + extra)
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(svi.draw_restart == int(np.argmax(svi.restart_weights)))
    picks = rng.choice(pool, size=num_chains, replace=len(pool) < num_chains)
    out = {
        "rank": np.argsort(np.argsort(svi.draws["phi"][picks], -1), -1),
        "rho": svi.draws["rho"][picks],
        "mu": svi.draws["mu"][picks],
        "b_base": svi.draws["b_base"][picks],
        "log_sigma_base": svi.draws["log_sigma_base"][picks],
        "W": svi.draws["W"][picks, :k],
        "b_shift": svi.draws["b_shift"][picks, :k],
        "log_sigma_shift": svi.draws["log_sigma_shift"][picks, :k],
    }
    for name in NOISE_SITES:
        if name in svi.draws:
            out[name] = svi.draws[name][picks]
    if k > 1:
        weights = np.maximum(np.exp(svi.draws["log_weights"][picks, :k]), 0.02)
        weights /= weights.sum(-1, keepdims=True)
        out["v"] = np.stack([stick_fractions(w) for w in weights])
        out["alpha"] = svi.draws["alpha"][picks]
    return {
        name: np.asarray(value, dtype=np.int32 if name == "rank" else np.float32)
        for name, value in out.items()
    }


@program_cache(maxsize=8)
def _ordered_model(types: tuple[int, ...], model_config):
    """One model object per (types, configuration): the compiled programs below are cached
    on it, so repeated fits of the same shape compile nothing (and leak no executables)."""
    return functools.partial(ordered_model, types=types, config=model_config)


CHAIN_CHUNK = 50  # transitions per compiled call; the host shows progress between calls


@program_cache(maxsize=8)
def _sampler(model, nuts, d: int) -> OrderedNUTS:
    """The kernel of one model and NUTS setting, reused so its programs compile once."""
    return OrderedNUTS(
        model,
        nuts.order_moves or MOVES_PER_NODE * d,
        target_accept_prob=nuts.target_accept_prob,
        max_tree_depth=nuts.max_tree_depth,
    )


def _statistics(state) -> dict:
    hmc = state.hmc_state
    return {
        "diverging": hmc.diverging,
        "tree_size": hmc.num_steps,
        "acceptance_rate": hmc.accept_prob,
        "step_size": hmc.adapt_state.step_size,
        "energy": hmc.energy,
        "lp": -hmc.potential_energy,
        "order_acceptance": state.order_accept,
    }


def _chunk_program(kernel: OrderedNUTS, length: int):
    """Compiled: ``length`` transitions of every chain, returning the visited constrained
    states and statistics ``(length, chain, ...)``; cached on the kernel."""
    cache = kernel.__dict__.setdefault("_chunk_programs", {})
    if length not in cache:

        def run(state, args):
            constrain = jax.vmap(kernel.postprocess_fn(args, {}))

            def step(state, _):
                state = kernel.sample(state, args, {})
                return state, (constrain(state.z), _statistics(state))

            return jax.lax.scan(step, state, None, length=length)

        cache[length] = jax.jit(run)
    return cache[length]


def _run_chains(kernel, state, args, num_warmup: int, num_samples: int, progress: bool):
    """Warm-up, then ``num_samples`` collected transitions, in compiled chunks."""
    from tqdm.auto import tqdm

    def lengths(total):
        full, rest = divmod(total, CHAIN_CHUNK)
        return [CHAIN_CHUNK] * full + ([rest] if rest else [])

    kept = []
    total = num_warmup + num_samples
    with tqdm(total=total, desc="NUTS", disable=not progress, unit="step") as bar:
        for phase, count in (("warmup", num_warmup), ("sample", num_samples)):
            for length in lengths(count):
                state, out = _chunk_program(kernel, length)(state, args)
                if phase == "sample":
                    kept.append(jax.tree_util.tree_map(np.asarray, out))
                bar.update(length)
                bar.set_postfix(phase=phase)
    # (draw, chain, ...) -> (chain, draw, ...)
    joined = jax.tree_util.tree_map(lambda *a: np.swapaxes(np.concatenate(a), 0, 1), *kept)
    return joined


@program_cache(maxsize=8)
def _start_program(model):
    """Compiled: candidate starts -> unconstrained values and joint densities (cached per
    model, so repeated fits reuse it)."""

    def one(params, args):
        rank = params["rank"]
        latent = {k: v for k, v in params.items() if k != "rank"}
        z = unconstrain_fn(model, (*args, rank), {}, latent)
        return {**z, "rank": rank}, potential_energy(model, (*args, rank), {}, z)

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


def _unconstrained_start(model, args, init: dict, num_chains: int) -> dict:
    """The ``num_chains`` candidate starts of highest joint density, unconstrained.

    Starting in the best of several SVI draws keeps chains out of poor local orders they
    could take long to leave (measured: with random draws two of four chains at n = 2000 sat
    45 nats below the others). Candidates with a non-finite density are never chosen; if
    fewer finite ones remain than chains, they are reused; if none, the fit stops with a
    clear message.
    """
    z, energies = _start_program(model)(jax.tree_util.tree_map(jnp.asarray, init), args)
    energies = np.asarray(energies)
    finite = np.flatnonzero(np.isfinite(energies))
    if not finite.size:
        raise FloatingPointError(
            "NUTS could not start: the log density is not finite at any of the "
            f"{len(energies)} starting points taken from the SVI fit; check the data for "
            "extreme values or refit SVI with more steps"
        )
    best = finite[np.argsort(energies[finite], kind="stable")]
    source = np.resize(best, num_chains)
    return {k: np.asarray(v)[source] for k, v in z.items()}


def check_finite_draws(draws: dict, method: str = "NUTS") -> None:
    """Refuse draws holding a non-finite value (a chain that left the region where the
    density is finite): its probabilities would be NaN. ``method`` names the sampler."""
    for name, value in draws.items():
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.floating):
            continue
        bad = ~np.isfinite(value)
        if bad.any():
            chain = int(np.argwhere(bad)[0][0])
            raise FloatingPointError(
                f"{method} chain {chain} produced non-finite values of {name!r}; "
                "refit with more warm-up steps (num_warmup) or check the data for extreme values"
            )


def _chain_method(num_chains: int) -> str:
    """``"parallel"`` when the chains can be split evenly over several devices (the chain axis
    is then sharded, each device running its chains), else ``"vectorized"`` on one."""
    devices = jax.local_device_count()
    return "parallel" if devices > 1 and num_chains % devices == 0 else "vectorized"


def _place_chains(tree, num_chains: int):
    """Shard the leading (chain) axis of every array over the devices, when parallel."""
    if _chain_method(num_chains) != "parallel":
        return tree
    mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("chain",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("chain"))
    return jax.device_put(tree, sharding)


def sample_nuts(
    data: PreparedData,
    config: Config,
    init: dict,
    *,
    seed: int = 0,
    progress: bool | None = None,
    responsibilities: np.ndarray | None = None,
) -> tuple[dict, dict, float]:
    """Run the chains from given starting points.

    Parameters
    ----------
    data : PreparedData
    config : Config
        ``config.model.max_clusters`` must match the cluster axis of ``init``.
    init : dict
        Constrained candidate starts with a leading axis, ``"rank"`` included (see
        :func:`initial_values`); the ``nuts.num_chains`` of highest density are used.
    seed : int
    progress : bool, optional
    responsibilities : ndarray ``(n, K)``, optional
        Fixed cluster memberships whose moments steer the regression-shift order proposal
        (default: every cluster gets the pooled moments).

    Returns
    -------
    tuple
        Constrained draws ``(chain, draw, ...)`` (ranks included), sample statistics
        ``(chain, draw)`` named as in ArviZ, and the seconds spent.
    """
    num_chains = config.nuts.num_chains
    types = tuple(int(t) for t in data.type_codes(config.model.count_likelihood))
    model = _ordered_model(types, config.model)
    args = data_args(data)
    z0 = _unconstrained_start(model, args, init, num_chains)
    d, k = data.d, int(np.shape(init["W"])[1])
    if responsibilities is None:
        responsibilities = np.full((data.n, k), 1.0 / k)
    moments = proposal_moments(data.x, responsibilities)
    progress = default_progress() if progress is None else progress
    kernel = _sampler(model, config.nuts, d)
    run_args = (*args, *map(jnp.asarray, moments))
    start = time.perf_counter()
    keys = jax.random.split(jax.random.PRNGKey(seed), num_chains)
    z0 = _place_chains({k: jnp.asarray(v) for k, v in z0.items()}, num_chains)
    state = kernel.init(_place_chains(keys, num_chains), config.nuts.num_warmup, z0, run_args, {})
    state = _place_chains(state, num_chains)
    samples, stats = _run_chains(
        kernel, state, run_args, config.nuts.num_warmup, config.nuts.num_samples, progress
    )
    return samples, stats, time.perf_counter() - start


@program_cache(maxsize=8)
def _quantity_program(types: tuple[int, ...], model_config):
    """Compiled: flat draws -> per-draw quantities (cached per types and configuration)."""

    def run(latents, args):
        def one(z):
            return {**z, **draw_quantities(z, *args, types=types, config=model_config)}

        return jax.lax.map(one, latents, batch_size=64)

    return jax.jit(run)


def chain_quantities(samples: dict, data: PreparedData, config: Config) -> dict:
    """Per-draw quantities (memberships, inclusion, ...) of every draw ``(chain, draw, ...)``
    of the ordered model's latents (``rank`` for the order), clusters aligned."""
    chains, draws = samples["rank"].shape[:2]
    types = tuple(int(t) for t in data.type_codes(config.model.count_likelihood))
    flat = {k: v.reshape((chains * draws, *v.shape[2:])) for k, v in samples.items()}
    flat["phi"] = flat.pop("rank").astype(np.float32)
    raw = _quantity_program(types, config.model)(flat, data_args(data))
    out = {k: np.asarray(v) for k, v in raw.items()}
    out = relabel_draws(out, out["membership"][:draws].mean(0))
    return {k: v.reshape((chains, draws, *v.shape[1:])) for k, v in out.items()}


def chain_summary(draws: dict, lp: np.ndarray) -> dict:
    """Each chain summarised like an SVI restart (for the agreement diagnostic)."""
    membership = draws["membership"].mean(1)
    return {
        "score": lp.mean(1),
        "order": draws["phi"].mean(1),
        "partition": membership.argmax(-1),
        "inclusion": draws["inclusion"].mean(1),
        "forced_one_cluster": np.zeros(len(lp), dtype=bool),
    }


def _categorical_error(name: str, levels: tuple[str, ...]) -> DataError:
    """The refusal of a categorical variable: the ways out, each usable from the command line
    (SVI takes categorical variables; an ordinal column needs its levels in order)."""
    shown = list(levels) if len(levels) <= 6 else [*levels[:5], "..."]
    return DataError(
        f"method 'nuts' does not support categorical variables yet (column {name!r}); fit by "
        f"'svi' (method='svi', --method svi), which does, or drop the column; if its levels "
        f"have an order, declare it ordinal with the levels lowest first (types={{{name!r}: "
        f"{shown!r}}}, --types '{name}=ordinal:{'<'.join(shown)}', reordered)"
    )


def fit_nuts(
    data: PreparedData, config: Config, *, seed: int = 0, progress: bool | None = None
) -> NUTSFit:
    """Fit by NUTS, initialised from an SVI fit of the same model.

    Parameters
    ----------
    data : PreparedData
    config : Config
        Model, SVI (for the initialisation) and NUTS settings.
    seed : int
    progress : bool, optional
        Progress bars (default: on unless under CI).

    Returns
    -------
    NUTSFit
    """
    categorical = [j for j, t in enumerate(data.types) if t == "categorical"]
    if categorical:
        raise _categorical_error(data.columns[categorical[0]], data.levels[categorical[0]])
    batch = resolve_batch_size(config.svi, data.n, row_devices())
    if batch:
        raise ConfigError(
            f"method 'nuts' evaluates all {data.n} rows at every step and takes no minibatches "
            f"(svi.batch_size {batch}; automatic above {FULL_BATCH_MAX_ROWS} rows); fit by 'svi'"
        )
    start = time.perf_counter()
    svi, init, run_config = svi_start(
        data, config, CANDIDATES_PER_CHAIN * config.nuts.num_chains, config.nuts.extra_clusters,
        seed=seed, progress=progress,
    )  # fmt: skip
    k = run_config.model.max_clusters
    best = svi.draw_restart == int(np.argmax(svi.restart_weights))
    resp = svi.draws["membership"][best].mean(0)[:, :k]
    resp = resp / np.maximum(resp.sum(1, keepdims=True), 1e-12)
    samples, stats, sample_s = sample_nuts(
        data, run_config, init, seed=seed, progress=progress, responsibilities=resp
    )
    return chain_fit(NUTSFit, samples, stats, data, run_config, svi, sample_s, start)


def svi_start(
    data: PreparedData,
    config: Config,
    num_starts: int,
    extra_clusters: int,
    *,
    seed: int,
    progress: bool | None,
) -> tuple[SVIFit, dict, Config]:
    """The SVI fit a sampler starts from, ``num_starts`` candidate starts
    (:func:`initial_values`) and the configuration cut to their clusters."""
    enable_compilation_cache()
    svi = fit_svi(data, config, seed=seed, progress=progress)
    init = initial_values(svi, data.n, config, num_starts, seed, extra_clusters)
    k = init["W"].shape[1]
    run_config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, max_clusters=k)
    )
    return svi, init, run_config


def chain_fit(
    cls: type[ChainFit],
    samples: dict,
    stats: dict,
    data: PreparedData,
    run_config: Config,
    svi: SVIFit,
    sample_s: float,
    start: float,
) -> ChainFit:
    """A sampler's :class:`~bayes_hcl.inference.base.ChainFit` from its kept latents and
    per-transition statistics (``lp``: each chain's log density per draw); ``start`` is the
    ``time.perf_counter()`` at which the fit began."""
    quant_start = time.perf_counter()
    draws = chain_quantities(samples, data, run_config)
    check_finite_draws(draws, cls.label)
    chains = draws["phi"].shape[0]
    return cls(
        draws=draws,
        sample_stats=stats,
        restart_elbo=stats["lp"].mean(1),
        restart_weights=np.full(chains, 1.0 / chains),
        elbo_history=stats["lp"],
        restart_summary=chain_summary(draws, stats["lp"]),
        svi=svi,
        num_clusters=run_config.model.max_clusters,
        timings={
            "svi_s": svi.timings["total_s"],
            "sample_s": sample_s,
            "draws_s": time.perf_counter() - quant_start,
            "total_s": time.perf_counter() - start,
        },
    )
