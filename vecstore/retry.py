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
    CollectionSummary,
    Fusion,
    HybridSearch,
    KeywordSearch,
    MatrixSource,
    Upgradable,
)
from vecstore.errors import CapabilityError, VecstoreError
from vecstore.filters import Filter
from vecstore.keywords import Terms
from vecstore.records import CollectionInfo, Hit, Metadata, RecordBatch, StoredRecord, Vectors

if TYPE_CHECKING:
    from vecstore.config import RetrySettings

log = logging.getLogger(__name__)
T = TypeVar("T")

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


class RetryingBackend:
    """A backend whose every call is retried on transient errors."""

    def __init__(self, inner: Backend, policy: RetryPolicy | None = None) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()
        self.capabilities: Capabilities = inner.capabilities

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
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        return retrying(fn)

    def open(self, info: CollectionInfo, *, create: bool = True) -> CollectionInfo:
        """See Backend."""
        return self._run(lambda: self.inner.open(info, create=create))

    def upsert(self, batch: RecordBatch) -> None:
        """See Backend."""
        self._run(lambda: self.inner.upsert(batch))

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
        """See Backend."""
        return self._run(lambda: self.inner.update_metadata(ids, metadata))

    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        """See Backend."""
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

    # -- the optional abilities, through the same handle ---------------------------------------

    def matrix_source(self) -> MatrixSource | None:
        """The store, when it can hand over its vectors as one matrix (local: nothing to retry)."""
        return self.inner if isinstance(self.inner, MatrixSource) else None

    def keyword_search(self) -> bool:
        """Whether the store can rank by BM25 (else keyword and hybrid search are refused)."""
        return isinstance(self.inner, KeywordSearch)

    def keyword_query(
        self, terms: Terms, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[Hit]:
        """See :class:`~vecstore.adapters.base.KeywordSearch`."""
        inner = self.inner
        if not isinstance(inner, KeywordSearch):
            raise CapabilityError(f"the {type(inner).__name__} store cannot rank by keywords")
        return self._run(lambda: inner.keyword_query(terms, top_k, where, with_vectors))

    def hybrid_search(self) -> bool:
        """Whether the store fuses dense and keyword rankings itself (else the core does)."""
        return isinstance(self.inner, HybridSearch)

    def hybrid_query(
        self, vector: Vectors, terms: Terms, where: Filter | None, fusion: Fusion
    ) -> list[Hit]:
        """See :class:`~vecstore.adapters.base.HybridSearch`."""
        inner = self.inner
        if not isinstance(inner, HybridSearch):
            raise CapabilityError(f"the {type(inner).__name__} store cannot fuse rankings")
        return self._run(lambda: inner.hybrid_query(vector, terms, where, fusion))

    def upgrade(self, batch_size: int) -> int:
        """Bring older records to the current form (resumable, so retried whole); 0: nothing."""
        inner = self.inner
        return self._run(lambda: inner.upgrade(batch_size)) if isinstance(inner, Upgradable) else 0

    def collections(self) -> list[CollectionSummary] | None:
        """Every vecstore collection of the store, or None when the store cannot list them."""
        inner = self.inner
        return self._run(inner.collections) if isinstance(inner, Catalog) else None

    def describe(self) -> dict[str, Any]:
        """See Backend."""
        return self.inner.describe()

    def close(self) -> None:
        """See Backend."""
        self.inner.close()
