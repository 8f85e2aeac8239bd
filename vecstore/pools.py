"""Thread pools for the whole process, each made on first use (none at ``import vecstore``).

Fork-aware: a child process of ``os.fork()`` inherits the parent's pool objects but none of
their threads, so work submitted there would never run; every pool is forgotten in the child
(``os.register_at_fork``) and made afresh on its first use there.
"""

from __future__ import annotations

import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

_pools: weakref.WeakSet[LazyPool] = weakref.WeakSet()


class LazyPool:
    """One fixed-size pool, shared by every caller in the process, started when first asked."""

    def __init__(self, size: int, prefix: str) -> None:
        self.size, self.prefix = size, prefix
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        _pools.add(self)

    def get(self) -> ThreadPoolExecutor:
        """The pool, made now if this is the first call (in this process)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.size, thread_name_prefix=self.prefix)
            return self._pool

    def _forget(self) -> None:
        """In a forked child: drop the parent's pool (its threads are not here) and its lock."""
        self._pool = None
        self._lock = threading.Lock()


def _after_fork_in_child() -> None:
    for pool in list(_pools):
        pool._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
