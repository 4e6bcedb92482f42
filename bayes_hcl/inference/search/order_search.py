"""Score-based search for the shared causal order, used to initialise SVI.

Gradient descent on node potentials rarely crosses between causal orders: two nodes swap only
if every edge between them is first switched off. This module searches orders directly with a
decomposable Gaussian score computed from per-cluster weighted moments (soft memberships
allowed), then the SVI fit refines the solution in the full model.

The score rewards what makes a shared order identifiable from heterogeneity. For node ``j``
with parents ``P`` it is the best of four mechanism variants, each penalised by BIC:

* ``universal`` — one regression for all clusters;
* ``intercept`` — cluster-specific intercepts, shared weights and noise;
* ``intercept_noise`` — cluster-specific intercepts and noise scales, shared weights;
* ``specific`` — a separate regression per cluster.

In the true order a cluster shift stays on its target and the downstream mechanisms are
universal (few parameters); in a wrong order the shift leaks into every descendant's
mechanism and costs parameters. Parent sets are chosen greedily (forward, then backward).

Binary and count nodes, when :class:`DiscreteNodes` is given, are scored by weighted logistic
and Poisson regressions (:mod:`bayes_hcl.inference.search.glm`) with the universal, intercept
and specific variants (they have no noise scale), in the likelihood the model itself uses for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_hcl.inference.search.glm import GLMFit, fit_glm
from bayes_hcl.vartypes import CATEGORICAL, CONTINUOUS, COUNT

__all__ = [
    "MAX_CANDIDATES",
    "MAX_GLM_NODES",
    "ClusterMoments",
    "DiscreteNodes",
    "OrderSearch",
    "cluster_moments",
    "discrete_nodes",
    "search_order",
]

#: Most candidate parents a node keeps: with more variables than this, each node's candidates
#: are screened to those whose single-parent score gains most, so a node's best parents
#: depend only on which of its few candidates precede it and the search's caches hit (d = 50:
#: the unscreened search took 85 s of a 150 s fit). Smaller problems are searched in full.
MAX_CANDIDATES = 20

#: Most binary/count nodes scored by their own regressions; beyond it every node is scored
#: by the Gaussian score of its covariate ``x`` (standardised 0/1 or log1p count), since an
#: IRLS fit per candidate parent set makes the search scale badly (d = 20 counts: minutes).
MAX_GLM_NODES = 8

_LOG_2PI = float(np.log(2.0 * np.pi))
_RIDGE = 1e-8


@dataclass(frozen=True)
class ClusterMoments:
    """Weighted sufficient statistics of the data within each cluster.

    Attributes
    ----------
    counts : ndarray
        ``(K,)`` soft number of rows per cluster.
    means : ndarray
        ``(K, d)`` weighted means.
    scatter : ndarray
        ``(K, d, d)`` weighted within-cluster scatter (sum of centred outer products).
    """

    counts: np.ndarray
    means: np.ndarray
    scatter: np.ndarray

    @property
    def n(self) -> float:
        """Total soft count."""
        return float(self.counts.sum())


def cluster_moments(x: np.ndarray, resp: np.ndarray, min_count: float = 2.0) -> ClusterMoments:
    """Per-cluster weighted moments of ``x`` ``(n, d)`` under memberships ``resp`` ``(n, K)``.

    Clusters with fewer than ``min_count`` soft rows are dropped.
    """
    x = np.asarray(x, dtype=np.float64)
    resp = np.asarray(resp, dtype=np.float64)
    counts = resp.sum(0)
    keep = counts >= min_count
    resp, counts = resp[:, keep], counts[keep]
    means = (resp.T @ x) / counts[:, None]
    centred = x[None] - means[:, None]  # (K, n, d)
    scatter = np.einsum("nk,kni,knj->kij", resp, centred, centred)
    return ClusterMoments(counts=counts, means=means, scatter=scatter)


@dataclass(frozen=True)
class DiscreteNodes:
    """What the search needs to score binary and count nodes with their own likelihoods.

    Attributes
    ----------
    y : ndarray
        ``(n, d)`` responses (0/1 for binary nodes, counts for count nodes).
    x : ndarray
        ``(n, d)`` covariates, as parents enter the model (the ``x`` of the moments).
    resp : ndarray
        ``(n, K)`` memberships, the same clusters as the moments.
    types : tuple of int
        Type code of every node (``bayes_hcl.model.CONTINUOUS``, ``BINARY``, ``COUNT``).
    log_size : ndarray, optional
        ``(n,)`` log size factors: the offset of every count node's regression.
    """

    y: np.ndarray
    x: np.ndarray
    resp: np.ndarray
    types: tuple[int, ...]
    log_size: np.ndarray | None = None


def discrete_nodes(y, x, resp, types, log_size=None) -> DiscreteNodes | None:
    """The :class:`DiscreteNodes` of a search, or ``None`` (Gaussian scores of ``x`` for
    every node) when no node is discrete or more than :data:`MAX_GLM_NODES` are."""
    # a categorical variable is searched through its score column, as a Gaussian node
    types = tuple(CONTINUOUS if int(t) == CATEGORICAL else int(t) for t in types)
    n_discrete = sum(t != CONTINUOUS for t in types)
    if n_discrete == 0 or n_discrete > MAX_GLM_NODES:
        return None
    return DiscreteNodes(y, x, resp, types, log_size)


def _gauss_loglik(rss, count):
    rss = np.maximum(rss, 1e-12 * count)
    return -0.5 * count * (np.log(rss / count) + _LOG_2PI + 1.0)


class OrderSearch:
    """Local scores, parent selection and order hill-climbing over one set of moments.

    Parameters
    ----------
    moments : ClusterMoments
        Per-cluster statistics (see :func:`cluster_moments`).
    penalty : float
        Multiplier of the BIC penalty ``0.5 log(n)`` per parameter.
    max_parents : int
        Largest parent set considered.
    discrete : DiscreteNodes, optional
        Data for scoring binary and count nodes by logistic and Poisson regressions (their
        variants: universal, cluster intercepts, cluster-specific regression). Without it
        every node gets the Gaussian score of its ``x``.
    """

    def __init__(
        self,
        moments: ClusterMoments,
        penalty: float = 1.0,
        max_parents: int = 6,
        discrete: DiscreteNodes | None = None,
    ):
        if discrete is not None and discrete.resp.shape[1] != len(moments.counts):
            raise ValueError("discrete.resp must have the clusters of the moments")
        self.discrete = discrete
        self.m = moments
        self.k = len(moments.counts)
        self.d = moments.means.shape[1]
        self.max_parents = max_parents
        self.per_param = penalty * 0.5 * np.log(max(moments.n, 2.0))
        self.within = moments.scatter.sum(0)
        grand = moments.counts @ moments.means / moments.n
        between = moments.means - grand
        self.total = self.within + np.einsum("k,ki,kj->ij", moments.counts, between, between)
        self._score_cache: dict[tuple[int, frozenset], tuple[float, str]] = {}
        self._parent_cache: dict[tuple[int, frozenset], tuple[float, frozenset]] = {}
        self._glm_cache: dict[tuple[int, frozenset], dict[str, list[GLMFit]]] = {}
        self._screen: dict[int, frozenset] = {}

    def screened(self, j: int) -> frozenset:
        """Candidate parents of ``j``: all other nodes, or with more than
        :data:`MAX_CANDIDATES` of them those whose single-parent score gains most."""
        if j not in self._screen:
            others = [c for c in range(self.d) if c != j]
            if len(others) > MAX_CANDIDATES:
                gains = [self.local_score(j, frozenset({c}))[0] for c in others]
                keep = np.argsort(gains, kind="stable")[::-1][:MAX_CANDIDATES]
                others = [others[i] for i in keep]
            self._screen[j] = frozenset(others)
        return self._screen[j]

    # -- local scores -------------------------------------------------------------------------
    def local_score(self, j: int, parents: frozenset) -> tuple[float, str]:
        """Best penalised log-likelihood of node ``j`` given ``parents`` and its variant."""
        key = (j, parents)
        if key not in self._score_cache:
            self._score_cache[key] = self._compute(j, sorted(parents))
        return self._score_cache[key]

    def is_discrete(self, j: int) -> bool:
        """Whether node ``j`` is scored by a logistic or Poisson regression."""
        return self.discrete is not None and self.discrete.types[j] != CONTINUOUS

    def _compute(self, j: int, p: list[int]) -> tuple[float, str]:
        if self.is_discrete(j):
            return self._compute_glm(j, p)
        k, n, q = self.k, self.m.n, len(p)
        variants = {"universal": (self._pooled_ll(self.total, j, p, n), q + 2)}
        if k > 1:
            rss_within = self._shared_weights(self.within, j, p)[1]
            variants["intercept"] = (_gauss_loglik(rss_within, n), q + k + 1)
            variants["intercept_noise"] = (self._noise_shift_ll(j, p), q + 2 * k)
            variants["specific"] = (self._specific_ll(j, p), k * (q + 2))
        scored = {name: ll - self.per_param * size for name, (ll, size) in variants.items()}
        best = max(scored, key=scored.get)
        return float(scored[best]), best

    def _compute_glm(self, j: int, p: list[int]) -> tuple[float, str]:
        fits = self._glm_fits(j, frozenset(p))
        k, q = self.k, len(p)
        sizes = {"universal": q + 1, "intercept": q + k, "specific": k * (q + 1)}
        scored = {
            name: sum(f.loglik for f in fit) - self.per_param * sizes[name]
            for name, fit in fits.items()
        }
        best = max(scored, key=scored.get)
        return float(scored[best]), best

    def _glm_fits(self, j: int, parents: frozenset) -> dict[str, list[GLMFit]]:
        """Logistic/Poisson fits of node ``j``: universal, cluster intercepts, per cluster."""
        key = (j, parents)
        if key in self._glm_cache:
            return self._glm_cache[key]
        data, p = self.discrete, sorted(parents)
        n, k = data.resp.shape
        y, family = data.y[:, j], data.types[j]
        covariates = data.x[:, p]
        ones = np.ones((n, 1))
        offset = data.log_size if family == COUNT and data.log_size is not None else np.zeros(n)
        design = np.hstack([ones, covariates])
        fits = {"universal": [fit_glm(design, y, ones[:, 0], family, offset=offset)]}
        if k > 1:
            onehot = np.repeat(np.eye(k), n, axis=0)
            stacked = np.hstack([onehot, np.tile(covariates, (k, 1))])
            fits["intercept"] = [
                fit_glm(
                    stacked,
                    np.tile(y, k),
                    data.resp.T.reshape(-1),
                    family,
                    offset=np.tile(offset, k),
                )
            ]
            fits["specific"] = [
                fit_glm(design, y, data.resp[:, c], family, offset=offset) for c in range(k)
            ]
        self._glm_cache[key] = fits
        return fits

    def _glm_mechanism(self, j: int, parents: frozenset):
        p = sorted(parents)
        variant = self.local_score(j, parents)[1]
        fits, k, q = self._glm_fits(j, parents)[variant], self.k, len(p)
        if variant == "specific":
            coef = np.stack([f.coef for f in fits])
            return p, coef[:, 1:], coef[:, 0], np.ones(k)
        coef = fits[0].coef
        intercepts = np.full(k, coef[0]) if variant == "universal" else coef[:k]
        return p, np.tile(coef[-q:] if q else np.zeros(0), (k, 1)), intercepts, np.ones(k)

    @staticmethod
    def _shared_weights(scatter, j, p):
        if not p:
            return np.zeros(0), scatter[j, j]
        a = scatter[np.ix_(p, p)] + _RIDGE * np.eye(len(p))
        w = np.linalg.solve(a, scatter[p, j])
        return w, scatter[j, j] - scatter[j, p] @ w

    def _pooled_ll(self, scatter, j, p, n):
        return _gauss_loglik(self._shared_weights(scatter, j, p)[1], n)

    def _rss_per_cluster(self, j, p, w):
        s = self.m.scatter
        if not p:
            return s[:, j, j]
        cross = s[:, p, j] @ w
        quad = np.einsum("i,kij,j->k", w, s[:, p][:, :, p], w)
        return s[:, j, j] - 2.0 * cross + quad

    def _noise_shift_ll(self, j, p):
        w = self._noise_shift_weights(j, p)
        return float(_gauss_loglik(self._rss_per_cluster(j, p, w), self.m.counts).sum())

    def _specific_ll(self, j, p):
        s, counts = self.m.scatter, self.m.counts
        if not p:
            return float(_gauss_loglik(s[:, j, j], counts).sum())
        a = s[:, p][:, :, p] + _RIDGE * np.eye(len(p))
        w = np.linalg.solve(a, s[:, p, j][..., None])[..., 0]
        rss = s[:, j, j] - np.einsum("ki,ki->k", s[:, p, j], w)
        return float(_gauss_loglik(rss, counts).sum())

    # -- fitted mechanisms ----------------------------------------------------------------------
    def mechanism(
        self, j: int, parents: frozenset
    ) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
        """Weights ``(K, q)``, intercepts and noise scales ``(K,)`` of node ``j``'s best variant.

        Returns the sorted parent list with the arrays; weights and intercepts are in the
        scale of ``x``, except for discrete nodes (see ``is_discrete``), whose weights and
        intercepts are on the link scale (logit, log rate) and whose noise scales are ones.
        """
        if self.is_discrete(j):
            return self._glm_mechanism(j, parents)
        p = sorted(parents)
        variant = self.local_score(j, parents)[1]
        m = self.m
        if variant == "specific" and p:
            a = m.scatter[:, p][:, :, p] + _RIDGE * np.eye(len(p))
            w = np.linalg.solve(a, m.scatter[:, p, j][..., None])[..., 0]
        elif variant == "universal":
            w = np.broadcast_to(self._shared_weights(self.total, j, p)[0], (self.k, len(p)))
        elif variant == "intercept_noise":
            w = np.broadcast_to(self._noise_shift_weights(j, p), (self.k, len(p)))
        else:
            w = np.broadcast_to(self._shared_weights(self.within, j, p)[0], (self.k, len(p)))
        w = np.array(w)
        intercepts = m.means[:, j] - np.einsum("kq,kq->k", w, m.means[:, p])
        rss = np.array([self._rss_per_cluster(j, p, w[c])[c] for c in range(self.k)])
        if variant in ("universal", "intercept"):
            if variant == "universal":
                grand = m.counts @ m.means / m.n
                intercepts = np.full(self.k, grand[j] - w[0] @ grand[p])
                between = m.counts @ (m.means[:, j] - intercepts - m.means[:, p] @ w[0]) ** 2
                rss = np.full(self.k, (rss.sum() + between) / m.n) * m.counts
            else:
                rss = np.full(self.k, rss.sum() / m.n) * m.counts
        sigma = np.sqrt(np.maximum(rss / m.counts, 1e-6))
        return p, w, intercepts, sigma

    def _noise_shift_weights(self, j, p):
        """Shared weights under per-cluster noise: three rounds of weighted least squares."""
        counts, s = self.m.counts, self.m.scatter
        w = self._shared_weights(self.within, j, p)[0]
        for _ in range(3 if p else 0):
            var = np.maximum(self._rss_per_cluster(j, p, w) / counts, 1e-12)
            w = self._shared_weights((s / var[:, None, None]).sum(0), j, p)[0]
        return w

    # -- parents -------------------------------------------------------------------------------
    def best_parents(self, j: int, candidates: frozenset) -> tuple[float, frozenset]:
        """Greedy (forward then backward) best parent set of ``j`` among ``candidates``
        (restricted to its :meth:`screened` candidates)."""
        candidates = candidates & self.screened(j)
        key = (j, candidates)
        if key in self._parent_cache:
            return self._parent_cache[key]
        current = frozenset()
        score = self.local_score(j, current)[0]
        while len(current) < self.max_parents:
            trials = [(self.local_score(j, current | {c})[0], c) for c in candidates - current]
            if not trials:
                break
            best, c = max(trials)
            if best <= score:
                break
            score, current = best, current | {c}
        improved = True
        while improved and current:
            improved = False
            best, c = max((self.local_score(j, current - {c})[0], c) for c in current)
            if best > score:
                score, current, improved = best, current - {c}, True
        self._parent_cache[key] = (score, current)
        return score, current

    def order_score(self, order: list[int]) -> float:
        """Total score of an order with every node's best parents among its predecessors."""
        return sum(self.best_parents(j, frozenset(order[:i]))[0] for i, j in enumerate(order))

    def parents(self, order: list[int]) -> list[frozenset]:
        """Best parent set of every node (indexed by node) under ``order``."""
        out = [frozenset()] * self.d
        for i, j in enumerate(order):
            out[j] = self.best_parents(j, frozenset(order[:i]))[1]
        return out

    # -- orders --------------------------------------------------------------------------------
    def hill_climb(self, order: list[int], max_sweeps: int = 50) -> tuple[list[int], float]:
        """Improve ``order`` by moving single nodes to better positions until none helps."""
        order = list(order)
        score = self.order_score(order)
        for _ in range(max_sweeps):
            moved = False
            for node in list(order):
                best_order, best_score = order, score
                rest = [v for v in order if v != node]
                for pos in range(len(order)):
                    trial = [*rest[:pos], node, *rest[pos:]]
                    if trial == order:
                        continue
                    s = self.order_score(trial)
                    if s > best_score + 1e-9:
                        best_order, best_score = trial, s
                if best_order is not order:
                    order, score, moved = best_order, best_score, True
            if not moved:
                break
        return order, score


