"""Model layer: likelihoods, priors, order masks, the SEM kernel, the NumPyro program, the guide
and the latent factors. Pure functions of parameters and prepared arrays: no fitting loop and
no readout lives here."""

from __future__ import annotations

from bayes_hcl.model.guide import mean_field_guide
from bayes_hcl.model.likelihoods import noise_mixture
from bayes_hcl.model.order_masks import (
    hard_order_mask,
    log_abs_det_unit,
    mixed_order_mask,
    order_mask,
    straight_through_mask,
)
from bayes_hcl.model.priors import GroupSpikeAndSlab, SpikeAndSlab, stick_breaking_log_weights
from bayes_hcl.model.program import (
    N_DATA_ARGS,
    component_loglik,
    draw_quantities,
    hcl_model,
    masked_log_weights,
    node_types,
    ordered_model,
)
from bayes_hcl.vartypes import BINARY, CATEGORICAL, CONTINUOUS, COUNT, NEGBIN

__all__ = [
    "BINARY",
    "CATEGORICAL",
    "CONTINUOUS",
    "COUNT",
    "NEGBIN",
    "N_DATA_ARGS",
    "GroupSpikeAndSlab",
    "SpikeAndSlab",
    "component_loglik",
    "draw_quantities",
    "hard_order_mask",
    "hcl_model",
    "log_abs_det_unit",
    "masked_log_weights",
    "mean_field_guide",
    "mixed_order_mask",
    "node_types",
    "noise_mixture",
    "order_mask",
    "ordered_model",
    "stick_breaking_log_weights",
    "straight_through_mask",
]
