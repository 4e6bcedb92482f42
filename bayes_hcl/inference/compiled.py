"""Compiled programs kept for reuse, and their release before they exhaust the process.

Every inference method caches its compiled programs (per data shape and configuration), so
that a second fit of the same shape compiles nothing. XLA:CPU maps the code of each compiled
kernel as regions of its own: one small fit holds about 2,500 memory maps, and Linux lets a
process have ``vm.max_map_count`` of them (65,530 by default). A session that fits many
shapes (a notebook, a batch script, the test suite) used to reach that limit after a few
dozen distinct fits, and the next compile then aborted the whole process (``SIGABRT`` or
``SIGSEGV`` inside ``executable.serialize()``; measured: 64,207 maps at the crash).

:func:`release_if_near_map_limit`, called before each fit compiles, drops every cached
program (ours and JAX's) once the process holds more than half its allowed maps. A later fit
of a released shape compiles again, or reads the persistent compilation cache, and computes
the same numbers bit for bit.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable

import jax

__all__ = [
    "DEFAULT_MAX_MAP_COUNT",
    "RELEASE_FRACTION",
    "memory_map_use",
    "program_cache",
    "release_compiled_programs",
    "release_if_near_map_limit",
]

#: Linux's default ``vm.max_map_count``, assumed when ``/proc/sys/vm`` cannot be read.
DEFAULT_MAX_MAP_COUNT = 65_530
#: Share of the allowed maps past which cached programs are released before a fit; one fit
#: adds a few thousand maps, so half leaves room for the largest fit we compile.
RELEASE_FRACTION = 0.5

_CACHES: list = []


def program_cache(maxsize: int) -> Callable[[Callable], Callable]:
    """``functools.lru_cache(maxsize)`` for a function that builds compiled programs; the
    cache is registered so that :func:`release_compiled_programs` can empty it."""

    def decorate(builder: Callable) -> Callable:
        cached = functools.lru_cache(maxsize=maxsize)(builder)
        _CACHES.append(cached)
        return cached

    return decorate


def release_compiled_programs() -> None:
    """Drop every cached compiled program: the registered builders' and JAX's own."""
    for cached in _CACHES:
        cached.cache_clear()
    jax.clear_caches()
    gc.collect()


def memory_map_use() -> tuple[int, int] | None:
    """``(maps held, maps allowed)`` of this process, or ``None`` where ``/proc`` does not
    tell (not Linux)."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            held = sum(1 for _ in maps)
    except OSError:
        return None
    try:
        with open("/proc/sys/vm/max_map_count") as limit:
            allowed = int(limit.read().strip())
    except (OSError, ValueError):
        allowed = DEFAULT_MAX_MAP_COUNT
    return held, allowed


def release_if_near_map_limit(fraction: float = RELEASE_FRACTION) -> bool:
    """Release the cached programs when the process holds more than ``fraction`` of the
    memory maps it may have; returns whether it did."""
    use = memory_map_use()
    if use is None or use[0] <= fraction * use[1]:
        return False
    release_compiled_programs()
    return True
