"""The vecstore exception tree.

Every error vecstore raises derives from :class:`VecstoreError`; client exceptions are
translated at the adapter boundary (``raise ... from exc``)::

    VecstoreError
    ├── ConfigError                  bad or missing configuration
    ├── MissingDependency            an optional extra is not installed (also ImportError)
    ├── InvalidInput                 bad user input (also ValueError); names record and field
    │   ├── FilterError              a malformed filter, or one a backend cannot express
    │   ├── DuplicateId              the same id twice in one call
    │   └── InvalidName              a collection name a store refuses
    ├── IncompatibleCollection       opened with another model, dimension or metric
    ├── CapabilityError              the store cannot run what was asked (keyword search on Chroma)
    ├── EncoderError                 an encoder returned a broken batch (shape, NaN, zero rows)
    ├── StoreError                   the store itself failed
    │   ├── StoreCorrupted           files on disk are not what vecstore wrote (damaged, tampered)
    │   ├── StoreUnwritable          the disk is full, read-only, or refuses the write
    │   ├── StoreLocked              another writer held the collection past the lock timeout
    │   ├── CollectionNotFound       opened without creating, and it does not exist
    │   └── BackendError             a store client failed (``transient``, ``status``)
    │       └── BackendUnavailable   connection refused/reset/timed out, 429, 5xx (transient)

``transient`` is True only for failures worth retrying. ``BackendError.status`` is the HTTP
status the store answered, when it answered one. The translation from each client's exceptions
is one table for every network adapter: :mod:`vecstore.adapters.translate`.

Every error pickles with its fields (message, ``record``, ``field``, ``status``,
``retry_after``, ...), so it crosses process boundaries (Ray and Spark workers, multiprocessing)
as it was raised.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "CapabilityError",
    "CollectionNotFound",
    "ConfigError",
    "DuplicateId",
    "EncoderError",
    "FilterError",
    "IncompatibleCollection",
    "InvalidInput",
    "InvalidName",
    "MissingDependency",
    "StoreCorrupted",
    "StoreError",
    "StoreLocked",
    "StoreUnwritable",
    "VecstoreError",
]


def _rebuild(
    cls: type[BaseException], args: tuple[object, ...], state: dict[str, object]
) -> BaseException:
    """An error as it was pickled: the same class, args and fields, without calling __init__."""
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class VecstoreError(Exception):
    """Root of every error vecstore raises."""

    transient: bool = False

    def __reduce__(self) -> tuple[object, ...]:
        # Exception pickles as cls(*args), which loses keyword fields (and breaks subclasses
        # whose __init__ takes other arguments): rebuild from args and fields instead.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class ConfigError(VecstoreError):
    """Configuration is invalid or incomplete."""


class MissingDependency(VecstoreError, ImportError):
    """An optional dependency is missing; the message carries the install hint."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed: pip install 'vecstore[{extra}]'", name=package
        )


class InvalidInput(VecstoreError, ValueError):
    """User input is invalid. ``record`` and ``field`` say where, when known."""

    def __init__(
        self, message: str, *, record: int | str | None = None, field: str | None = None
    ) -> None:
        where = []
        if record is not None:
            where.append(f"record {record!r}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.record = record
        self.field = field


class FilterError(InvalidInput):
    """A filter is malformed, or uses an operator the backend cannot express exactly."""


class DuplicateId(InvalidInput):
    """The same id appears twice in one call."""


class InvalidName(InvalidInput):
    """A collection name the store refuses."""


class IncompatibleCollection(VecstoreError):
    """The collection was written with another model, dimension or metric."""


class CapabilityError(VecstoreError):
    """The store cannot run what was asked (or not yet: the message says how to get there).

    Raised before any I/O where the store's kind decides it (keyword search on Chroma), never
    replaced by a silent fallback.
    """


class EncoderError(VecstoreError):
    """An encoder returned a batch that cannot be stored (shape, NaN or infinite, zero rows)."""


class StoreError(VecstoreError):
    """The store failed."""


class StoreCorrupted(StoreError):
    """Files of a collection on disk are truncated or damaged."""


class StoreUnwritable(StoreError):
    """The store cannot be written: the disk is full, read-only, or refuses the write.

    The message names the path and the cause; what was stored before stays intact, and the
    next write succeeds once the cause is gone.
    """


class StoreLocked(StoreError):
    """Another writer held the collection's lock for longer than the lock timeout."""


class CollectionNotFound(StoreError):
    """The collection does not exist (and was opened with ``create=False``)."""


class BackendError(StoreError):
    """A store client failed; ``transient`` is True when a retry may succeed.

    ``status``: the HTTP status the store answered with, when there was one.
    """

    def __init__(self, message: str, *, transient: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status


class BackendUnavailable(BackendError):
    """The store cannot be reached or is overloaded right now (always transient).

    ``retry_after``: seconds the server asked to wait (a 429's Retry-After), when it said.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, transient=True, status=status)
        self.retry_after = retry_after
