"""What the adapters share: id mapping, lazy SDK import, ordered reads, batch halving, checks."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import import_module
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from vecstore.errors import BackendError, IncompatibleCollection, MissingDependency
from vecstore.records import CollectionInfo, Metadata, StoredRecord, Vectors
from vecstore.reserved import ID_KEY, TEXT_KEY

ID_NAMESPACE = uuid.UUID("6f0c2a8e-8d3b-5b7e-9a51-7c2f2d0e4b11")
"""uuid5 namespace of vecstore ids; fixed forever, or stored ids would no longer be found."""
NETWORK_TIMEOUT_S = 30.0
"""Every network call of an adapter gives up after this long."""
PAYLOAD_TOO_LARGE = 413

T = TypeVar("T")


def require(module: str, package: str, extra: str) -> ModuleType:
    """Import an optional SDK, or raise MissingDependency with the install hint."""
    try:
        return import_module(module)
    except ImportError as exc:
        raise MissingDependency(package, extra) from exc


def uuid_id(record_id: str) -> str:
    """The deterministic UUID a store that wants UUIDs keeps for ``record_id``."""
    return str(uuid.uuid5(ID_NAMESPACE, record_id))


def hashed_id(record_id: str, prefix: str = "vs1#") -> str:
    """A short ASCII stand-in for an id a store cannot hold as is."""
    return prefix + hashlib.sha256(record_id.encode()).hexdigest()


def split_payload(payload: dict[str, Any] | None) -> tuple[str | None, str | None, Metadata]:
    """Split a stored payload into (original id, text, metadata)."""
    payload = dict(payload or {})
    rid = payload.pop(ID_KEY, None)
    text = payload.pop(TEXT_KEY, None)
    return rid, text, payload


def clip_score(score: float) -> float:
    """A store's cosine score, clamped into [-1, 1] against float rounding."""
    return -1.0 if score < -1.0 else 1.0 if score > 1.0 else float(score)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def unit_vector(values: Any) -> Vectors:
    """A stored vector read back, as a unit float32 row (stores keep what they were sent)."""
    vector = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def ordered(ids: Sequence[str], records: Iterable[StoredRecord]) -> list[StoredRecord]:
    """``records`` in the order of ``ids`` (repeats kept), unknown ids left out."""
    found = {r.id: r for r in records}
    return [found[i] for i in ids if i in found]


def send_halving(send: Callable[[Sequence[T]], None], items: Sequence[T]) -> None:
    """``send(items)``; a request the store refuses as too large (413) goes again in halves."""
    try:
        send(items)
    except BackendError as exc:
        if exc.status != PAYLOAD_TOO_LARGE or len(items) < 2:
            raise
        half = len(items) // 2
        send_halving(send, items[:half])
        send_halving(send, items[half:])


def check_compatible(where: str, stored: CollectionInfo, wanted: CollectionInfo) -> None:
    """Refuse to open a collection written with another model, dimension or metric."""
    if (stored.model, stored.dimension, stored.metric) != (
        wanted.model,
        wanted.dimension,
        wanted.metric,
    ):
        raise IncompatibleCollection(
            f"{where} was written with model {stored.model!r} (dimension {stored.dimension}, "
            f"{stored.metric}); it cannot be opened with {wanted.model!r} (dimension "
            f"{wanted.dimension}, {wanted.metric})"
        )
