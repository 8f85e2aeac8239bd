"""Thread pools for the whole process, each made on first use (none at ``import vecstore``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


class LazyPool:
    """One fixed-size pool, shared by every caller in the process, started when first asked."""

    def __init__(self, size: int, prefix: str) -> None:
        self.size, self.prefix = size, prefix
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def get(self) -> ThreadPoolExecutor:
        """The pool, made now if this is the first call."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.size, thread_name_prefix=self.prefix)
            return self._pool
