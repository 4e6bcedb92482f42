"""Score-based search for the shared causal order, and the GLMs that score discrete nodes."""

from __future__ import annotations

from bayes_hcl.inference.search.order_search import OrderSearch, search_order

__all__ = [
    "OrderSearch",
    "search_order",
]
