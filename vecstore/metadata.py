"""The portable metadata value set, checked once before anything is written.

The rule, the same on every backend:

* Values: ``str``, ``int`` within +/-2**53 (exact in every store, Pinecone keeps numbers as
  doubles), finite ``float``, ``bool``, and non-empty lists holding one of those types
  (all str, all int, all float or all bool; tuples are stored as lists).
* Converted losslessly: numpy scalars (``np.int64(3)`` -> ``3``, ``np.float32(0.5)`` -> ``0.5``,
  ``np.bool_`` -> ``bool``, ``np.str_`` -> ``str``).
* ``None`` means "absent": the key is not stored, and ``{"$exists": false}`` matches it.
* Refused, naming the record and the key: nested dicts, sets, bytes, datetimes and any other
  type, NaN and infinities, empty or mixed-type lists, ints outside +/-2**53, keys that are
  empty, not strings, start with ``$``, ``#``, ``_vecstore`` or ``chroma:``, contain ``.``, and
  metadata larger than :data:`MAX_METADATA_BYTES` once JSON-encoded.

That is the ``strict`` policy, the default. The ``coerce`` policy (setting ``metadata_policy``,
or per call) takes metadata shaped for other libraries (LangChain's, LlamaIndex's) and makes
it portable, each step documented and checked like the rest:

* nested dicts are flattened into one level, keys joined by :data:`FLATTEN_SEPARATOR`
  (``{"source": {"page": 3}}`` -> ``{"source__page": 3}``);
* ``datetime`` and ``date`` become ISO-8601 strings (a naive datetime as written, an aware one
  in UTC: ``"2024-05-01T12:00:00+00:00"``); ``$eq``, ``$ne``, ``$in``, ``$nin`` and ``$exists``
  work on them, range operators do not (they take numbers: store a timestamp for ranges);
* empty lists and ``None`` values are dropped (the key is absent);
* lists mixing ints and floats are widened to floats.

Whatever cannot be coerced (a list mixing strings and numbers, bytes, a set, an object) is
still refused, naming the record and the key.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import orjson

from vecstore.errors import InvalidInput
from vecstore.records import MAX_SAFE_INT, Metadata, MetaValue, Scalar
from vecstore.reserved import FOREIGN_PREFIXES, RESERVED_PREFIX
from vecstore.validation import unicode_problem

MAX_METADATA_BYTES = 40 * 1024
"""Largest JSON-encoded metadata of one record (Pinecone's per-vector limit)."""
RESERVED_KEY_PREFIXES = (RESERVED_PREFIX, *FOREIGN_PREFIXES)
FLATTEN_SEPARATOR = "__"
"""Joins the keys of a nested dict flattened under the ``coerce`` policy."""
MetadataPolicy = Literal["strict", "coerce"]


def _scalar(value: Any) -> Scalar | None:
    """Return the portable form of one scalar, or None if it is not one."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    return None


def _check_scalar(value: Scalar) -> str | None:
    """Return why a scalar is refused, or None."""
    if isinstance(value, str):
        return unicode_problem(value)
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INT:
        return f"int {value} is outside +/-2**53, the range every store keeps exactly"
    return None


def _value(value: Any) -> tuple[MetaValue | None, str | None]:
    """Return (portable value, None) or (None, reason it is refused)."""
    if isinstance(value, list | tuple):
        if not value:
            return None, "an empty list is not portable (Chroma refuses it); omit the key"
        items = [_scalar(v) for v in value]
        kinds = {type(v) for v in items}
        if None in items or len(kinds) != 1:
            return None, "a list must hold one type: all str, all int, all float or all bool"
        for item in items:
            assert item is not None
            reason = _check_scalar(item)
            if reason:
                return None, f"list element {reason}"
        return items, None  # type: ignore[return-value]
    scalar = _scalar(value)
    if scalar is None:
        hint = ""
        if isinstance(value, Mapping):
            hint = " (nested dicts are not portable: flatten them into keys)"
        elif hasattr(value, "isoformat"):
            hint = " (store an ISO-8601 string or a timestamp number instead)"
        return None, f"{type(value).__name__} is not a portable metadata value{hint}"
    return scalar, _check_scalar(scalar)


def check_key(key: Any, record: int | str) -> str:
    """Return ``key`` if it is a portable metadata key, else raise InvalidInput."""
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"metadata key {key!r} must be a non-empty str", record=record)
    problem = unicode_problem(key)
    if problem is not None:  # the key itself cannot be shown as a field name
        raise InvalidInput(f"metadata key {key!r} {problem}", record=record)
    if key[0] in "$#" or "." in key or key.startswith(RESERVED_KEY_PREFIXES):
        raise InvalidInput(
            "keys must not start with '$', '#', '_vecstore' or 'chroma:', nor contain '.'",
            record=record,
            field=f"metadata.{key}",
        )
    return key


def _coerced_value(value: Any) -> Any:
    """One value under the ``coerce`` policy (None: drop it); the rest is checked as usual."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        if not value:
            return None
        items = [_coerced_value(v) for v in value]
        numbers = [v for v in items if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == len(items) and any(isinstance(v, float) for v in numbers):
            return [float(v) for v in numbers]
        return items
    return value


def _flatten(metadata: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in metadata.items():
        name = f"{prefix}{FLATTEN_SEPARATOR}{key}" if prefix else key
        if isinstance(value, Mapping):
            _flatten(value, name, out)
        else:
            out[name] = _coerced_value(value)


def check_policy(policy: Any) -> MetadataPolicy:
    """Return ``policy`` if it is one of the metadata policies."""
    if policy not in ("strict", "coerce"):
        raise InvalidInput(
            f"metadata_policy must be 'strict' or 'coerce', got {policy!r}", field="metadata_policy"
        )
    return policy  # type: ignore[no-any-return]


def coerce_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata made portable where it can be (see the module doc); not yet checked."""
    out: dict[str, Any] = {}
    _flatten(metadata, "", out)
    return out


MAX_KEYS_SEEN = 4096
_KEYS_SEEN: dict[str, None] = {}
"""Keys that passed :func:`check_key` (a key is checked once per process, not per record)."""


def normalize_metadata(
    metadata: Any, record: int | str, policy: MetadataPolicy = "strict"
) -> Metadata:
    """Return a new portable metadata dict; the caller's object is never changed."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInput(f"metadata must be a dict, got {type(metadata).__name__}", record=record)
    if policy == "coerce":
        metadata = coerce_metadata(metadata)
    out: Metadata = {}
    for key, raw in metadata.items():
        if key not in _KEYS_SEEN:
            _learn_key(key, record)
        kind = type(raw)
        # The common values, checked inline (the same checks as _value, a tenth of the cost).
        if kind is str and raw.isascii() or kind is bool:
            out[key] = raw
            continue
        if kind is int and -MAX_SAFE_INT <= raw <= MAX_SAFE_INT:
            out[key] = raw
            continue
        if kind is float and math.isfinite(raw):
            out[key] = raw
            continue
        if raw is None:
            continue
        value, reason = _value(raw)
        if reason is not None:
            raise InvalidInput(reason, record=record, field=f"metadata.{key}")
        assert value is not None
        out[key] = value
    _check_size(out, record)
    return out


def _learn_key(key: Any, record: int | str) -> None:
    """Check a key not seen before; remember it (up to :data:`MAX_KEYS_SEEN` keys)."""
    check_key(key, record)
    if len(_KEYS_SEEN) < MAX_KEYS_SEEN:
        _KEYS_SEEN[key] = None


def _check_size(metadata: Metadata, record: int | str) -> None:
    size = len(orjson.dumps(metadata))
    if size > MAX_METADATA_BYTES:
        raise InvalidInput(
            f"metadata is {size} bytes as JSON, over the {MAX_METADATA_BYTES}-byte limit",
            record=record,
            field="metadata",
        )
