"""Process-wide pools survive fork(): a child gets fresh ones instead of the parent's threads."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import make_collection
from vecstore.aio import _pool as async_pool
from vecstore.pools import LazyPool


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_pool_used_before_fork_works_in_the_child(store_path: Path) -> None:
    col = make_collection(store_path)
    col.upsert(["before the fork"], ids=["a"])
    assert asyncio.run(col.acount()) == 1  # the async pool now has threads in this process
    own = LazyPool(2, "test-pool")
    assert own.get().submit(lambda: 41 + 1).result(timeout=5) == 42
    pid = os.fork()
    if pid == 0:  # the child: the parent's pool threads do not exist here
        status = 1
        try:
            if own.get().submit(lambda: 7).result(timeout=10) == 7:
                if asyncio.run(col.acount()) == 1 and async_pool.get() is not None:
                    status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child could not run work on a pool"
    assert asyncio.run(col.acount()) == 1  # the parent's pool still works
    col.close()
    sys.stdout.flush()
