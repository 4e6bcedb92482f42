"""Recovery from numerical faults: a restart whose chunk of steps goes non-finite is rolled back
and goes on with smaller steps; after too many faults it is given up.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from bayes_hcl.errors import ConvergenceWarning

__all__ = ["MAX_RECOVERIES", "RECOVERY_FACTOR", "Recovery"]


#: A restart whose chunk of steps meets a non-finite ELBO or parameter goes back to its state
#: before the chunk and on with its learning rate times ``RECOVERY_FACTOR``; after more than
#: ``MAX_RECOVERIES`` such faults it is given up (weight 0 in the posterior).
RECOVERY_FACTOR = 0.2
MAX_RECOVERIES = 3


def _finite_restarts(states) -> np.ndarray:
    """``(R,)`` whether every parameter and optimiser moment of each restart is finite."""
    finite = None
    for leaf in jax.tree_util.tree_leaves(states):
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            continue
        ok = np.isfinite(np.asarray(leaf)).reshape(leaf.shape[0], -1).all(axis=1)
        finite = ok if finite is None else finite & ok
    return finite


def _where_restarts(mask: np.ndarray, chosen, other):
    """Per restart: ``chosen``'s state where ``mask`` ``(R,)`` holds, else ``other``'s."""
    pick = jnp.asarray(mask)

    def one(a, b):
        return jnp.where(pick.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)

    return jax.tree_util.tree_map(one, chosen, other)


class Recovery:
    """Numerical faults of the restarts: detection, roll-back, smaller steps, giving up."""

    def __init__(self, restarts: int):
        self.scale = np.ones(restarts, dtype=np.float32)
        self.faults = np.zeros(restarts, dtype=int)
        self.last_loss: np.ndarray | None = None  # each restart's last finite chunk

    def check(self, states, previous, loss: np.ndarray):
        """``states`` with every restart whose chunk went non-finite put back to
        ``previous`` (its state before the chunk), its learning rate reduced; the step count
        goes on, so the schedules stay in step. Raises once every restart is given up."""
        bad = ~(np.isfinite(loss).all(axis=1) & _finite_restarts(states))
        if self.last_loss is None:
            self.last_loss = np.where(bad[:, None], np.nan, loss)
        else:
            self.last_loss = np.where(bad[:, None], self.last_loss, loss)
        if not bad.any():
            return states
        self.faults[bad] += 1
        self.scale[bad] *= RECOVERY_FACTOR
        self._raise_if_none_left()
        restored = _where_restarts(bad, previous, states)
        _, opt_state = restored.optim_state
        return restored._replace(optim_state=(states.optim_state[0], opt_state))

    def continue_from(self, sources: np.ndarray) -> None:
        """Slot ``r`` now continues restart ``sources[r]``: it takes over its step size and
        last finite loss. Its fault count stays with the slot, so the warning and the
        ``faults`` record still report every fault each slot met, and a slot that keeps
        faulting is given up whatever state it holds."""
        self.scale = self.scale[sources]
        if self.last_loss is not None:
            self.last_loss = self.last_loss[sources]

    def keep_finite(self, states, previous):
        """``states`` (re-started ones) with any non-finite restart kept at ``previous``."""
        bad = ~_finite_restarts(states)
        return _where_restarts(bad, previous, states) if bad.any() else states

    def given_up(self) -> np.ndarray:
        return self.faults > MAX_RECOVERIES

    def _raise_if_none_left(self) -> None:
        if self.given_up().all():
            raise FloatingPointError(
                f"every SVI restart met a non-finite ELBO more than {MAX_RECOVERIES} times, "
                "even at smaller step sizes; look for extreme values in the data, or lower "
                "svi.learning_rate"
            )

    def report(self, score: np.ndarray) -> np.ndarray:
        """Scores with given-up restarts removed; warns about any fault."""
        self._raise_if_none_left()
        if self.faults.any():
            hit = np.flatnonzero(self.faults)
            warnings.warn(
                f"SVI restarts {hit.tolist()} met a non-finite ELBO "
                f"({self.faults[hit].tolist()} times) and went back to their last finite "
                f"state with smaller steps; restarts given up: "
                f"{np.flatnonzero(self.given_up()).tolist()}",
                ConvergenceWarning,
                stacklevel=3,
            )
        return np.where(self.given_up(), -np.inf, score)
