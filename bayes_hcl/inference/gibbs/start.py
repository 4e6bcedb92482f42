"""Where Gibbs chains start: the SVI restarts' partitions and orders, scored by the sampler's
own target.

SVI weighs its restarts by a Laplace-style ELBO, which can put all its weight on a restart
that splits one population in two while another restart has the true partition (measured on
the speed benchmark's data: weight 1.00 on a three-cluster restart; the chains then needed
about 1,000 sweeps to drain the spurious cluster). The starts here do not inherit that
choice. Every restart not given up yields, per chain, a candidate:

1. its guide-median partition (clusters relabelled by size) and causal order, its edge
   indicators from its inclusion probabilities, every shift indicator on, each cluster's
   log noise scale from a ridge fit of its rows;
2. ``START_SWEEPS`` half sweeps given those memberships
   (:func:`~bayes_hcl.inference.gibbs.sweep.update_given_memberships`), which draw the
   order, indicators, parameters, sticks and noise from their conditionals;
3. greedy merges: while merging some cluster into another raises the collapsed log
   posterior (:func:`merge_gain`; the data's collapsed likelihood with the stick fractions
   integrated out), the best such merge is made;
4. its score, the collapsed log posterior :func:`log_posterior` of the state reached.

Chain ``c`` starts from candidate ``c`` of a restart whose best candidate scores within
``START_WINDOW`` nats of the overall best, the restarts taken in turn, best first: chains
start in different orders and partitions where the data leave more than one plausible, and
no chain starts in a restart the target rules out. Where a start is set is a choice of
initial values only; the chains' invariant distribution is untouched.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betaln, gammaln

from bayes_hcl.inference.gibbs.augment import sufficient_statistics
from bayes_hcl.inference.gibbs.conjugate import plug_in_log_noise
from bayes_hcl.inference.gibbs.noise import hold_noiseless, log_noise_prior
from bayes_hcl.inference.gibbs.state import (
    GibbsState,
    SweepSettings,
    SweepStats,
    order_mask,
    per_node,
)
from bayes_hcl.inference.gibbs.sweep import (
    all_evidence,
    cluster_loglik,
    update_given_memberships,
)
from bayes_hcl.model.priors import stick_fractions

__all__ = [
    "START_SWEEPS",
    "START_WINDOW",
    "assign_starts",
    "chain_starts",
    "log_partition_prior",
    "log_posterior",
    "merge_gain",
    "relabel_by_size",
    "start_candidates",
]

START_SWEEPS = 3  # half sweeps given a candidate's memberships, before and after its merges
START_WINDOW = 10.0  # nats below the best start at which a restart gets no chain


def log_partition_prior(count: jnp.ndarray, alpha) -> jnp.ndarray:
    """``log p(z | alpha)`` of memberships with cluster sizes ``count`` ``(K,)`` under the
    truncated stick-breaking prior, the stick fractions integrated out:
    ``sum_{k < K} log B(1 + n_k, alpha + n_{>k}) - log B(1, alpha)``."""
    if count.shape[0] == 1:
        return jnp.zeros(())
    tail = jnp.cumsum(count[::-1])[::-1][1:]
    return (betaln(1.0 + count[:-1], alpha + tail) - betaln(1.0, alpha)).sum()


def log_posterior(state: GibbsState, stats: SweepStats, settings: SweepSettings):
    """The collapsed log posterior of a state given the memberships behind ``stats``: the
    data's log likelihood with the weights, universal mechanisms and intercepts integrated
    out, the memberships' prior with the sticks integrated out, and the priors of the edge
    and shift indicators, edge propensities, noise scales and concentration (binary nodes:
    of their Pólya-Gamma augmented regressions, at the augmentation drawn)."""
    allowed = order_mask(state.rank)
    rho = state.rho
    edges = jnp.where(state.gamma, jnp.log(rho), jnp.log1p(-rho))
    edges = jnp.where(allowed[None], edges, 0.0).sum()
    a, b = settings.edge_a, settings.edge_b
    propensity = ((a - 1) * jnp.log(rho) + (b - 1) * jnp.log1p(-rho) - betaln(a, b)).sum()
    p = settings.shift_prior
    shifts = jnp.where(state.delta, np.log(p), np.log1p(-p)).sum()
    shape, rate = settings.dp_shape, settings.dp_rate
    concentration = (
        shape * np.log(rate) - gammaln(shape) + (shape - 1) * jnp.log(state.alpha)
        - rate * state.alpha
    )  # fmt: skip
    return (
        all_evidence(stats, state, settings).sum()
        + log_partition_prior(stats.count, state.alpha)
        + edges
        + propensity
        + shifts
        + log_noise_prior(state, settings)
        + concentration
    )


def _merged(stats: SweepStats, into, source) -> SweepStats:
    """The statistics once cluster ``source``'s rows join cluster ``into``."""

    def move(a, axis):
        a = jnp.moveaxis(a, axis, 0)
        a = a.at[into].add(a[source]).at[source].set(0.0)
        return jnp.moveaxis(a, 0, axis)

    return SweepStats(move(stats.zz, 1), move(stats.zy, 0), move(stats.yy, 0), move(stats.count, 0))


