"""Readout of the latent factors of a fit: states, memberships, what each factor shifts.

A fit with ``latent_factors = m`` (see :mod:`bayes_hcl.model.factorial`) has ``m`` independent
hidden factors; a one-factor fit has one, its clusters. For each factor this module gives
the posterior over its number of occupied states, the rows' memberships, the variables whose
mechanism it changes (the "factor -> variable" table), per-state edge probabilities and
effects, and whether the factors are separable (told apart by the data).

*Factor f changes variable j* in a draw when two of its occupied states differ in ``j``'s
intercept or noise scale by more than the spike of the shift prior reaches, or in an
incoming edge weight by more than ``MIN_WEIGHT_CHANGE`` (the rule of
:func:`bayes_hcl.results.mechanisms.mechanism_changes`). An intercept or noise difference is
scored by its responsibility under the spike-and-slab law of a difference of two shifts
(spike and slab sd times ``sqrt(2)``, prior ``shift_prior``); an edge weight change counts 1
on an edge the draw's causal order allows. The draw's value is the largest over the state
pairs and the kinds of change; the table averages it over draws. Two states both shifted by
the same amount away from the universal value change nothing between the factor's states and
are not counted."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from bayes_hcl.metrics import adjusted_rand_index
from bayes_hcl.model.factorial import joint_states_table
from bayes_hcl.results.draws import PosteriorDraws
from bayes_hcl.results.summary import MIN_WEIGHT_CHANGE

__all__ = ["SEPARABLE_MAX_ARI", "FactorReadout", "difference_inclusion"]

#: Largest adjusted Rand index between two factors' partitions at which they still count as
#: separable (independent factors have an expected ARI of 0).
SEPARABLE_MAX_ARI = 0.2


def difference_inclusion(diff: np.ndarray, prior: float, spike: float, slab: float) -> np.ndarray:
    """Probability that a difference of two spike-and-slab values is a real change: its
    responsibility under ``(1 - prior) N(0, 2 spike^2) + prior N(0, 2 slab^2)``."""
    s0, s1 = np.sqrt(2.0) * spike, np.sqrt(2.0) * slab
    log_spike = -0.5 * (diff / s0) ** 2 - np.log(s0) + np.log1p(-prior)
    log_slab = -0.5 * (diff / s1) ** 2 - np.log(s1) + np.log(prior)
    return 1.0 / (1.0 + np.exp(np.clip(log_spike - log_slab, -50, 50)))


class FactorReadout:
    """The latent factors of a fit (``result.factors``).

    Parameters
    ----------
    posterior : PosteriorDraws or HCLResult
        The draws of a fit (``HCLResult.factors`` passes its own); with one latent factor,
        the factor is its clustering.
    """

    def __init__(self, posterior: PosteriorDraws):
        if not isinstance(posterior, PosteriorDraws):  # an HCLResult, as before 0.2
            posterior = PosteriorDraws(posterior.idata)
        self._posterior = posterior
        self.several = posterior.has("factor_log_weights")
        self.n_factors = int(posterior.idata.posterior.sizes["factor"]) if self.several else 1
        self.n_states_max = posterior.config.model.max_clusters
        self.columns = list(posterior.columns)

    # -- arrays -------------------------------------------------------------------------------
    def _slot_draws(self, name: str) -> np.ndarray:
        """``(S, m, K, ...)`` draws of a per-slot site (a one-factor fit: its clusters)."""
        value = self._posterior.draws(name)
        return value if self.several else value[:, None]

    def _membership_draws(self) -> np.ndarray:
        if self.several:
            return self._posterior.draws("factor_membership")
        return self._posterior.draws("membership")[:, :, None, :]

    @cached_property
    def _rows_per_state(self) -> np.ndarray:
        """``(S, m, K)`` expected rows in every state of every factor."""
        if not self.several and self._posterior.compact:
            return self._posterior.draws("cluster_size")[:, None]
        return self._membership_draws().sum(1)

    @cached_property
    def _occupied(self) -> np.ndarray:
        return self._rows_per_state >= self._posterior.min_size

    def _check(self, factor: int) -> None:
        if not 0 <= factor < self.n_factors:
            raise ValueError(f"factor {factor} does not exist (0..{self.n_factors - 1})")

    # -- per factor ---------------------------------------------------------------------------
    def n_states(self, factor: int = 0) -> pd.Series:
        """Posterior probability of each number of occupied states of ``factor``."""
        self._check(factor)
        counts = self._occupied[:, factor].sum(1)
        values = np.bincount(counts, minlength=self.n_states_max + 1) / len(counts)
        return pd.Series(values, index=pd.RangeIndex(len(values), name="states"), name="p")

    def occupied_states(self, factor: int = 0) -> list[int]:
        """States of ``factor`` occupied in at least half the draws."""
        self._check(factor)
        share = self._occupied[:, factor].mean(0)
        keep = np.flatnonzero(share >= 0.5)
        return [int(k) for k in keep] or [int(np.argmax(share))]

    def memberships(self, factor: int = 0) -> pd.DataFrame:
        """Posterior probability of each occupied state of ``factor`` for every row."""
        self._check(factor)
        if self.several:
            mean = self._membership_draws()[:, :, factor].mean(0)
        else:
            mean = self._posterior.mean_membership()
        states = self.occupied_states(factor)
        m = mean[:, states] / np.maximum(mean[:, states].sum(1, keepdims=True), 1e-12)
        return pd.DataFrame(m, columns=states).rename_axis(columns="state")

    def states(self, factor: int = 0) -> np.ndarray:
        """Most probable occupied state of ``factor`` for every row."""
        members = self.memberships(factor)
        return members.columns.to_numpy()[members.to_numpy().argmax(1)]

    def _term_variables(self) -> np.ndarray:
        """Variable of every model column (a categorical variable has one per
        non-reference level, in column order)."""
        levels = self._posterior.levels
        repeats = [
            max(len(levels.get(c, [])) - 1, 1) if kind == "categorical" else 1
            for c, kind in zip(self.columns, self._posterior.types, strict=True)
        ]
        return np.repeat(np.arange(len(self.columns)), repeats)

    @cached_property
    def _change_draws(self) -> np.ndarray:
        """``(S, m, d)`` per draw: does the factor change each variable (see module doc)."""
        cfg = self._posterior.config.model
        b = self._slot_draws("b_shift").astype(np.float64)
        s = self._slot_draws("log_sigma_shift").astype(np.float64)
        w = self._slot_draws("W").astype(np.float64)
        term_var = self._term_variables()
        phi = self._posterior.draws("phi")[:, term_var]
        allowed = phi[:, :, None] < phi[:, None, :]  # (S, D, D) parent before child
        occupied = self._occupied
        m, k = b.shape[1], b.shape[2]
        change = np.zeros((*b.shape[:2], b.shape[-1]))
        p = cfg.shift_prior
        for a in range(k):
            for c in range(a + 1, k):
                both = (occupied[:, :, a] & occupied[:, :, c])[:, :, None]
                intercept = difference_inclusion(
                    b[:, :, a] - b[:, :, c], p, cfg.shift_spike_scale, cfg.intercept_scale
                )
                noise = difference_inclusion(
                    s[:, :, a] - s[:, :, c], p, cfg.shift_spike_scale, cfg.noise_shift_scale
                )
                # a joint state's weight is the mean over the factors' states
                moved = np.abs(w[:, :, a] - w[:, :, c]) / m > MIN_WEIGHT_CHANGE
                edges = (moved & allowed[:, None]).any(2).astype(float)
                pair = np.maximum(np.maximum(intercept, noise), edges)
                change = np.maximum(change, np.where(both, pair, 0.0))
        out = np.zeros((*change.shape[:2], len(self.columns)))
        np.maximum.at(out, (slice(None), slice(None), term_var), change)
        return out

    def shifts(self) -> pd.DataFrame:
        """The "factor -> variable" table: probability that each factor changes each
        variable's mechanism (rows: factors; columns: variables)."""
        table = self._change_draws.mean(0)
        return pd.DataFrame(
            table, index=pd.RangeIndex(self.n_factors, name="factor"), columns=self.columns
        )

    def shifted(self, factor: int = 0, threshold: float = 0.5) -> list[str]:
        """Variables whose mechanism ``factor`` changes with probability above ``threshold``."""
        self._check(factor)
        row = self.shifts().iloc[factor]
        return [c for c in self.columns if row[c] > threshold]

    # -- per state ----------------------------------------------------------------------------
    def _state_weights(self, factor: int) -> np.ndarray:
        """``(S, C, K)`` share of each joint state within every state of ``factor``."""
        weights = np.exp(self._posterior.draws("log_weights").astype(np.float64))  # (S, C)
        if not self.several:
            return np.eye(weights.shape[1])[None].repeat(len(weights), 0)
        m, k = self.n_factors, self.n_states_max
        states = joint_states_table(m, k)[:, factor]  # (C,)
        onehot = np.eye(k)[states]  # (C, K)
        mass = weights[:, :, None] * onehot[None]
        return mass / np.maximum(mass.sum(1, keepdims=True), 1e-300)

    def edge_probabilities(self, factor: int, state: int) -> pd.DataFrame:
        """Edge probabilities in ``state`` of ``factor`` (rows: causes; columns: effects),
        averaged over the other factors' states in proportion to their weights."""
        self._check(factor)
        share = self._state_weights(factor)[:, :, state]
        inclusion = self._posterior.draws("inclusion").astype(np.float64)
        probs = np.einsum("sc,scij->ij", share, inclusion) / len(share)
        return pd.DataFrame(probs, index=self.columns, columns=self.columns).rename_axis(
            index="cause", columns="effect"
        )

    def effects(self, factor: int, threshold: float = 0.5) -> pd.DataFrame:
        """Per state of ``factor``: the weights of every edge into a variable it changes
        (mean, sd and 94 % interval over draws), with the state's edge probability."""
        self._check(factor)
        children = self.shifted(factor, threshold)
        weights = self._posterior.draws("weights").astype(np.float64)
        shares = self._state_weights(factor)
        rows = []
        for state in self.occupied_states(factor):
            w = np.einsum("sc,scij->sij", shares[:, :, state], weights)
            probs = self.edge_probabilities(factor, state)
            for child in children:
                j = self.columns.index(child)
                for i, parent in enumerate(self.columns):
                    if probs.iloc[i, j] <= 0.05:
                        continue
                    lo, hi = np.quantile(w[:, i, j], [0.03, 0.97])
                    rows.append(
                        {
                            "factor": factor,
                            "state": state,
                            "parent": parent,
                            "child": child,
                            "mean": float(w[:, i, j].mean()),
                            "sd": float(w[:, i, j].std()),
                            "hdi_3%": float(lo),
                            "hdi_97%": float(hi),
                            "p_edge": float(probs.iloc[i, j]),
                        }
                    )
        columns = ["factor", "state", "parent", "child", "mean", "sd", "hdi_3%", "hdi_97%"]
        return pd.DataFrame(rows, columns=[*columns, "p_edge"])

    def graph(self, factor: int, state: int, threshold: float = 0.5) -> nx.DiGraph:
        """The causal graph in ``state`` of ``factor``: edges above ``threshold``, with their
        probability; each node records whether the factor changes its mechanism."""
        probs = self.edge_probabilities(factor, state)
        changed = set(self.shifted(factor))
        g = nx.DiGraph()
        g.add_nodes_from((c, {"changed": c in changed}) for c in self.columns)
        for i in self.columns:
            for j in self.columns:
                if probs.loc[i, j] > threshold:
                    g.add_edge(i, j, probability=float(probs.loc[i, j]))
        return g

    # -- all factors --------------------------------------------------------------------------
    def table(self, threshold: float = 0.5) -> pd.DataFrame:
        """One row per factor: most probable number of states, its probability, the
        states' shares of rows and the variables it changes."""
        rows = []
        rows_per_state = self._rows_per_state.mean(0)
        for f in range(self.n_factors):
            post = self.n_states(f)
            states = self.occupied_states(f)
            share = rows_per_state[f, states] / rows_per_state[f].sum()
            rows.append(
                {
                    "factor": f,
                    "n_states": int(post.idxmax()),
                    "p_n_states": float(post.max()),
                    "state_shares": [round(float(v), 4) for v in share],
                    "shifts": self.shifted(f, threshold),
                }
            )
        return pd.DataFrame(rows)

    def separability(self) -> dict[str, Any]:
        """Whether the data tell the factors apart: per pair, the adjusted Rand index of
        their partitions (independent factors: about 0) and the overlap of what they
        change; a factor with one state cannot be separated from the universal model."""
        states = {f: self.states(f) for f in range(self.n_factors)}
        sets = {f: set(self.shifted(f)) for f in range(self.n_factors)}
        singles = [f for f in range(self.n_factors) if len(self.occupied_states(f)) < 2]
        pairs = []
        for f in range(self.n_factors):
            for g in range(f + 1, self.n_factors):
                ari = adjusted_rand_index(states[f], states[g])
                union = sets[f] | sets[g]
                jaccard = len(sets[f] & sets[g]) / len(union) if union else float("nan")
                reasons = []
                if f in singles or g in singles:
                    reasons.append("a factor has a single occupied state")
                if abs(ari) > SEPARABLE_MAX_ARI:
                    reasons.append(f"their partitions agree (ARI {ari:.2f})")
                pairs.append(
                    {
                        "factors": [f, g],
                        "separable": not reasons,
                        "ari": float(ari),
                        "shift_jaccard": jaccard,
                        "reason": "; ".join(reasons) or None,
                    }
                )
        return {
            "factors": self.to_dict()["factors"],
            "pairs": pairs,
            "single_state_factors": singles,
        }

    def to_dict(self, threshold: float = 0.5) -> dict[str, Any]:
        """``factors.json``: per factor its number of states and the probability that it
        changes each variable (``docs/outputs.md``)."""
        shifts = self.shifts()
        table = self.table(threshold)
        return {
            "factors": [
                {
                    "factor": int(row.factor),
                    "n_states": int(row.n_states),
                    "p_n_states": float(row.p_n_states),
                    "state_shares": list(row.state_shares),
                    "shifts": {c: float(shifts.loc[row.factor, c]) for c in self.columns},
                    "shifted": list(row.shifts),
                }
                for row in table.itertuples()
            ]
        }

    def __repr__(self) -> str:
        parts = [
            f"factor {row.factor}: {row.n_states} states, shifts {row.shifts}"
            for row in self.table().itertuples()
        ]
        return f"FactorReadout({'; '.join(parts)})"
