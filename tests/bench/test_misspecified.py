"""The misspecified-data benchmark's own arithmetic: outliers and the speed table."""

import numpy as np
import pandas as pd
import pytest

from bayes_hcl.bench.misspecified import contaminate, median_walls


def test_contaminate_moves_one_cell_in_the_given_share_of_rows_by_the_given_size():
    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.normal(size=(400, 5)), columns=list("abcde"))
    out = contaminate(data, 0.05, 8.0, np.random.default_rng(1))
    moved = out.to_numpy() != data.to_numpy()
    assert moved.sum() == 20 and moved.any(axis=1).sum() == 20  # one cell in each of 20 rows
    shift = np.abs((out.to_numpy() - data.to_numpy())[moved])
    assert shift == pytest.approx(8.0 * data.to_numpy().std(axis=0)[np.nonzero(moved)[1]])
    assert out.columns.tolist() == data.columns.tolist()


def test_median_walls_leaves_out_the_compiling_data_set_and_pairs_the_ratios():
    rows = []
    walls = {  # (law): (gaussian, skew_t); the first data set compiles both
        "first": (30.0, 40.0),
        "a": (4.0, 5.0),
        "b": (6.0, 6.0),
        "c": (10.0, 15.0),
    }
    for law, (g, s) in walls.items():
        rows += [
            {"seed": 0, "true_k": 2, "law": law, "family": "gaussian", "wall_s": g},
            {"seed": 0, "true_k": 2, "law": law, "family": "skew_t", "wall_s": s},
        ]
    table = median_walls(pd.DataFrame(rows)).set_index("family")
    assert table.loc["gaussian", "median_wall_s"] == 6.0
    assert table.loc["skew_t", "median_wall_s"] == 6.0
    # ratios per data set 1.25, 1.0, 1.5: their median, not the ratio of the medians
    assert table.loc["skew_t", "ratio_to_gaussian"] == pytest.approx(1.25)
    assert table.loc["gaussian", "ratio_to_gaussian"] == 1.0
