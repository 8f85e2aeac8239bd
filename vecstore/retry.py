"""Retries at the store layer: every Collection call to a backend gets them.

Only transient failures (``VecstoreError.transient``: connection refused, timeouts, 429, 5xx)
are retried, with exponential backoff and full jitter, never sooner than a server's
Retry-After; permanent errors surface at once. Writes are safe to retry: ids are
deterministic and upsert replaces, so a retried write never duplicates.

A call's budget is time, not a count of attempts: one store call is several requests (a
Chroma upsert reads before it writes; an open connects, checks, then reads), so on a network
that fails a fifth of its requests at random a call fails about half its attempts, sometimes
several in a row. By default a call is retried until :data:`DEFAULT_DEADLINE_S` seconds have
passed since it began (``retry.deadline_s``); ``retry.attempts`` caps the attempts as well when
set. Measured with the random-fault tests in ``integration_tests/test_faults.py``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from vecstore.adapters.base import (
    Backend,
    Capabilities,
    Catalog,
    GroupedSearch,
    HybridSearch,
    KeywordSearch,
    MatrixSource,
    StoreDescription,
    Upgradable,
)
from vecstore.errors import VecstoreError
from vecstore.filters import Filter
from vecstore.records import CollectionInfo, Hit, Metadata, RecordBatch, StoredRecord, Vectors
from vecstore.telemetry import Scope, Span, retried

if TYPE_CHECKING:
    from vecstore.config import RetrySettings

log = logging.getLogger(__name__)
T = TypeVar("T")
_LOG_RETRY = before_sleep_log(log, logging.WARNING)

DEFAULT_DEADLINE_S = 120.0
BACKOFF_MULTIPLIER_S = 0.5
BACKOFF_MAX_S = 10.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: a time budget per call, an optional cap on attempts, the backoff."""

    attempts: int | None = None
    deadline_s: float = DEFAULT_DEADLINE_S
    backoff_max_s: float = BACKOFF_MAX_S


def policy_of(settings: RetrySettings) -> RetryPolicy:
    """The policy the ``retry`` settings describe."""
    return RetryPolicy(settings.attempts, settings.deadline_s, settings.backoff_max_s)


def is_transient(exc: BaseException) -> bool:
    """Whether a retry may succeed."""
    return isinstance(exc, VecstoreError) and exc.transient


class _Wait(wait_random_exponential):
    """Exponential backoff with jitter, but never less than the server's Retry-After."""

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = float(super().__call__(retry_state))
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        after = getattr(exc, "retry_after", None)
        return max(backoff, float(after)) if after is not None else backoff


@dataclass(frozen=True, slots=True)
class Abilities:
    """The optional abilities of a store (:mod:`vecstore.adapters.base`), each None if it lacks it.

    Every one is reached the same way, through a handle whose method calls are retried like the
    store's own (:class:`_Retried`): ``backend.abilities.keyword.keyword_query(...)``.
    """

    keyword: KeywordSearch | None
    hybrid: HybridSearch | None
    grouped: GroupedSearch | None
    matrix: MatrixSource | None
    catalog: Catalog | None
    upgrade: Upgradable | None

    @classmethod
    def of(cls, store: Backend, run: Callable[[Callable[[], Any]], Any]) -> Abilities:
        """The abilities ``store`` has, each call through ``run``."""

        def ability(protocol: type) -> Any:
            return _Retried(store, run) if isinstance(store, protocol) else None

        return cls(
            ability(KeywordSearch),
            ability(HybridSearch),
            ability(GroupedSearch),
            ability(MatrixSource),
            ability(Catalog),
            ability(Upgradable),
        )


class _Retried:
    """A store seen through one of its optional abilities: each method call goes through ``run``."""

    def __init__(self, store: Backend, run: Callable[[Callable[[], Any]], Any]) -> None:
        self._store = store
        self._run = run

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if not callable(method):
            return method

        @functools.wraps(method)
        def retried(*args: Any, **kwargs: Any) -> Any:
            return self._run(lambda: method(*args, **kwargs))

        return retried


class RetryingBackend:
    """A backend whose every call is retried on transient errors."""

    def __init__(self, inner: Backend, policy: RetryPolicy | None = None) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()
        self.capabilities: Capabilities = inner.capabilities
        self.abilities = Abilities.of(inner, self._run)
        self.scope: Scope | None = None  # set by the Collection: what its telemetry carries

    def _run(self, fn: Callable[[], T]) -> T:
        policy = self.policy
        stop: stop_base = stop_after_delay(policy.deadline_s)
        if policy.attempts is not None:
            stop = stop | stop_after_attempt(policy.attempts)
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            wait=_Wait(
                multiplier=min(BACKOFF_MULTIPLIER_S, policy.backoff_max_s), max=policy.backoff_max_s
            ),
            stop=stop,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return retrying(fn)

    def _before_sleep(self, state: RetryCallState) -> None:
        _LOG_RETRY(state)
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if error is not None:
            retried(state.attempt_number, error, self.scope)

    def _span(self, operation: str, records: int) -> contextlib.AbstractContextManager[Span]:
        if self.scope is None:
            return contextlib.nullcontext(Span())
        return self.scope.span(operation, {"vecstore.records": records})

    def _written(self, n: int, operation: str) -> None:
        if self.scope is not None:
            self.scope.count("vecstore.records.written", n, operation)

    def open(self, info: CollectionInfo, *, create: bool = True) -> CollectionInfo:
        """See Backend."""
        return self._run(lambda: self.inner.open(info, create=create))

    def upsert(self, batch: RecordBatch) -> None:
        """See Backend; a ``vecstore.upsert`` span."""
        with self._span("upsert", len(batch)):
            self._run(lambda: self.inner.upsert(batch))
        self._written(len(batch), "upsert")

    def query(
        self, vectors: Vectors, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[list[Hit]]:
        """See Backend."""
        if with_vectors:
            return self._run(lambda: self.inner.query(vectors, top_k, where, with_vectors=True))
        return self._run(lambda: self.inner.query(vectors, top_k, where))

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredRecord]:
        """See Backend."""
        return self._run(lambda: self.inner.get(ids, with_vectors))

    def update_metadata(self, ids: Sequence[str], metadata: Sequence[Metadata]) -> list[str]:
        """See Backend; a ``vecstore.update_metadata`` span."""
        with self._span("update_metadata", len(ids)) as span:
            done = self._run(lambda: self.inner.update_metadata(ids, metadata))
            span.set({"vecstore.records.updated": len(done)})
        self._written(len(done), "update_metadata")
        return done

    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        """See Backend; a ``vecstore.delete`` span (records: the ids given, -1 for a filter)."""
        with self._span("delete", len(ids) if ids is not None else -1):
            self._run(lambda: self.inner.delete(ids, where))

    def count(self, where: Filter | None = None) -> int:
        """See Backend."""
        return self._run(lambda: self.inner.count(where))

    def scan(
        self, batch_size: int, with_vectors: bool = True, where: Filter | None = None
    ) -> Iterator[list[StoredRecord]]:
        """See Backend; not retried.

        A scan's pages carry no resume token, and restarting it whole would hold every record
        in memory; a failed scan raises and may be run again.
        """
        return self.inner.scan(batch_size, with_vectors, where)

    def describe(self) -> StoreDescription:
        """See Backend."""
        return self.inner.describe()

    def close(self) -> None:
        """See Backend."""
        self.inner.close()
