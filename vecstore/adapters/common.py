"""What the network adapters share: reserved keys, id mapping, lazy SDK import, error mapping."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from importlib import import_module
from types import ModuleType
from typing import Any, TypeVar

from vecstore.errors import BackendError, BackendUnavailable, MissingDependency
from vecstore.records import Metadata

ID_KEY = "_vecstore_id"
TEXT_KEY = "_vecstore_text"
RESERVED_KEYS = frozenset({ID_KEY, TEXT_KEY})
ID_NAMESPACE = uuid.UUID("6f0c2a8e-8d3b-5b7e-9a51-7c2f2d0e4b11")
"""uuid5 namespace of vecstore ids; fixed forever, or stored ids would no longer be found."""
NETWORK_TIMEOUT_S = 30.0
"""Every network call of an adapter gives up after this long."""
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})

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
    """Split a stored payload into (original id, text, user metadata)."""
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


def status_error(
    what: str, status: int | None, detail: str, retry_after: float | None = None
) -> BackendError:
    """The vecstore error for an HTTP status: transient ones become BackendUnavailable."""
    if status in TRANSIENT_STATUS:
        return BackendUnavailable(f"{what}: HTTP {status}: {detail}", retry_after=retry_after)
    return BackendError(f"{what}: HTTP {status}: {detail}")