def merge_gain(state: GibbsState, stats: SweepStats, settings: SweepSettings) -> jnp.ndarray:
    """``(K, K)``: the change of the collapsed log posterior when cluster ``e``'s rows join
    cluster ``c`` (entry ``[c, e]``), which keeps its indicators and noise scales; ``-inf``
    where ``c == e`` or either is empty."""
    k = stats.count.shape[0]
    base = all_evidence(stats, state, settings).sum() + log_partition_prior(
        stats.count, state.alpha
    )

    def gain(into, source):
        merged = _merged(stats, into, source)
        value = all_evidence(merged, state, settings).sum()
        return value + log_partition_prior(merged.count, state.alpha) - base

    into, source = jnp.meshgrid(jnp.arange(k), jnp.arange(k), indexing="ij")
    gains = jax.vmap(jax.vmap(gain))(into, source)
    valid = (into != source) & (stats.count[:, None] > 0) & (stats.count[None, :] > 0)
    return jnp.where(valid, gains, -jnp.inf)


def relabel_by_size(labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``(n,)`` renumbered so cluster 0 is the largest (ties by old label), and the
    old label of each new one ``(k,)``."""
    labels = np.asarray(labels)
    old = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    new = np.empty(k, int)
    new[old] = np.arange(k)
    return new[labels], old


def _initial(labels, rank, inclusion, stats: SweepStats, settings: SweepSettings):
    """A candidate's state before its half sweeps (``inclusion`` ``(K, d, d)``)."""
    k, d = inclusion.shape[0], rank.shape[0]
    occupied = stats.count > 0
    gamma = (inclusion > 0.5) & order_mask(rank)[None]
    zeros = jnp.zeros((k, d))
    state = GibbsState(
        rank=rank,
        v=jnp.full((k - 1,), 0.5),
        alpha=jnp.ones(()),
        rho=jnp.full((d, d), settings.edge_a / (settings.edge_a + settings.edge_b)),
        gamma=gamma,
        delta=jnp.broadcast_to(occupied[:, None], (k, d)),
        b_base=jnp.zeros(d),
        mu=jnp.zeros((d, d)),
        b=zeros,
        W=jnp.zeros((k, d, d)),
        log_sigma_base=jnp.zeros(d),
        log_sigma_shift=zeros,
    )
    node_stats, allowed, gamma_t, delta, _ = per_node(state, stats, settings)
    levels = jax.vmap(plug_in_log_noise, in_axes=(0, 0, 0, 0, None))(
        node_stats, allowed, gamma_t, delta, settings.priors
    ).T  # (K, d)
    weight = occupied[:, None].astype(levels.dtype)
    base = (levels * weight).sum(0) / jnp.maximum(weight.sum(), 1.0)
    shift = jnp.where(occupied[:, None], levels - base[None], 0.0)
    return hold_noiseless(state._replace(log_sigma_base=base, log_sigma_shift=shift), settings)


def _candidate(rng_key, labels, rank, inclusion, y, x, offset, settings: SweepSettings):
    """One candidate (module docstring, steps 2 to 4): its state, merged labels and score."""
    k = inclusion.shape[0]
    design = jnp.concatenate([jnp.ones((y.shape[0], 1), y.dtype), x], axis=1)

    def statistics(key, state, labels):
        onehot = jax.nn.one_hot(labels, k, dtype=y.dtype)
        if settings.binary:  # Pólya-Gamma draws at the state's predictors
            _, eta = cluster_loglik(state, y, x, offset, settings)
        else:
            eta = jnp.zeros((y.shape[0], k, y.shape[1]), y.dtype)
        stats = sufficient_statistics(key, onehot, design, y, eta, offset, settings)
        return onehot, eta, stats

    def half_sweeps(key, state, labels):
        def step(state, key):
            k_stats, k_sweep = jax.random.split(key)
            onehot, eta, _ = statistics(k_stats, state, labels)
            keys = jax.random.split(k_sweep, 7)
            state, _ = update_given_memberships(keys, state, onehot, eta, y, x, offset, settings)
            return state, None

        state, _ = jax.lax.scan(step, state, jax.random.split(key, START_SWEEPS))
        return state

    def merge(_, carry):
        state, labels, key = carry
        key, sub = jax.random.split(key)
        _, _, stats = statistics(sub, state, labels)
        gains = merge_gain(state, stats, settings)
        best = jnp.argmax(gains)
        into, source = best // k, best % k
        take = gains.ravel()[best] > 0.0
        labels = jnp.where(take & (labels == source), into, labels)
        return state, labels, key

    k_init, k_first, k_merge, k_second, k_score = jax.random.split(rng_key, 5)
    onehot = jax.nn.one_hot(labels, k, dtype=y.dtype)
    eta = jnp.zeros((y.shape[0], k, y.shape[1]), y.dtype)
    stats = sufficient_statistics(k_init, onehot, design, y, eta, offset, settings)
    state = _initial(labels, rank, inclusion, stats, settings)
    state = half_sweeps(k_first, state, labels)
    state, labels, _ = jax.lax.fori_loop(0, k - 1, merge, (state, labels, k_merge))
    state = half_sweeps(k_second, state, labels)
    _, _, stats = statistics(k_score, state, labels)
    return state, labels, log_posterior(state, stats, settings)


@functools.lru_cache(maxsize=8)
def _candidates_program(settings: SweepSettings):
    """Compiled: every (restart, chain) candidate, vmapped over both (cached per setting)."""
    candidate = functools.partial(_candidate, settings=settings)
    one = jax.vmap(candidate, in_axes=(0, None, None, None, None, None, None))
    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, None, None, None)))


