"""What the Qdrant, Chroma and Pinecone adapters share: the error boundary, the locks, the client.

* Every public method runs inside the adapter's :class:`~vecstore.adapters.translate.StoreErrors`
  (decorate it with :func:`reads` or :func:`writes`), so nothing from outside the vecstore tree
  leaves it for a store-side failure.
* Threads: a client that is not thread-safe (Qdrant's local mode) gets one lock for every call,
  shared by all adapters over that client; a store whose write is a read-modify-write (Chroma's
  replace) serialises writes; the rest run concurrently.
* The client: made by the adapter in ``open()`` (inside the store-layer retry, so a network that
  fails from the first request is retried like any call), or handed in. One rule for
  ``close()``: it closes a client the adapter made, never one it was handed.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Concatenate, ParamSpec, TypeVar

from vecstore.adapters.translate import StoreErrors

P = ParamSpec("P")
R = TypeVar("R")
B = TypeVar("B", bound="NetworkBackend")

_client_locks: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_client_locks_guard = threading.Lock()


def _forget_client_locks() -> None:
    """In a forked child: a lock a parent thread held at the fork would stay held forever."""
    global _client_locks, _client_locks_guard
    _client_locks = weakref.WeakKeyDictionary()
    _client_locks_guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_client_locks)


def client_lock(client: Any) -> threading.RLock:
    """The one lock of a client that must not be used by two threads at once."""
    with _client_locks_guard:
        lock = _client_locks.get(client)
        if lock is None:
            lock = _client_locks[client] = threading.RLock()
        return lock


class NetworkBackend:
    """Base of the network adapters; subclasses set ``errors`` and make ``client`` in ``open``."""

    errors: StoreErrors
    client: Any = None

    def __init__(self, *, client: Any = None) -> None:
        self.client = client
        self.owns_client = client is None
        self._serial: AbstractContextManager[Any] = nullcontext()
        self._write_serial: AbstractContextManager[Any] = nullcontext()
        self._connect_lock = threading.Lock()

    def serialise_all(self, lock: threading.RLock) -> None:
        """Guard every call with ``lock`` (a client that is not thread-safe)."""
        self._serial = self._write_serial = lock

    def serialise_writes(self) -> None:
        """Let one write at a time run through this adapter."""
        self._write_serial = threading.RLock()

    def connect(self, make: Callable[[], Any]) -> Any:
        """The client: made once by ``make`` (inside the error boundary), or the one handed in."""
        with self._connect_lock:
            if self.client is None:
                with self.errors:
                    self.client = make()
            return self.client

    def close_client(self, close: Callable[[Any], None]) -> None:
        """Close the client if this adapter made it; a client handed in stays open."""
        with self._connect_lock:
            client, self.client = self.client, None
        if client is not None and self.owns_client:
            with self.errors:
                close(client)
        elif not self.owns_client:
            self.client = client


def _boundary(
    guard: Callable[[NetworkBackend], AbstractContextManager[Any]],
) -> Callable[[Callable[Concatenate[B, P], R]], Callable[Concatenate[B, P], R]]:
    """A decorator running a method under ``guard(self)`` and the adapter's error boundary."""

    def decorate(method: Callable[Concatenate[B, P], R]) -> Callable[Concatenate[B, P], R]:
        def call(self: B, /, *args: P.args, **kwargs: P.kwargs) -> R:
            with guard(self), self.errors:
                return method(self, *args, **kwargs)

        functools.update_wrapper(call, method)
        return call

    return decorate


reads = _boundary(lambda backend: backend._serial)
"""A method that only reads: store errors translated; serialised only if the client is."""
writes = _boundary(lambda backend: backend._write_serial)
"""A method that writes: store errors translated; one writer at a time where needed."""
