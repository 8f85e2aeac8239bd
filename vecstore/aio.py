"""asyncio for vecstore: each ``Collection.a*`` call runs the thread-safe sync call on a pool.

Measured before choosing (``benchmarks/bench_async.py``): the store clients' async variants
would add a second code path per adapter, while the sync path is already thread-safe and the
stores' own work (a server round trip, a NumPy scan that releases the GIL) runs concurrently in
threads. The pool is vecstore's own, so a slow store cannot starve the event loop's default
executor that other libraries share, and it is made on first use.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

ASYNC_THREADS = 16
"""Worker threads serving async calls, for the whole process."""

P = ParamSpec("P")
R = TypeVar("R")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(ASYNC_THREADS, thread_name_prefix="vecstore-async")
        return _pool


async def in_thread(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Await ``fn(*args, **kwargs)`` run on vecstore's thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), functools.partial(fn, *args, **kwargs))
