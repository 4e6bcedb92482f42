"""The Gaussian baselines of the benchmarks: GES, and a Gaussian mixture then GES per cluster.

They need the ``bench`` extra (causal-learn, scikit-learn), imported only when a baseline
runs, and read the data as a Gaussian-only method would have to: every column z-scored
(:func:`standardise`). Used by the simulated suites (:mod:`bayes_hcl.bench.suites`), the
single-cell suite (:mod:`bayes_hcl.bench.cells`) and the GES timing of
:mod:`bayes_hcl.bench.scaling`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_hcl.simulate import SimulatedData

__all__ = ["ges", "gmm_labels", "per_cluster_ges", "pooled_graph", "standardise"]


def standardise(data: SimulatedData | pd.DataFrame) -> np.ndarray:
    """The baselines' input: every column z-scored.

    Parameters
    ----------
    data : SimulatedData or pandas.DataFrame
        Simulated data (a categorical column enters by its level code, as a Gaussian-only
        method would have to take it) or a numeric table.

    Returns
    -------
    numpy.ndarray
        ``(n, d)`` array, each column with mean 0 and standard deviation 1.
    """
    x = data.codes() if isinstance(data, SimulatedData) else data.to_numpy(dtype=float)
    return (x - x.mean(0)) / x.std(0)


def ges(x: np.ndarray) -> np.ndarray:
    """CPDAG adjacency from causal-learn's GES (BIC score).

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, d)`` standardised data.

    Returns
    -------
    numpy.ndarray
        ``(d, d)`` 0/1 matrix: ``A[i, j] = 1`` for ``i -> j``, both entries for ``i - j``.

    Raises
    ------
    ImportError
        One line saying how to install causal-learn.
    """
    try:
        from causallearn.search.ScoreBased.GES import ges as causallearn_ges
    except ImportError:  # a user error, reported in one line by the command line
        raise ImportError(
            "the GES baselines need causal-learn: pip install 'bayes_hcl[bench]' "
            "(or pass --no-baselines)"
        ) from None

    g = causallearn_ges(x, score_func="local_score_BIC")["G"].graph
    return ((g == -1) & (g.T == 1)).astype(int) | ((g == -1) & (g.T == -1)).astype(int)


def per_cluster_ges(x: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """GES on the rows of each cluster with more than 5 rows.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, d)`` standardised data.
    labels : numpy.ndarray
        ``(n,)`` cluster of each row.

    Returns
    -------
    dict of int to numpy.ndarray
        The CPDAG adjacency (:func:`ges`) of each cluster.
    """
    return {int(k): ges(x[labels == k]) for k in np.unique(labels) if (labels == k).sum() > 5}


def gmm_labels(x: np.ndarray, seed: int) -> np.ndarray:
    """Clusters of a Gaussian mixture (full covariance), K in 1..5 chosen by BIC.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, d)`` standardised data.
    seed : int
        Seed of scikit-learn's initialisation (3 initialisations per K).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` cluster of each row under the mixture with the lowest BIC.
    """
    from sklearn.mixture import GaussianMixture

    fits = [
        GaussianMixture(k, covariance_type="full", random_state=seed, n_init=3).fit(x)
        for k in range(1, 6)
    ]
    best = min(fits, key=lambda g: g.bic(x))
    return best.predict(x)


def pooled_graph(graphs: dict[int, np.ndarray]) -> np.ndarray:
    """The union of per-cluster graphs: 1 where any cluster has the edge.

    Parameters
    ----------
    graphs : dict of int to numpy.ndarray
        ``(d, d)`` 0/1 adjacency per cluster.

    Returns
    -------
    numpy.ndarray
        ``(d, d)`` 0/1 adjacency.
    """
    return np.clip(sum(graphs.values()), 0, 1)
