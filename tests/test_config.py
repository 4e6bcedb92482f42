from pathlib import Path

import pytest

from bayes_hcl.config import Config, ModelConfig, available_presets, load_config
from bayes_hcl.errors import ConfigError


def test_shipped_presets_load_by_name():
    assert {"hcl", "gaussian", "one_cluster", "robust"} <= set(available_presets())
    assert load_config("robust").model.noise_components == 3
    assert load_config("hcl").model == ModelConfig()
    assert load_config("one_cluster").model.max_clusters == 1
    assert load_config("gaussian").model.force_continuous is True
    assert load_config("heavy_tailed").model.noise_family == "laplace"


def test_preset_loads_by_path_and_applies_overrides(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text("[model]\nmax_clusters = 3\n[svi]\nnum_steps = 100\n")
    cfg = load_config(str(path), svi_overrides={"num_restarts": 2})
    assert (cfg.name, cfg.model.max_clusters, cfg.svi.num_steps, cfg.svi.num_restarts) == (
        "mine",
        3,
        100,
        2,
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[model]\nmax_clusterz = 3\n", r"unknown key model\.'max_clusterz'"),
        ("[svi]\nsteps = 3\n", r"unknown key svi\.'steps'"),
        ("[sampler]\nx = 1\n", r"unknown key 'sampler'"),
        ("[model]\nmax_clusters = -1\n", r"model\.max_clusters must be positive"),
        ("[model]\nmax_clusters = 'four'\n", r"model\.max_clusters .* must be int"),
        ("[model]\ncount_likelihood = 'zip'\n", r"count_likelihood 'zip'"),
        ("[model\n", r"not valid TOML"),
        ("[model]\nnoise_components = 9\n", r"noise_components must lie in 1\.\.8"),
        ("[svi]\nmerge_fraction = 0.7\n", r"merge_fraction must lie in \[0, 0\.5\)"),
        ("[svi]\nmerge_moves = -1\n", r"svi\.merge_moves must be 0 \(off\) or more"),
        ("[svi]\nmerge_moves = 1.5\n", r"svi\.merge_moves .* must be int"),
        ("[svi]\ncoarsening = -5.0\n", r"svi\.coarsening must be 0 \(off\) or a positive"),
        ("[svi]\ncoarsening = 'lots'\n", r"svi\.coarsening .* must be float"),
        ("[svi]\ncoarsening = inf\n", r"svi\.coarsening must be 0 \(off\)"),
    ],
)
def test_bad_preset_is_one_line_error_naming_key(tmp_path: Path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_config(str(path))
    assert "\n" not in str(info.value)


def test_unknown_preset_name_lists_available():
    with pytest.raises(ConfigError, match=r"unknown model preset 'nope'.*hcl"):
        load_config("nope")


def test_config_round_trips_through_dict():
    cfg = load_config("hcl", model_overrides={"max_clusters": 5})
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_noise_family_is_checked():
    with pytest.raises(ConfigError, match="noise_family 'cauchy' is not one of"):
        ModelConfig(noise_family="cauchy")
    with pytest.raises(ConfigError, match="noise_components > 1"):
        ModelConfig(noise_family="laplace", noise_components=3)
