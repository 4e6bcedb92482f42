"""Where Gibbs chains start: the SVI restarts' partitions and orders, scored by the sampler's
own target.

SVI weighs its restarts by a Laplace-style ELBO, which can put all its weight on a restart
that splits one population in two while another restart has the true partition (measured on
the speed benchmark's data: weight 1.00 on a three-cluster restart; the chains then needed
about 1,000 sweeps to drain the spurious cluster). The starts here do not inherit that
choice. Every restart not given up yields a candidate:

1. its guide-median partition (clusters relabelled by size) and causal order, its edge
   indicators from its inclusion probabilities, every shift indicator on, each cluster's
   log noise scale from a ridge fit of its rows (``_initial``);
2. its score (:func:`partition_score`): the collapsed log posterior :func:`log_posterior`
   of that state (weights, mechanisms, intercepts and sticks integrated out), corrected by
   the rows' membership probabilities into an estimate of the data's marginal likelihood;
   a function of the partition, order and indicators, free of Monte Carlo noise;
3. greedy merges: while merging some cluster into another raises the score
   (:func:`merge_scores`), the best such merge is made; the chain's parameters are then
   drawn from their conditional given the merged partition.

Each chain takes a candidate of a restart whose score is within ``START_WINDOW`` nats of the
best, the restarts taken in turn, best first (each chain its own draw of the parameters):
chains start in different orders and partitions where the data leave more than one
plausible, and no chain starts in a restart the target rules out. Where a chain starts is a
choice of initial values only; its invariant distribution is untouched. The steps run one
candidate after another (``lax.map``): vmapped over candidates, jaxlib 0.10's XLA:CPU
crashed in a YNNPACK fusion on the speed benchmark's data.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betaln, gammaln

from bayes_hcl.inference.compiled import program_cache
from bayes_hcl.inference.gibbs.augment import sufficient_statistics
from bayes_hcl.inference.gibbs.noise import hold_noiseless, log_noise_prior
from bayes_hcl.inference.gibbs.state import (
    GibbsState,
    SweepSettings,
    SweepStats,
    order_mask,
)
from bayes_hcl.inference.gibbs.sweep import (
    all_evidence,
    all_plug_in,
    cluster_loglik,
    draw_parameters,
)
from bayes_hcl.model.priors import stick_fractions

__all__ = [
    "START_WINDOW",
    "assign_starts",
    "chain_starts",
    "log_partition_prior",
    "log_posterior",
    "merge_scores",
    "partition_score",
    "relabel_by_size",
    "start_candidates",
]

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


def partition_score(rng_key, labels, rank, inclusion, y, x, offset, settings: SweepSettings):
    """Score of a partition ``labels`` ``(n,)`` with a restart's order and inclusion
    probabilities ``(K, d, d)``: :func:`log_posterior` at ``_initial``'s indicators and
    noise scales, plus ``-sum_i log r_{i z_i}``, each row's membership probability given
    the clusters' posterior-mean parameters.

    The collapsed posterior scores the memberships jointly with the data, ``p(y, z)``; the
    correction turns it into an estimate of ``p(y)`` (``p(y) = p(y, z) / p(z | y)``, the
    memberships' posterior taken row by row), so two populations that overlap, whose rows
    could each belong to either, are not merged for the ``n log 2`` nats a hard split of
    them costs. Returns the score, the state (parameters at their means) and the statistics.
    """
    k = inclusion.shape[0]
    design = jnp.concatenate([jnp.ones((y.shape[0], 1), y.dtype), x], axis=1)
    eta = jnp.zeros((y.shape[0], k, y.shape[1]), y.dtype)
    onehot = jax.nn.one_hot(labels, k, dtype=y.dtype)
    # binary nodes: Pólya-Gamma draws at zero linear predictors (a start has no
    # parameters yet), enough to weigh partitions against each other
    stats = sufficient_statistics(rng_key, onehot, design, y, eta, offset, settings)
    state = _initial(rank, inclusion, stats, settings)
    state = draw_parameters(rng_key, state, stats, settings, mean_only=True)
    loglik, _ = cluster_loglik(state, y, x, offset, settings)
    log_weight = jnp.where(stats.count > 0, jnp.log(stats.count / y.shape[0]), -jnp.inf)
    logits = loglik + log_weight[None]
    log_r = logits - jax.scipy.special.logsumexp(logits, axis=1, keepdims=True)
    correction = -(onehot * jnp.where(onehot > 0, log_r, 0.0)).sum()
    return log_posterior(state, stats, settings) + correction, state, stats


def merge_scores(rng_key, labels, rank, inclusion, y, x, offset, settings: SweepSettings):
    """``(K, K)``: :func:`partition_score` once cluster ``e``'s rows join cluster ``c``
    (entry ``[c, e]``); ``-inf`` where ``c == e`` or either is empty."""
    k = inclusion.shape[0]
    count = jnp.bincount(labels, length=k)

    def score(into, source):
        merged = jnp.where(labels == source, into, labels)
        return partition_score(rng_key, merged, rank, inclusion, y, x, offset, settings)[0]

    into, source = jnp.meshgrid(jnp.arange(k), jnp.arange(k), indexing="ij")
    scores = jax.vmap(jax.vmap(score))(into, source)
    valid = (into != source) & (count[:, None] > 0) & (count[None, :] > 0)
    return jnp.where(valid, scores, -jnp.inf)


def relabel_by_size(labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``(n,)`` renumbered so cluster 0 is the largest (ties by old label), and the
    old label of each new one ``(k,)``."""
    labels = np.asarray(labels)
    old = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    new = np.empty(k, int)
    new[old] = np.arange(k)
    return new[labels], old


def _initial(rank, inclusion, stats: SweepStats, settings: SweepSettings):
    """A candidate's indicators and noise scales given its statistics, parameters zero
    (``inclusion`` ``(K, d, d)``: the restart's inclusion probabilities)."""
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
    levels = all_plug_in(stats, state, settings)  # (K, d)
    weight = occupied[:, None].astype(levels.dtype)
    base = (levels * weight).sum(0) / jnp.maximum(weight.sum(), 1.0)
    shift = jnp.where(occupied[:, None], levels - base[None], 0.0)
    return hold_noiseless(state._replace(log_sigma_base=base, log_sigma_shift=shift), settings)


def _candidate(rng_key, labels, rank, inclusion, y, x, offset, settings: SweepSettings):
    """One candidate (module docstring): its state, merged labels and score."""
    k = inclusion.shape[0]
    k_score, k_params = jax.random.split(rng_key)
    args = (rank, inclusion, y, x, offset, settings)

    def merge(_, carry):
        labels, current = carry
        scores = merge_scores(k_score, labels, *args)
        best = jnp.argmax(scores)
        into, source = best // k, best % k
        take = scores.ravel()[best] > current
        labels = jnp.where(take & (labels == source), into, labels)
        return labels, jnp.where(take, scores.ravel()[best], current)

    current = partition_score(k_score, labels, *args)[0]
    labels, current = jax.lax.fori_loop(0, k - 1, merge, (labels, current))
    _, state, stats = partition_score(k_score, labels, *args)
    return draw_parameters(k_params, state, stats, settings), labels, current


@program_cache(maxsize=8)
def _candidates_program(settings: SweepSettings):
    """Compiled: the candidates one after another (``lax.map``; one candidate's program,
    cached per setting)."""

    def run(keys, labels, rank, inclusion, y, x, offset):
        def one(item):
            key, restart = item
            return _candidate(
                key, labels[restart], rank[restart], inclusion[restart], y, x, offset, settings
            )

        restarts = jnp.repeat(jnp.arange(labels.shape[0]), keys.shape[0] // labels.shape[0])
        return jax.lax.map(one, (keys, restarts))

    return jax.jit(run)


def start_candidates(rng_key, labels, rank, inclusion, y, x, offset, settings, num_chains):
    """Candidates ``(restart, chain, ...)``: states, merged labels and scores.

    ``labels`` ``(R, n)`` are the restarts' partitions (clusters numbered by size),
    ``rank`` ``(R, d)`` their orders and ``inclusion`` ``(R, K, d, d)`` their per-cluster
    inclusion probabilities in the same numbering.
    """
    restarts = labels.shape[0]
    keys = jax.random.split(rng_key, restarts * num_chains)
    program = _candidates_program(settings)
    out = program(keys, labels, rank, inclusion, y, x, offset)
    return jax.tree_util.tree_map(lambda a: a.reshape(restarts, num_chains, *a.shape[1:]), out)


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
    if usable.size == 0:
        raise FloatingPointError("no SVI restart has a finite score to start a Gibbs chain from")
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
