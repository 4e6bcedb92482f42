"""Gibbs fits (``method="gibbs"``): SVI start, chains of sweeps, per-draw quantities.

Chains start from distinct draws of the best SVI restart (as NUTS chains do), with the
clusters it occupies plus ``gibbs.extra_clusters`` spare ones, and their indicators set from
the draw's slab responsibilities. Each chain runs the sweep of
:mod:`bayes_hcl.inference.gibbs.sweep`; chains are vectorised (``vmap``) and the sweeps run in
compiled ``lax.scan`` chunks, one program per shape and setting, under a progress bar. The
draws are the ordered model's latents, so memberships, inclusion probabilities and every
readout come from the same code as for NUTS
(:func:`bayes_hcl.inference.nuts.driver.chain_quantities`).

This version covers continuous variables with Gaussian noise and binary ones (Pólya-Gamma
augmented), one latent factor, no missing cells, all rows in memory. Anything else is refused
in one line that says which method takes it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from bayes_hcl.config import Config
from bayes_hcl.data.prepared import PreparedData
from bayes_hcl.errors import ConfigError, DataError
from bayes_hcl.inference.base import ChainFit, default_progress
from bayes_hcl.inference.compiled import program_cache, release_if_near_map_limit
from bayes_hcl.inference.devices import row_devices
from bayes_hcl.inference.gibbs.noise import hold_noiseless
from bayes_hcl.inference.gibbs.start import chain_starts
from bayes_hcl.inference.gibbs.state import (
    GibbsState,
    SweepSettings,
    edge_prior,
    node_priors,
    order_mask,
)
from bayes_hcl.inference.gibbs.sweep import sweep
from bayes_hcl.inference.nuts.driver import chain_fit
from bayes_hcl.inference.svi import fit_svi
from bayes_hcl.inference.svi.minibatch import FULL_BATCH_MAX_ROWS, resolve_batch_size
from bayes_hcl.inference.svi.programs import enable_compilation_cache
from bayes_hcl.model.priors import SpikeAndSlab

__all__ = ["GibbsFit", "check_gibbs_input", "fit_gibbs", "initial_state", "sample_gibbs"]

CHAIN_CHUNK = 100  # sweeps per compiled call; the host shows progress between calls
MOVES_PER_NODE = 2  # order moves per node and sweep when gibbs.order_moves = 0


class GibbsFit(ChainFit):
    """Raw output of :func:`fit_gibbs` (a :class:`~bayes_hcl.inference.base.ChainFit`):
    ``sample_stats`` holds per sweep the log likelihood with memberships summed out (``lp``)
    and whether the order moved (``order_changed``)."""

    method: ClassVar[str] = "gibbs"
    label: ClassVar[str] = "Gibbs"


def check_gibbs_input(data: PreparedData, config: Config) -> None:
    """Refuse, in one line naming the way out, what this version of the sampler does not take."""
    taken = ("continuous", "binary")
    other = [(c, t) for c, t in zip(data.columns, data.types, strict=True) if t not in taken]
    if other:
        name, kind = other[0]
        raise DataError(
            f"method 'gibbs' takes continuous and binary variables only so far (column "
            f"{name!r} is {kind}); fit by 'svi' (method='svi', --method svi), which takes "
            f"every type, or declare the column continuous (types={{{name!r}: 'continuous'}})"
        )
    model = config.model
    if model.noise_family != "gaussian" or model.noise_components != 1:
        law = model.noise_family if model.noise_components == 1 else "Gaussian-mixture"
        raise ConfigError(
            f"method 'gibbs' takes Gaussian noise only so far (preset {config.name!r} has "
            f"{law} noise); pass noise='gaussian' (--noise gaussian) or fit by 'svi'"
        )
    if model.latent_factors != 1:
        raise ConfigError("latent_factors > 1 is fitted by SVI only; use method='svi'")
    if not data.observed.all():
        column = data.columns[int(np.argmax(~data.observed.all(0)))]
        raise DataError(
            f"method 'gibbs' does not take missing cells yet (column {column!r}); "
            "fit by 'svi' (which masks them) or drop the rows"
        )
    if resolve_batch_size(config.svi, data.n, row_devices()):
        raise ConfigError(
            f"method 'gibbs' starts from a full-batch SVI fit, which takes up to "
            f"{FULL_BATCH_MAX_ROWS:,} rows (here {data.n:,}); fit by 'svi'"
        )


def _settings(config: Config, d: int, binary: tuple[int, ...] = ()) -> SweepSettings:
    m = config.model
    a, b = edge_prior(m, d)
    return SweepSettings(
        order_moves=config.gibbs.order_moves or MOVES_PER_NODE * d,
        priors=node_priors(m),
        edge_a=a,
        edge_b=b,
        dp_shape=m.dp_shape,
        dp_rate=m.dp_rate,
        shift_prior=m.shift_prior,
        noise_loc=m.noise_loc,
        noise_scale=m.noise_scale,
        noise_spike_var=m.shift_spike_scale**2,
        noise_slab_var=m.noise_shift_scale**2,
        binary=binary,
    )


def initial_state(init: dict, config: Config, settings: SweepSettings) -> GibbsState:
    """Chain states ``(chain, ...)`` from constrained starts
    (:func:`~bayes_hcl.inference.nuts.driver.initial_values`): the indicators are the slab
    responsibilities of the start's weights and shifts above 1/2; the binary nodes' noise
    scales held (:func:`~bayes_hcl.inference.gibbs.noise.hold_noiseless`)."""
    m = config.model
    chains = np.shape(init["W"])[0]
    mask = np.asarray(order_mask(np.asarray(init["rank"])))[:, None]  # (C, 1, d, d)
    edge_law = SpikeAndSlab(init["rho"][:, None], init["mu"][:, None], m.spike_scale, m.slab_scale)
    gamma = (np.asarray(edge_law.responsibility(init["W"])) > 0.5) & mask
    shift_law = SpikeAndSlab(m.shift_prior, 0.0, m.shift_spike_scale, m.intercept_scale)
    delta = np.asarray(shift_law.responsibility(init["b_shift"])) > 0.5
    empty = np.zeros((chains, 0), np.float32)
    state = GibbsState(
        rank=jnp.asarray(init["rank"], jnp.int32),
        v=jnp.asarray(init.get("v", empty), jnp.float32),
        alpha=jnp.asarray(init.get("alpha", np.ones(chains)), jnp.float32),
        rho=jnp.asarray(init["rho"], jnp.float32),
        gamma=jnp.asarray(gamma),
        delta=jnp.asarray(delta),
        b_base=jnp.asarray(init["b_base"], jnp.float32),
        mu=jnp.asarray(init["mu"], jnp.float32),
        b=jnp.asarray(init["b_base"][:, None] + init["b_shift"], jnp.float32),
        W=jnp.asarray(init["W"], jnp.float32),
        log_sigma_base=jnp.asarray(init["log_sigma_base"], jnp.float32),
        log_sigma_shift=jnp.asarray(init["log_sigma_shift"], jnp.float32),
    )
    return jax.vmap(hold_noiseless, in_axes=(0, None))(state, settings)


@program_cache(maxsize=8)
def _chunk_program(settings: SweepSettings, length: int):
    """Compiled: ``length`` sweeps of every chain, returning the kept states and statistics
    ``(chain, length, ...)`` (cached per setting and length: a new seed compiles nothing)."""

    def one_chain(key, state, y, x, offset):
        def step(carry, _):
            state, key = carry
            key, sub = jax.random.split(key)
            state, log_lik, moved = sweep(sub, state, y, x, settings, offset)
            return (state, key), (state, log_lik, moved)

        (state, key), trace = jax.lax.scan(step, (state, key), None, length=length)
        return key, state, trace

    return jax.jit(jax.vmap(one_chain, in_axes=(0, 0, None, None, None)))


def _latents(states: GibbsState) -> dict[str, np.ndarray]:
    """The ordered model's latents ``(chain, draw, ...)`` of kept states (names of
    :func:`bayes_hcl.model.program.ordered_model`, ``rank`` for the order)."""
    out = {
        "rank": states.rank,
        "rho": states.rho,
        "mu": states.mu,
        "W": states.W,
        "b_base": states.b_base,
        "b_shift": states.b - states.b_base[..., None, :],
        "log_sigma_base": states.log_sigma_base,
        "log_sigma_shift": states.log_sigma_shift,
    }
    if states.v.shape[-1]:
        out["v"], out["alpha"] = states.v, states.alpha
    return {name: np.asarray(value) for name, value in out.items()}


def _responses(data: PreparedData) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """``y``, ``x`` and ``offset`` as the sweep takes them: a continuous node's offset moves
    into its response; a binary node keeps its 0/1 and its offset."""
    is_binary = np.asarray(data.types) == "binary"
    y = jnp.asarray(np.where(is_binary, data.y, data.y - data.offset[None, :]), jnp.float32)
    offset = jnp.asarray(np.where(is_binary, data.offset, 0.0), jnp.float32)
    return y, jnp.asarray(data.x, jnp.float32), offset


def _data_settings(data: PreparedData, config: Config) -> SweepSettings:
    binary = np.flatnonzero(np.asarray(data.types) == "binary")
    return _settings(config, data.d, tuple(int(j) for j in binary))


def sample_gibbs(
    data: PreparedData,
    config: Config,
    start: dict | GibbsState,
    *,
    seed: int = 0,
    progress: bool | None = None,
) -> tuple[dict, dict, float]:
    """Run ``gibbs.num_chains`` chains.

    Parameters
    ----------
    data : PreparedData
    config : Config
    start : dict or GibbsState
        Chain states ``(chain, ...)`` (:func:`~bayes_hcl.inference.gibbs.start.chain_starts`)
        or constrained starts (:func:`~bayes_hcl.inference.nuts.driver.initial_values`,
        the first ``num_chains`` taken, through :func:`initial_state`).
    seed : int
    progress : bool, optional

    Returns
    -------
    tuple
        The kept latents ``(chain, draw, ...)``, the per-sweep statistics ``lp`` and
        ``order_changed`` ``(chain, draw)``, and the seconds spent.
    """
    release_if_near_map_limit()
    from tqdm.auto import tqdm

    gibbs = config.gibbs
    num_chains = gibbs.num_chains
    settings = _data_settings(data, config)
    if isinstance(start, GibbsState):
        state = start
    else:
        init = {name: np.asarray(value)[:num_chains] for name, value in start.items()}
        state = initial_state(init, config, settings)
    y, x, offset = _responses(data)
    keys = jax.random.split(jax.random.PRNGKey(seed), num_chains)
    kept = []
    begin = time.perf_counter()
    total = gibbs.num_warmup + gibbs.num_samples
    progress = default_progress() if progress is None else progress
    with tqdm(total=total, desc="Gibbs", disable=not progress, unit="sweep") as bar:
        for phase, count in (("warmup", gibbs.num_warmup), ("sample", gibbs.num_samples)):
            full, rest = divmod(count, CHAIN_CHUNK)
            for length in [CHAIN_CHUNK] * full + ([rest] if rest else []):
                program = _chunk_program(settings, length)
                keys, state, trace = program(keys, state, y, x, offset)
                if phase == "sample":
                    kept.append(jax.tree_util.tree_map(np.asarray, trace))
                bar.update(length)
                bar.set_postfix(phase=phase)
    states, log_lik, moved = jax.tree_util.tree_map(lambda *a: np.concatenate(a, 1), *kept)
    stats = {"lp": log_lik.astype(np.float64), "order_changed": moved}
    return _latents(states), stats, time.perf_counter() - begin


def fit_gibbs(
    data: PreparedData, config: Config, *, seed: int = 0, progress: bool | None = None
) -> GibbsFit:
    """Fit by the Gibbs sampler, initialised from an SVI fit of the same model.

    Parameters
    ----------
    data : PreparedData
    config : Config
        Model, SVI (for the initialisation) and Gibbs settings.
    seed : int
    progress : bool, optional
        Progress bars (default: on unless under CI).

    Returns
    -------
    GibbsFit
    """
    check_gibbs_input(data, config)
    begin = time.perf_counter()
    gibbs = config.gibbs
    enable_compilation_cache()
    svi = fit_svi(data, config, seed=seed, progress=progress)
    y, x, offset = _responses(data)
    start, record = chain_starts(
        svi.restart_summary,
        y,
        x,
        offset,
        _data_settings(data, config),
        num_chains=gibbs.num_chains,
        extra_clusters=gibbs.extra_clusters,
        seed=seed,
    )
    k = start.gamma.shape[1]
    run_config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, max_clusters=k)
    )
    samples, stats, sample_s = sample_gibbs(data, run_config, start, seed=seed, progress=progress)
    fit = chain_fit(GibbsFit, samples, stats, data, run_config, svi, sample_s, begin)
    # which SVI restart each chain started from, and that start's collapsed log posterior
    fit.restart_summary["start_restart"] = record["restart"]
    fit.restart_summary["start_score"] = record["start_score"]
    return fit
