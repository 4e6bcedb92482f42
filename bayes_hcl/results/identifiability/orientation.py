"""Why an edge's orientation can (or cannot) be read from the data.

Three sources of orientation, each checked on the fitted graph and the data:

* **v-structure** — the edge is compelled in the CPDAG of the fitted pooled DAG (a collider
  ``i -> j <- k`` with ``i, k`` non-adjacent, or an orientation Meek's rules propagate from
  one). This holds for any likelihood.
* **mechanism change** — the edge is compelled only once the latent cluster is added as an
  exogenous node ``C`` pointing into every variable whose mechanism changes across clusters
  (the CD-NOD / joint-causal-inference construction). ``C -> j <- i`` with ``i`` unchanged is
  a collider; ``C -> i - j`` with ``j`` unchanged orients ``i -> j`` by Meek's first rule. If
  both endpoints change, ``C`` orients nothing between them.
* **non-Gaussian noise** — under a likelihood that models non-Gaussian noise, a linear edge is
  oriented when at least one endpoint's residual is non-Gaussian (LiNGAM; Shimizu et al. 2006).
  A Gaussian likelihood never uses this reason, whatever the residuals look like.

:class:`OrderEvidence` gives the number behind each call: the BIC-penalised log-likelihood
(nats) of the best graph in the fitted order minus that of the best graph in the nearest
orders that put the effect before the cause, with each node's mechanism variant (universal,
cluster intercepts, cluster noise, cluster-specific regression) chosen by BIC within the
clusters (see :class:`bayes_hcl.inference.search.order_search.OrderSearch`), plus, for
a non-Gaussian likelihood, ``n`` times each residual's negentropy (the pairwise-LiNGAM
likelihood ratio of Hyvärinen & Smith, 2013).
"""

from __future__ import annotations

import numpy as np

from bayes_hcl.inference.search.order_search import OrderSearch

__all__ = [
    "ORIENTATION_REASONS",
    "OrderEvidence",
    "cluster_residuals",
    "cpdag",
    "jarque_bera",
    "meek_closure",
    "negentropy",
    "orientation_reasons",
    "standardise_per_cluster",
]

ORIENTATION_REASONS = ("v-structure", "mechanism change", "non-Gaussian noise")

# Hyvärinen's negentropy approximation: J(u) ~ K1 (E log cosh u - GAMMA)^2 + K2 (E u e^{-u^2/2})^2
_K1, _K2, _GAMMA = 79.047, 7.4129, 0.37457