def search_order(
    x: np.ndarray,
    resp: np.ndarray,
    starts: list[list[int]] | None = None,
    *,
    num_random: int = 2,
    seed: int = 0,
    penalty: float = 1.0,
    search: OrderSearch | None = None,
    discrete: DiscreteNodes | None = None,
) -> list[tuple[list[int], float, list[frozenset]]]:
    """Hill-climb causal orders from several starts; best first.

    Parameters
    ----------
    x : ndarray
        ``(n, d)`` standardised data.
    resp : ndarray
        ``(n, K)`` cluster memberships (rows sum to one).
    starts : list of list of int, optional
        Starting orders (node indices, causes first).
    num_random : int
        Extra random starting orders.
    seed : int
        Seed of the random starts.
    penalty : float
        Multiplier of the BIC penalty.
    search : OrderSearch, optional
        A search object already built on these data and memberships (its caches are reused).
    discrete : DiscreteNodes, optional
        Score binary and count nodes by their own regressions (ignored when ``search`` is
        given).

    Returns
    -------
    list of (order, score, parents)
        Distinct local optima sorted by decreasing score; ``parents[j]`` is node ``j``'s set.
    """
    d = x.shape[1]
    rng = np.random.default_rng(seed)
    search = search or OrderSearch(cluster_moments(x, resp), penalty, discrete=discrete)
    starts = [list(s) for s in (starts or [])]
    starts += [list(rng.permutation(d)) for _ in range(num_random)]
    found: dict[tuple[int, ...], float] = {}
    for start in starts:
        order, score = search.hill_climb(start)
        found[tuple(order)] = score
    ranked = sorted(found.items(), key=lambda kv: -kv[1])
    return [(list(o), s, search.parents(list(o))) for o, s in ranked]
