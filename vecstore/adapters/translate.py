"""One translation of store-client exceptions into vecstore's, for every network adapter.

Decided by exception type and status code, never by message text. An exception is read as its
whole chain (``__cause__``/``__context__``, and qdrant's ``.source``), because clients wrap
transport failures in their own types (chromadb's constructor raises ``ValueError`` from an
``httpx.ConnectError``; its non-JSON HTTP errors are a bare ``Exception`` from an
``httpx.HTTPStatusError``):

====================================================  =========================================
the chain holds                                       raised as
====================================================  =========================================
a transport failure (``httpx.TransportError``,        ``BackendUnavailable`` (transient)
``ConnectionError``, ``TimeoutError``, a client's
connection/timeout type), on a remote store
an HTTP status in :data:`TRANSIENT_STATUS`            ``BackendUnavailable`` (``status``,
(408, 429, 5xx), on a remote store                    ``retry_after``)
any other status                                      ``BackendError`` (``status``), permanent
anything else that passed through the client's code   ``BackendError``, permanent
====================================================  =========================================

An exception that never passed through the client's code (a bug in vecstore itself) is not a
store failure: it propagates unchanged, and is never retried.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType

from vecstore.errors import BackendError, BackendUnavailable, VecstoreError

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
TRANSPORT_PACKAGES = ("httpx", "httpcore", "h11", "h2", "anyio", "grpc", "urllib3", "sqlite3")
"""Libraries that clients talk through: a failure inside them is the store's side too."""
MAX_CHAIN = 16
DETAIL_CHARS = 300

StatusOf = Callable[[BaseException], int | None]


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, nearest first."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen and len(seen) < MAX_CHAIN:
        seen.add(id(link))
        yield link
        source = getattr(link, "source", None)  # qdrant's ResponseHandlingException
        if isinstance(source, BaseException) and id(source) not in seen:
            yield source
            seen.add(id(source))
        link = link.__cause__ or link.__context__


def _transport_types() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    httpx = sys.modules.get("httpx")  # never imported here: if absent, nothing raised it
    if httpx is not None:
        found.append(httpx.TransportError)
    return tuple(found)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries, in the forms the clients use."""
    for holder in (exc, getattr(exc, "response", None)):
        status = getattr(holder, "status_code", None)
        if isinstance(status, int) and 100 <= status <= 599:
            return status
    return None


def retry_after(exc: BaseException) -> float | None:
    """Seconds a server asked to wait, from the error's attribute or its Retry-After header."""
    for name in ("retry_after_s", "retry_after"):
        value = getattr(exc, name, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    for holder in (exc, getattr(exc, "response", None)):
        lookup = getattr(getattr(holder, "headers", None), "get", None)
        raw = lookup("retry-after") if callable(lookup) else None
        if raw is not None:
            try:
                return float(raw)
            except (TypeError, ValueError):
                return None  # an HTTP date: the backoff alone decides
    return None


def passed_through(exc: BaseException, packages: tuple[str, ...]) -> bool:
    """Whether ``exc`` comes from the client's side: its type, or a frame it passed, is theirs."""
    for link in chain(exc):
        if type(link).__module__.split(".")[0] in packages:
            return True
        tb = link.__traceback__
        while tb is not None:
            module = str(tb.tb_frame.f_globals.get("__name__", ""))
            if module.split(".")[0] in packages:
                return True
            tb = tb.tb_next
    return False


@dataclass(frozen=True)
class StoreErrors:
    """The boundary of one adapter: ``with errors:`` around every call into its client.

    Stateless, so one instance serves every thread. ``packages``: the client's top-level
    modules. ``remote``: a server over a network (an embedded store's statuses and errors are
    permanent). ``unreachable``: the client's own connection/timeout exception types.
    ``status_of``: a status the client expresses some other way (chromadb's ``code()``).
    """

    store: str
    where: str
    packages: tuple[str, ...]
    remote: bool = True
    unreachable: tuple[type[BaseException], ...] = ()
    status_of: StatusOf | None = None
    _all_packages: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_all_packages", (*self.packages, *TRANSPORT_PACKAGES))

    def __enter__(self) -> StoreErrors:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, VecstoreError):
            return
        translated = self.translate(exc)
        if translated is not None:
            raise translated from exc

    def translate(self, exc: BaseException) -> BackendError | None:
        """The vecstore error for ``exc``, or None when it is not a store failure."""
        links = list(chain(exc))
        detail = f"{type(exc).__name__}: {exc}"[:DETAIL_CHARS]
        if self.remote:
            transport = (*_transport_types(), *self.unreachable)
            for link in links:
                if isinstance(link, transport):
                    return BackendUnavailable(
                        f"{self.store} at {self.where} is unreachable: "
                        f"{type(link).__name__}: {link}"[:DETAIL_CHARS]
                    )
        status = self._status(links)
        if status is not None:
            message = f"{self.store} at {self.where}: HTTP {status}: {detail}"
            if self.remote and status in TRANSIENT_STATUS:
                after = next((a for a in map(retry_after, links) if a is not None), None)
                return BackendUnavailable(message, retry_after=after, status=status)
            return BackendError(message, status=status)
        if passed_through(exc, self._all_packages):
            return BackendError(f"{self.store} at {self.where}: {detail}")
        return None

    def _status(self, links: list[BaseException]) -> int | None:
        for link in links:
            status = http_status(link)
            if status is None and self.status_of is not None:
                status = self.status_of(link)
            if status is not None:
                return status
        return None
