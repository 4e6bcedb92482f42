"""Data-parallel fits over several JAX devices and hosts: rows sharded, the rest replicated.

When JAX sees more than one device (several GPUs, CPU devices made with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``, or the devices of several processes
joined by :func:`initialize_distributed`), the rows of the data, of every minibatch and of
every evaluation block are split evenly over the devices with a
``jax.sharding.NamedSharding``; the restarts' parameters and every program's outputs are
replicated. XLA's SPMD partitioner then runs each device's share of the likelihood and sums
the gradients across devices. Rows are padded to a multiple of the device count with copies
of row 0 whose log-likelihood weight is 0. ``BAYES_HCL_DEVICES=1`` keeps a single-process fit
on one device.

Several processes (hosts) run the same program on the same data file and seed: each puts
its own devices' shares of the rows in place (``jax.make_array_from_callback``), the
host-side steps (the order search, the summaries) repeat identically on every process, and
the command line writes its outputs from process 0 only.
"""

from __future__ import annotations

import functools
import os

import jax
import numpy as np

from bayes_hcl.errors import ConfigError

__all__ = [
    "initialize_distributed",
    "is_main_process",
    "pad_rows",
    "replicated",
    "row_devices",
    "shard_rows",
]


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Join this process to a multi-process (multi-host) run before any fit.

    A thin wrapper of ``jax.distributed.initialize``: on Slurm, Open MPI or a TPU pod every
    argument may be left out; elsewhere give the coordinator's ``host:port``, the number of
    processes and this process's index (0 … ``num_processes - 1``). On CPUs the processes
    exchange their partial sums through Gloo. Every process then calls ``fit`` with the same
    data and seed.
    """
    # CPU devices sum across processes through Gloo (no effect on GPU or TPU); asking for
    # the backend here would start it, which initialize() must precede
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )


def is_main_process() -> bool:
    """Whether this process writes outputs (process 0 of a multi-process run)."""
    return jax.process_index() == 0


def row_devices() -> int:
    """Number of devices the rows are split over: every device (of every process), unless
    the environment variable ``BAYES_HCL_DEVICES`` asks a single process for fewer."""
    available = jax.device_count()
    wanted = os.environ.get("BAYES_HCL_DEVICES", "").strip()
    if not wanted:
        return available
    if not wanted.isdigit() or int(wanted) < 1:
        raise ConfigError(f"BAYES_HCL_DEVICES must be a positive integer, got {wanted!r}")
    if jax.process_count() > 1 and int(wanted) != available:
        raise ConfigError(
            f"BAYES_HCL_DEVICES={wanted}: a multi-process run uses all {available} devices"
        )
    return min(available, int(wanted))


@functools.lru_cache(maxsize=8)
def _mesh(devices: int) -> jax.sharding.Mesh:
    return jax.sharding.Mesh(np.array(jax.devices()[:devices]), ("rows",))


def replicated(devices: int) -> jax.sharding.NamedSharding:
    """Every device holds the whole array (the programs' outputs on several devices)."""
    return jax.sharding.NamedSharding(_mesh(devices), jax.sharding.PartitionSpec())


def shard_rows(arrays: tuple, rows: int, devices: int, axis: int = 0) -> tuple:
    """Place every array whose axis ``axis`` has ``rows`` entries on the devices, split along
    it (each process supplies its own devices' shares); other entries (``None``, a shared
    offset) pass through."""
    if devices == 1:
        return arrays
    mesh = _mesh(devices)
    out = []
    for a in arrays:
        if a is None or np.ndim(a) <= axis or a.shape[axis] != rows:
            out.append(a)
            continue
        host = np.asarray(a)
        spec = jax.sharding.PartitionSpec(*([None] * axis), "rows")
        sharding = jax.sharding.NamedSharding(mesh, spec)
        out.append(jax.make_array_from_callback(host.shape, sharding, lambda i, h=host: h[i]))
    return tuple(out)


def pad_rows(arrays: tuple, n: int, multiple: int) -> tuple[tuple, np.ndarray | None]:
    """Pad the row axis (0) of ``arrays`` to a multiple of ``multiple`` with copies of row 0.

    Returns the padded arrays (``None`` entries and arrays without a row axis unchanged) and
    the rows' log-likelihood weights (1 for real rows, 0 for padding), or ``None`` when no
    padding is needed.
    """
    extra = -n % multiple
    if extra == 0:
        return arrays, None
    rows = np.concatenate([np.arange(n), np.zeros(extra, dtype=int)])
    padded = tuple(a if a is None or np.ndim(a) < 2 or a.shape[0] != n else a[rows] for a in arrays)
    return padded, (np.arange(n + extra) < n).astype(np.float32)
