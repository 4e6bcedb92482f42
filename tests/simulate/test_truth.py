"""The truth object of every simulator: its per-class likelihood, pickling and replacing."""

import dataclasses
import pickle

import numpy as np
import pytest

from bayes_hcl.metrics import adjusted_rand_index
from bayes_hcl.simulate import (
    FactorData,
    SimulatedData,
    SingleCellData,
    simulate,
    simulate_factors,
    simulate_single_cell,
)

MAKERS = {
    "sem": lambda: simulate(
        [40, 30], d=6, count_fraction=0.3, categorical_fraction=0.2, noise="laplace", seed=7
    ),
    "cells": lambda: simulate_single_cell(90, 8, 3, seed=7),
    "factors": lambda: simulate_factors(60, 6, (2, 3), 2, seed=7),
}


@pytest.mark.parametrize("name", MAKERS)
def test_every_result_is_simulated_data_that_survives_pickle_and_replace(name):
    sim = MAKERS[name]()
    assert isinstance(sim, SimulatedData)
    loglik = sim.class_loglik()
    assert loglik.shape == (len(sim.labels), sim.weights.shape[0])
    again = pickle.loads(pickle.dumps(sim))
    assert type(again) is type(sim) and again.data.equals(sim.data)
    assert np.array_equal(again.class_loglik(), loglik)
    assert np.array_equal(again.bayes_labels(), sim.bayes_labels())
    shorter = dataclasses.replace(sim, shift_targets=())
    assert type(shorter) is type(sim)
    assert np.array_equal(shorter.bayes_labels(), sim.bayes_labels())


def test_single_cell_states_are_told_apart_by_their_own_law():
    sim = simulate_single_cell(300, 12, 2, mean_shift=2.0, seed=1)
    assert isinstance(sim, SingleCellData) and sim.settings["kind"] == "single_cell"
    assert adjusted_rand_index(sim.labels, sim.bayes_labels()) > 0.5
    fields = {f.name: getattr(sim, f.name) for f in dataclasses.fields(sim)}
    # a plain SimulatedData of single-cell data (as 0.1.0 pickled it) keeps the single-cell law
    as_old = SimulatedData(**fields)
    assert np.array_equal(as_old.class_loglik(), sim.class_loglik())
    # the plain SEM law (Poisson counts with log-rate 5 + eta / 2) is another likelihood
    as_sem = SimulatedData(**{**fields, "settings": {**sim.settings, "kind": "sem"}})
    assert not np.allclose(as_sem.class_loglik(), sim.class_loglik())


def test_factor_truth_lists_the_factors():
    sim = MAKERS["factors"]()
    assert isinstance(sim, FactorData)
    truth = sim.truth()
    assert truth["factor_targets"] == [list(t) for t in sim.factor_targets]
    assert len(truth["factor_labels"]) == 2


def test_draws_keep_their_order():
    # integer readouts of the draws, as the generators gave them before the modules were split:
    # any change to the order of the random draws moves them
    sem = MAKERS["sem"]()
    assert sem.order.tolist() == [5, 2, 4, 0, 3, 1]
    assert sem.shift_targets == ("X2", "X1")
    cells = MAKERS["cells"]()
    assert cells.order.tolist() == [1, 0, 2, 7, 6, 5, 4, 3]
    assert cells.labels[:12].tolist() == [0, 0, 2, 0, 2, 1, 0, 0, 0, 2, 2, 2]
    assert cells.library_size[:4].tolist() == [5990, 3909, 4574, 5919]
    factors = MAKERS["factors"]()
    assert factors.order.tolist() == [2, 3, 4, 5, 0, 1]
    assert factors.labels[:12].tolist() == [1, 2, 3, 3, 1, 0, 1, 4, 1, 3, 3, 4]
    assert factors.factor_targets == (("X1", "X3"), ("X0", "X5"))