def start_candidates(rng_key, labels, rank, inclusion, y, x, offset, settings, num_chains):
    """Candidates ``(restart, chain, ...)``: states, merged labels and scores.

    ``labels`` ``(R, n)`` are the restarts' partitions (clusters numbered by size),
    ``rank`` ``(R, d)`` their orders and ``inclusion`` ``(R, K, d, d)`` their per-cluster
    inclusion probabilities in the same numbering.
    """
    keys = jax.random.split(rng_key, labels.shape[0] * num_chains)
    keys = keys.reshape(labels.shape[0], num_chains, *keys.shape[1:])
    program = _candidates_program(settings)
    return program(keys, labels, rank, inclusion, y, x, offset)


def assign_starts(scores: np.ndarray, window: float = START_WINDOW) -> np.ndarray:
    """``(C,)``: the restart each chain starts from, given candidate scores ``(R, C)``
    (module docstring): restarts within ``window`` nats of the best, best first, in turn."""
    best = np.where(np.isfinite(scores), scores, -np.inf).max(1)
    if not np.isfinite(best).any():
        raise FloatingPointError("no Gibbs start has a finite log posterior")
    ranked = [int(r) for r in np.argsort(-best, kind="stable") if best[r] >= best.max() - window]
    return np.array([ranked[c % len(ranked)] for c in range(scores.shape[1])])