def meek_closure(directed: np.ndarray, undirected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply Meek's rules R1–R4 until nothing changes.

    Parameters
    ----------
    directed : ndarray of bool ``(d, d)``
        ``directed[a, b]``: the edge ``a -> b`` is oriented.
    undirected : ndarray of bool ``(d, d)``
        Symmetric; ``undirected[a, b]``: ``a - b`` is not oriented yet.

    Returns
    -------
    tuple of ndarray
        The closed ``(directed, undirected)`` pair (copies).
    """
    dr, ud = directed.astype(bool).copy(), undirected.astype(bool).copy()
    changed = True
    while changed:
        changed = False
        adj = dr | dr.T | ud
        for a, b in zip(*np.nonzero(np.triu(ud)), strict=True):
            for x, y in ((a, b), (b, a)):
                if ud[x, y] and _meek_orients(dr, ud, adj, x, y):
                    dr[x, y], ud[x, y], ud[y, x] = True, False, False
                    changed = True
                    adj = dr | dr.T | ud
                    break
    return dr, ud


def _meek_orients(dr, ud, adj, a: int, b: int) -> bool:
    """Whether some Meek rule orients the undirected edge ``a - b`` as ``a -> b``."""
    # R1: c -> a - b with c, b non-adjacent
    if np.any(dr[:, a] & ~adj[:, b] & (np.arange(len(dr)) != b)):
        return True
    # R2: a -> c -> b
    if np.any(dr[a] & dr[:, b]):
        return True
    # R3: a - c -> b and a - d -> b with c, d non-adjacent
    mids = np.flatnonzero(ud[a] & dr[:, b])
    if any(not adj[c, e] for i, c in enumerate(mids) for e in mids[i + 1 :]):
        return True
    # R4: a - c -> d -> b, c and b non-adjacent, a adjacent to d
    for c in np.flatnonzero(ud[a] & ~adj[:, b]):
        if c != b and np.any(dr[c] & dr[:, b] & adj[a]):
            return True
    return False


def cpdag(dag: np.ndarray, roots: np.ndarray | None = None) -> np.ndarray:
    """Orientations shared by every DAG Markov equivalent to ``dag`` (its CPDAG).

    Parameters
    ----------
    dag : ndarray ``(d, d)``
        0/1 adjacency of an acyclic graph, ``dag[i, j] = 1`` for ``i -> j``.
    roots : ndarray of bool ``(d,)``, optional
        Background knowledge: nodes known to have no parents (every edge at a root points out
        of it), as an exogenous cluster node does.

    Returns
    -------
    ndarray of bool ``(d, d)``
        ``out[i, j]`` where ``i -> j`` is compelled; an edge left undirected has neither entry.
    """
    g = np.asarray(dag, dtype=bool)
    adj = g | g.T
    # a collider a -> c <- b with a, b non-adjacent is compelled
    non_adjacent = ~adj & ~np.eye(len(g), dtype=bool)
    collider = g & ((non_adjacent.astype(int) @ g.astype(int)) > 0)
    directed = collider | _root_edges(g, roots)
    undirected = adj & ~directed & ~directed.T
    return meek_closure(directed, undirected)[0]


def _root_edges(g: np.ndarray, roots: np.ndarray | None) -> np.ndarray:
    if roots is None:
        return np.zeros_like(g)
    return g & np.asarray(roots, dtype=bool)[:, None]


def orientation_reasons(
    dag: np.ndarray, changed: np.ndarray, non_gaussian: np.ndarray | None = None
) -> list[list[list[str]]]:
    """Every reason that orients each edge of ``dag`` (``out[i][j]``, possibly empty).

    Parameters
    ----------
    dag : ndarray ``(d, d)``
        The fitted pooled DAG (0/1).
    changed : ndarray of bool ``(d,)``
        Variables whose mechanism changes across clusters (all False with one cluster).
    non_gaussian : ndarray of bool ``(d,)``, optional
        Variables whose residual is non-Gaussian *under a likelihood that models it*; leave
        out for a Gaussian likelihood.
    """
    g = np.asarray(dag, dtype=bool)
    d = len(g)
    plain = cpdag(g)
    changed = np.asarray(changed, dtype=bool)
    augmented = np.zeros((d + 1, d + 1), dtype=bool)
    augmented[:d, :d], augmented[d, :d] = g, changed
    roots = np.r_[np.zeros(d, dtype=bool), True]
    hetero = cpdag(augmented, roots)[:d, :d] if changed.any() else np.zeros_like(g)
    ng = np.zeros(d, dtype=bool) if non_gaussian is None else np.asarray(non_gaussian, bool)
    v_structure, mechanism, non_gaussian_noise = ORIENTATION_REASONS
    out: list[list[list[str]]] = [[[] for _ in range(d)] for _ in range(d)]
    for i, j in zip(*np.nonzero(g), strict=True):
        found = []
        if plain[i, j]:
            found.append(v_structure)
        if hetero[i, j] and not plain[i, j]:
            found.append(mechanism)
        if ng[i] or ng[j]:
            found.append(non_gaussian_noise)
        out[i][j] = found
    return out


def negentropy(u: np.ndarray) -> float:
    """Hyvärinen's approximation of the negentropy of ``u`` after standardisation (>= 0)."""
    u = np.asarray(u, dtype=float)
    u = u[np.isfinite(u)]
    sd = u.std()
    if len(u) < 3 or sd <= 0:
        return 0.0
    z = (u - u.mean()) / sd
    log_cosh = np.mean(np.log(np.cosh(z)))
    gauss_weighted = np.mean(z * np.exp(-(z**2) / 2))
    return float(_K1 * (log_cosh - _GAMMA) ** 2 + _K2 * gauss_weighted**2)


def jarque_bera(u: np.ndarray) -> tuple[float, float, float, float]:
    """Skewness, excess kurtosis, Jarque–Bera statistic and its chi-square(2) p-value."""
    u = np.asarray(u, dtype=float)
    u = u[np.isfinite(u)]
    n = len(u)
    sd = u.std()
    if n < 3 or sd <= 0:
        return 0.0, 0.0, 0.0, 1.0
    z = (u - u.mean()) / sd
    skew, kurt = float(np.mean(z**3)), float(np.mean(z**4) - 3.0)
    stat = n / 6.0 * (skew**2 + kurt**2 / 4.0)
    return skew, kurt, float(stat), float(np.exp(-stat / 2.0))


def cluster_residuals(
    x: np.ndarray, labels: np.ndarray, j: int, parents, standardise: bool = False
) -> np.ndarray:
    """Residual ``(n,)`` of node ``j`` regressed on ``parents`` by least squares per cluster.

    With ``standardise`` each cluster's residuals are divided by their own sd (see
    :func:`standardise_per_cluster`). Rows of a cluster too small to leave a residual (at most
    ``len(parents) + 2`` rows) are NaN; :func:`negentropy` and :func:`jarque_bera` ignore them.
    """
    out = np.full(len(x), np.nan)
    p = sorted(parents)
    for k in np.unique(labels):
        rows = labels == k
        if rows.sum() <= len(p) + 2:
            continue  # too few rows to leave a residual: NaN, skipped by the tests below
        design = np.column_stack([np.ones(rows.sum()), x[rows][:, p]])
        beta, *_ = np.linalg.lstsq(design, x[rows, j], rcond=None)
        out[rows] = x[rows, j] - design @ beta
    return standardise_per_cluster(out, labels) if standardise else out


def standardise_per_cluster(residual: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Divide each cluster's residuals by their own sd, so clusters with different noise
    scales do not pool into a heavy-tailed (scale-mixture) residual."""
    out = residual.copy()
    for k in np.unique(labels):
        rows = labels == k
        out[rows] = residual[rows] / max(float(np.std(residual[rows])), 1e-12)
    return out


class OrderEvidence:
    """BIC evidence for ``i`` before ``j`` in the fitted order against the nearest orders
    with ``j`` before ``i``.

    ``score(order)`` is the decomposable score of the best graph consistent with ``order``
    (greedy parent sets,
    :meth:`~bayes_hcl.inference.search.order_search.OrderSearch.order_score`), plus, for
    nodes modelled with non-Gaussian noise (pass every continuous node under a non-Gaussian
    likelihood), ``n`` times the negentropy of their standardised within-cluster residuals.
    ``delta(i, j)`` is the best score found among orders with ``i`` before ``j`` minus the best
    among orders with ``j`` before ``i``: hill climbs (single-node moves, at most ``max_sweeps``
    sweeps) from the fitted order and from the two nearest reversed orders, moving ``j`` just
    before ``i`` or ``i`` just after ``j``. Every alternative is a DAG (a
    single-edge reversal can close a cycle) and may add the edges it needs, so the evidence
    for a collider is what the extra edge costs, not the fit of a graph that cannot represent
    the data; the climb reaches Markov-equivalent orders that one move cannot (a chain
    reversed end to end), which then score the same under one Gaussian cluster (delta 0).
    The climb is local: a better reversed order it misses would make ``delta`` too large,
    which is why the report also requires a structural reason.
    """

    def __init__(
        self,
        search: OrderSearch,
        order: list[int],
        x: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        non_gaussian_nodes: np.ndarray | None = None,
        max_sweeps: int = 3,
    ):
        self.search, self.order = search, list(order)
        self.x, self.labels = x, labels
        self.ng = non_gaussian_nodes
        self._ng_cache: dict[tuple[int, frozenset], float] = {}
        self.max_sweeps = max_sweeps

    def _negentropy_term(self, j: int, parents: frozenset) -> float:
        key = (j, parents)
        if key not in self._ng_cache:
            r = cluster_residuals(self.x, self.labels, j, parents, standardise=True)
            self._ng_cache[key] = len(r) * negentropy(r)
        return self._ng_cache[key]

    def score(self, order: list[int]) -> float:
        """Score of the best graph consistent with ``order``."""
        total = self.search.order_score(order)
        if self.ng is not None and self.ng.any():
            for j, parents in enumerate(self.search.parents(order)):
                if self.ng[j]:
                    total += self._negentropy_term(j, parents)
        return float(total)

    def adjacency(self, i: int, j: int) -> float:
        """Evidence (nats) that ``i`` and ``j`` are adjacent: the later one's best local
        score among its predecessors minus the best without the earlier one as a parent."""
        first, later = sorted((i, j), key=self.order.index)
        preds = frozenset(self.order[: self.order.index(later)])
        with_edge = self.search.best_parents(later, preds)[0]
        return float(with_edge - self.search.best_parents(later, preds - {first})[0])

    def delta(self, i: int, j: int, movable: set[int] | None = None) -> float:
        """Evidence (nats) for ``i`` before ``j`` against the best order found with ``j``
        before ``i``.

        ``movable``: the nodes the climb may move (default: all). Without any (an empty set)
        only the two nearest orders are scored, which gives an upper bound.
        """
        order = self.order
        if order.index(i) > order.index(j):
            return -self.delta(j, i, movable)
        rest = [v for v in order if v != j]
        before = [*rest[: rest.index(i)], j, *rest[rest.index(i) :]]
        rest = [v for v in order if v != i]
        after = [*rest[: rest.index(j) + 1], i, *rest[rest.index(j) + 1 :]]
        nodes = set(order) if movable is None else set(movable)
        best = max(self._climb(start, j, i, nodes) for start in (before, after))
        # climb the fitted side too, so gains elsewhere in the order do not count as evidence
        return self._climb(order, i, j, nodes) - best

    def _climb(self, order: list[int], first: int, second: int, movable: set[int]) -> float:
        """Hill-climb single-node moves among orders that keep ``first`` before ``second``."""
        score = self.score(order)
        for _ in range(self.max_sweeps if movable else 0):
            moved = False
            for node in [v for v in order if v in movable]:
                rest = [v for v in order if v != node]
                for pos in range(len(order)):
                    trial = [*rest[:pos], node, *rest[pos:]]
                    if trial == order or trial.index(first) > trial.index(second):
                        continue
                    value = self.score(trial)
                    if value > score + 1e-9:
                        order, score, moved = trial, value, True
                        break
            if not moved:
                break
        return score
