"""Compile once: new seeds, step counts and data values of the same shape reuse the traced
programs."""

import pytest

import bayes_hcl
from bayes_hcl.simulate.sem import simulate


def test_new_seed_and_new_values_reuse_the_compiled_programs(model_traces):
    options = {"num_steps": 100, "num_restarts": 2, "num_samples": 20, "progress": False}
    bayes_hcl.fit(simulate(57, d=4, seed=1).data, seed=0, **options)
    first = model_traces["traces"]
    assert first > 0
    # other values, another seed, the same shape and types: nothing is traced again
    bayes_hcl.fit(simulate(57, d=4, seed=2).data, seed=7, **options)
    assert model_traces["traces"] == first
    # another step count: the schedules take it as an argument, nothing is traced again
    bayes_hcl.fit(simulate(57, d=4, seed=2).data, seed=7, **{**options, "num_steps": 150})
    assert model_traces["traces"] == first
    # settings the programs never read (pruning, the search's timing, a preset's name)
    config = bayes_hcl.load_config(
        "heavy_tailed",
        model_overrides={"noise_family": "skew_t"},
        svi_overrides={"prune_fraction": 0.05, "order_search_at": 0.4, "anneal_fraction": 0.5},
    )
    bayes_hcl.fit(simulate(57, d=4, seed=2).data, model=config, seed=7, **options)
    assert model_traces["traces"] == first


def test_cost_model_divides_step_time_by_rows_clusters_and_squared_variables():
    import pandas as pd

    from bayes_hcl.bench.scaling import cost_model

    table = pd.DataFrame(
        {
            "n": [2000, 2000, 4000],
            "d": [10, 10, 20],
            "max_clusters": [8, 8, 4],
            "seed": [0, 1, 0],
            "steps_per_s": [200.0, 100.0, 50.0],
        }
    )
    out = cost_model(table).set_index(["n", "d"])
    # median of 5 ms and 10 ms per step over 2000 * 8 * 100 units
    assert out.loc[(2000, 10), "step_ms"] == pytest.approx(7.5)
    assert out.loc[(2000, 10), "us_per_unit"] == pytest.approx(7.5e3 / 1.6e6)
    assert out.loc[(4000, 20), "us_per_unit"] == pytest.approx(20e3 / (4000 * 4 * 400))
