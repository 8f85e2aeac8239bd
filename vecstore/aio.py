"""asyncio for vecstore: each ``Collection.a*`` call runs the thread-safe sync call on a pool.

Why not the stores' async clients: they would be a second code path per adapter (and the NumPy
store has none), while the sync path is already thread-safe and what a call waits on (a server
round trip, a NumPy scan that releases the GIL) overlaps in threads. Measured with
``benchmarks/bench_async.py`` on 2 cores: 64 concurrent ``aquery`` on a Chroma server reach
0.93-0.95x the raw chromadb client's throughput from its own 16-thread pool (which gains
1.27-1.29x over sequential calls), and 1.20-1.27x sequential ``query`` on a 100,000-vector NumPy
collection (two runs each). The pool
is vecstore's own, so a slow store cannot starve the event loop's default executor that other
libraries share; it is made on first use.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from vecstore.pools import LazyPool

ASYNC_THREADS = 16
"""Worker threads serving async calls, for the whole process."""

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")

_pool = LazyPool(ASYNC_THREADS, "vecstore-async")


async def in_thread(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Await ``fn(*args, **kwargs)`` run on vecstore's thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool.get(), functools.partial(fn, *args, **kwargs))


def twin(
    method: Callable[Concatenate[S, P], R],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """The asyncio twin of a sync method: the same arguments, the same result, on the pool.

    Generated, not written: ``aupsert = twin(upsert)`` cannot drift from ``upsert``. The twin
    calls the method by name, so a subclass's override is the one run.
    """
    name = method.__name__

    async def call(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        bound: Callable[P, R] = getattr(self, name)
        return await in_thread(bound, *args, **kwargs)

    owner = method.__qualname__.rpartition(".")[0]
    call.__name__ = f"a{name}"
    call.__qualname__ = f"{owner}.a{name}" if owner else f"a{name}"
    call.__doc__ = f":meth:`{name}` for asyncio code (run on vecstore's thread pool)."
    return call
