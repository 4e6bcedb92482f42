import numpy as np
import pandas as pd
import pytest

import bayes_hcl as bh
from bayes_hcl.api import _prepare
from tests.conftest import SMALL_FIT


def test_too_few_rows_for_the_number_of_variables():
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(15, 8)), columns=list("abcdefgh"))
    with pytest.raises(bh.DataError, match="15 rows are too few for 8 variables"):
        bh.fit(df, progress=False)


def test_gaussian_preset_treats_every_column_as_continuous():
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {"flag": np.arange(30) % 2, "n": rng.poisson(3, 30), "z": rng.normal(size=30)}
    )
    default, gaussian = bh.load_config("hcl"), bh.load_config("gaussian")
    assert _prepare(df, None, default, "error", None).types == ("binary", "count", "continuous")
    assert _prepare(df, None, gaussian, "error", None).types == ("continuous",) * 3
    # a size-factor column is set aside before the gaussian preset re-encodes the rest
    lib = df.assign(lib=rng.uniform(0.5, 2.0, 30))
    both = _prepare(lib, None, gaussian, "error", "lib")
    assert both.columns == ("flag", "n", "z") and both.types == ("continuous",) * 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "mcmc"}, "method 'mcmc' is not available"),
        ({"seed": -1}, "seed must be"),
        ({"num_warmup": 10}, "num_warmup apply to method='nuts' or 'gibbs' only"),
        ({"method": "nuts", "num_chains": 0}, "num_chains must be a positive integer"),
        ({"model_options": {"max_clusters": 0}}, "max_clusters"),
    ],
)
def test_bad_options_are_config_errors(kwargs, match):
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=list("abc"))
    with pytest.raises(bh.ConfigError, match=match):
        bh.fit(df, **kwargs)


def test_method_names_are_case_insensitive(small_sim):
    df = small_sim.data
    with pytest.raises(bh.ConfigError, match="num_chains must be a positive integer"):
        bh.fit(df, method="NUTS", num_chains=0)  # taken as "nuts", refused before fitting
    with pytest.raises(bh.ConfigError, match=r"num_warmup apply to method='nuts' or 'gibbs' only"):
        bh.fit(df, method="Svi", num_warmup=10)
    with pytest.raises(bh.ConfigError) as err:
        bh.fit(df, method="MCMC")
    message = str(err.value)
    assert "\n" not in message and "'MCMC' is not available" in message
    assert all(name in message for name in bh.api.METHODS)
    # the shape and settings of the session's small fit: its compiled programs are reused
    result = bh.fit(df, method="SVI", seed=0, progress=False, **{**SMALL_FIT, "num_steps": 50})
    assert result.meta["method"] == "svi" and "method='svi'" in result.meta["command"]


def test_an_unknown_noise_law_is_one_line_naming_the_laws():
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 2)), columns=["a", "b"])
    with pytest.raises(bh.ConfigError) as info:
        bh.fit(frame, noise="cauchy", progress=False)
    message = str(info.value)
    assert "\n" not in message and "noise_family 'cauchy'" in message and "skew_t" in message