def _restart_inputs(summary: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The usable restarts (finite score) and their partitions, orders and inclusion
    probabilities, clusters numbered by size."""
    usable = np.flatnonzero(np.isfinite(summary["score"]))
    k = summary["inclusion"].shape[1]
    labels, inclusion = [], []
    for r in usable:
        new, old = relabel_by_size(summary["partition"][r], k)
        labels.append(new)
        inclusion.append(summary["inclusion"][r][old])
    rank = np.argsort(np.argsort(summary["order"][usable], -1), -1)
    return usable, np.stack(labels), rank, np.stack(inclusion)


def _cut(states: GibbsState, labels: np.ndarray, extra_clusters: int) -> GibbsState:
    """Chain states ``(C, ...)`` with clusters renumbered by size and cut to the most any
    chain occupies plus ``extra_clusters``; stick fractions from the cluster sizes (each
    cluster given at least 2 % weight)."""
    chains, k = labels.shape[0], states.gamma.shape[1]
    orders = [relabel_by_size(labels[c], k)[1] for c in range(chains)]
    occupied = max(len(np.unique(row)) for row in labels)
    keep = min(k, occupied + extra_clusters)
    index = np.stack([o[:keep] for o in orders])  # (C, keep): old cluster of each new one
    fields = {}
    for name in ("gamma", "delta", "b", "W", "log_sigma_shift"):
        value = np.asarray(getattr(states, name))
        fields[name] = jnp.asarray(np.stack([value[c][index[c]] for c in range(chains)]))
    counts = np.stack([np.bincount(labels[c], minlength=k)[index[c]] for c in range(chains)])
    weights = np.maximum(counts / labels.shape[1], 0.02)
    weights /= weights.sum(-1, keepdims=True)
    v = np.stack([stick_fractions(w) for w in weights]) if keep > 1 else np.zeros((chains, 0))
    return states._replace(v=jnp.asarray(v, jnp.float32), **fields)


def chain_starts(
    summary: dict, y, x, offset, settings: SweepSettings, *, num_chains: int,
    extra_clusters: int, seed: int,
) -> tuple[GibbsState, dict]:  # fmt: skip
    """The chains' starting states ``(num_chains, ...)`` from an SVI fit's
    ``restart_summary`` (module docstring), and a record of the choice: each chain's SVI
    restart (``restart``) and its start's score (``start_score``), and every candidate's
    score (``scores`` ``(R, C)``, rows for the usable restarts ``usable``)."""
    usable, labels, rank, inclusion = _restart_inputs(summary)
    occupied = max(len(np.unique(row)) for row in labels)
    k = min(inclusion.shape[1], occupied + extra_clusters)
    states, merged, scores = start_candidates(
        jax.random.PRNGKey(seed), jnp.asarray(labels, jnp.int32), jnp.asarray(rank, jnp.int32),
        jnp.asarray(inclusion[:, :k]), y, x, offset, settings, num_chains,
    )  # fmt: skip
    scores = np.asarray(scores, np.float64)
    choice = assign_starts(scores)
    # chains sharing a restart take its candidates best first
    ranked = np.argsort(-scores, axis=1, kind="stable")
    chains = np.array([ranked[r, (choice[:c] == r).sum()] for c, r in enumerate(choice)])
    picked = jax.tree_util.tree_map(lambda a: np.asarray(a)[choice, chains], states)
    start = _cut(picked, np.asarray(merged)[choice, chains], extra_clusters)
    record = {
        "restart": usable[choice],
        "start_score": scores[choice, chains],
        "candidate": chains,
        "usable": usable,
        "scores": scores,
    }
    return start, record
