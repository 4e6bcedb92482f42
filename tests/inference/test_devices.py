"""Data-parallel fits: rows split over two CPU devices give the one-device fit."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bayes_hcl.errors import ConfigError
from bayes_hcl.inference.devices import pad_rows, row_devices

TWO_DEVICES = """
import json, os, sys, warnings
import numpy as np
import bayes_hcl as bh
from bayes_hcl.metrics import adjusted_rand_index
warnings.simplefilter("ignore")
# 301 rows: padded to 302 for two devices
sim = bh.simulate([150, 151], d=4, n_clusters=2, mean_shift=3.0, seed=2)
options = dict(seed=0, num_steps=150, num_restarts=2, num_samples=40, max_clusters=3)
batch = None if sys.argv[1] == "full" else 64
out = {}
for batch in (batch,):
    fits = []
    for devices in ("1", "2"):
        os.environ["BAYES_HCL_DEVICES"] = devices
        fits.append(bh.fit(sim.data, batch_size=batch, progress=False, **options))
    one, two = fits
    p1, p2 = (f.edge_probabilities().to_numpy() for f in fits)
    out[str(batch)] = {
        "devices": [one.meta["devices"], two.meta["devices"]],
        "ari": adjusted_rand_index(one.clusters(), two.clusters()),
        "edge_diff": float(np.abs(p1 - p2).max()),
        "rows": [len(one.clusters()), len(two.clusters()), len(two.memberships())],
    }
print(json.dumps(out))
"""


def _one_and_two_devices(kind: str) -> dict:
    """Fit the same data on one and on two CPU devices in a fresh process."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "CI": "true"}
    env.pop("BAYES_HCL_DEVICES", None)
    done = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES, kind],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check_match(fit: dict) -> None:
    assert fit["devices"] == [1, 2]
    assert fit["rows"] == [301, 301, 301]  # a padding row never reaches the results
    assert fit["ari"] == 1.0
    # the same model and data; only the order of the sums over rows differs
    assert fit["edge_diff"] <= 0.02, fit


@pytest.mark.slow  # 41 s; the sharding helpers are tested below one by one
def test_rows_split_over_two_devices_match_the_one_device_fit():
    _check_match(_one_and_two_devices("full")["None"])  # 301 rows padded to 302


@pytest.mark.slow  # 27 s
def test_minibatches_split_over_two_devices_match_the_one_device_fit():
    _check_match(_one_and_two_devices("minibatch")["64"])


def test_padding_rows_get_zero_weight():
    y = np.arange(10.0).reshape(5, 2)
    offset = np.zeros(2)
    (py, poff, pobs), weight = pad_rows((y, offset, None), 5, 4)
    assert py.shape == (8, 2) and np.array_equal(py[5:], np.repeat(y[:1], 3, axis=0))
    assert poff is offset and pobs is None
    np.testing.assert_array_equal(weight, [1, 1, 1, 1, 1, 0, 0, 0])
    assert pad_rows((y,), 5, 5)[1] is None


def test_device_count_can_be_limited(monkeypatch):
    monkeypatch.setenv("BAYES_HCL_DEVICES", "1")
    assert row_devices() == 1
    monkeypatch.setenv("BAYES_HCL_DEVICES", "64")
    assert row_devices() >= 1


@pytest.mark.parametrize("value", ["0", "-3", "x"])
def test_bad_device_count_is_refused(monkeypatch, value):
    monkeypatch.setenv("BAYES_HCL_DEVICES", value)
    with pytest.raises(ConfigError, match="BAYES_HCL_DEVICES must be a positive integer"):
        row_devices()


def test_importing_the_package_leaves_jax_uninitialised():
    # jax.distributed.initialize must run before JAX starts a backend
    code = (
        "from jax._src import xla_bridge\n"
        "import bayes_hcl, bayes_hcl.cli, bayes_hcl.viz.report\n"
        "print(xla_bridge.backends_are_initialized())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


DISTRIBUTED = """
import json, sys, warnings
warnings.simplefilter("ignore")
import bayes_hcl as bh
process, port, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if process >= 0:
    bh.initialize_distributed(f"localhost:{port}", 2, process)
sim = bh.simulate([150, 151], d=4, n_clusters=2, mean_shift=3.0, seed=2)
batch = None if kind == "full" else 64
r = bh.fit(sim.data, seed=0, num_steps=150, num_restarts=2, num_samples=40, max_clusters=3,
           batch_size=batch, progress=False)
print(json.dumps({"devices": r.meta["devices"], "edges": r.edge_probabilities().values.tolist(),
                  "clusters": r.clusters().tolist()}))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # 3 fits, two of them in parallel processes: about a minute
@pytest.mark.parametrize("kind", ["full", "minibatch"])
def test_two_processes_give_the_one_process_fit(kind):
    env = {**os.environ, "CI": "true"}
    env.pop("XLA_FLAGS", None)
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DISTRIBUTED, str(p), port, kind],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for p in (0, 1)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    single = subprocess.run(
        [sys.executable, "-c", DISTRIBUTED, "-1", port, kind],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    alone = json.loads(single.stdout.strip().splitlines()[-1])
    assert [r["devices"] for r in results] == [2, 2] and alone["devices"] == 1
    assert results[0] == results[1]  # every process holds the same result
    assert results[0]["clusters"] == alone["clusters"]
    diff = np.abs(np.array(results[0]["edges"]) - np.array(alone["edges"])).max()
    assert diff <= 0.02, diff
