"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_time(fn: Callable[[], object], repeats: int, *, warm: bool = False) -> float:
    """Median seconds of ``repeats`` calls (after one untimed call when ``warm``)."""
    if warm:
        fn()
    return statistics.median(timed(fn) for _ in range(repeats))
