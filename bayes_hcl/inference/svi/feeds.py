"""What feeds an SVI fit's compiled programs rows: all of them, or minibatches.

:func:`programs_and_feed` picks, from the configuration and the data size, the full-batch
programs and :class:`FullBatch` (the data put on the device(s) once) or the minibatch
programs and :class:`~bayes_hcl.inference.svi.minibatch.RowSource`. Both feeds answer
``batch()`` (rows for one step), ``chunk()`` (rows for one chunk of steps) and
``summary_rows()`` (rows for a summary of every restart).
"""

from __future__ import annotations

import jax.numpy as jnp

from bayes_hcl.config import Config
from bayes_hcl.data.prepared import PreparedData
from bayes_hcl.inference.devices import pad_rows, row_devices, shard_rows
from bayes_hcl.inference.svi.minibatch import RowSource, batched_programs, resolve_batch_size
from bayes_hcl.inference.svi.programs import data_args, programs, shape_config

__all__ = ["FullBatch", "programs_and_feed", "trim_padding"]


class FullBatch:
    """Every step sees all rows: the data arrays are put on the device(s) once (split over
    several devices by rows, padded to a multiple of their number)."""

    def __init__(self, data: PreparedData, devices: int):
        args = data_args(data)
        if devices > 1:
            args, weight = pad_rows(args, data.n, devices)
            args = args if weight is None else (*args, jnp.asarray(weight))
            args = shard_rows(args, args[0].shape[0], devices)
        self.args, self.devices = args, devices
        self.padded = int(args[0].shape[0])

    def batch(self) -> tuple:
        return self.args

    def chunk(self) -> tuple:
        return self.args

    def summary_rows(self) -> tuple:
        return self.args


def programs_and_feed(data: PreparedData, config: Config, seed: int):
    """The compiled programs of this fit and what feeds them rows (all, or minibatches)."""
    column_types, node_of = data.model_layout(config.model.count_likelihood)
    devices = row_devices()
    batch = resolve_batch_size(config.svi, data.n, devices)
    if batch:
        prog = batched_programs(shape_config(config), column_types, batch, node_of, devices)
        return prog, RowSource(data, batch, seed, devices)
    feed = FullBatch(data, devices)
    return programs(shape_config(config), column_types, feed.padded, node_of, devices), feed


def trim_padding(values: dict, n: int) -> dict:
    """Drop the padding rows (beyond ``n``) of a multi-device full-batch fit's outputs."""
    out = dict(values)
    for name in ("membership", "log_lik", "partition", "factor_membership"):
        if name in out and out[name].shape[1] != n:  # rows are axis 1 of each
            out[name] = out[name][:, :n]
    return out
