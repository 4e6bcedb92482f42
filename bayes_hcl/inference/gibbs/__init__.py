"""Gibbs sampling of the model (``method="gibbs"``): collapsed spike-and-slab indicators,
conjugate parameter draws, order moves and DP memberships (see :mod:`.sweep`)."""

from bayes_hcl.inference.gibbs.driver import GibbsFit, fit_gibbs

__all__ = ["GibbsFit", "fit_gibbs"]
