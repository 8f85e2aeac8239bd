"""Filter facts: what a store needs beside a record's metadata to filter it natively, exactly.

Chroma and Pinecone cannot say every filter of the language over the user's metadata alone
(:mod:`vecstore.adapters.chroma_filters`, :mod:`vecstore.adapters.pinecone_filters`). Since
vecstore writes every record, it also writes a few derived keys, all starting with
:data:`FACT_PREFIX`, from which each operator can be compiled to the store's own filter:

* ``_vecstore__form``: the form of the facts (:data:`FORM`); a record without it was written
  before facts existed;
* per user key, which kind of value it holds, and for numbers their least and greatest value as
  floats (exact: every stored int is within +/-2**53); the store-specific modules say which.

Adapters add the facts on write and strip them on read, so nothing above an adapter sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vecstore.reserved import RESERVED_PREFIX

FACT_PREFIX = f"{RESERVED_PREFIX}__"
FORM_KEY = f"{FACT_PREFIX}form"
FORM = 2
"""The filter-facts form written now; collections without it answer by the older routes."""

NEGATED: dict[str, str] = {"$gt": "$lte", "$gte": "$lt", "$lt": "$gte", "$lte": "$gt"}


def fact_key(role: str, key: str) -> str:
    """The reserved key holding fact ``role`` of the user's ``key``."""
    return f"{FACT_PREFIX}{role}_{key}"


def is_fact(key: str) -> bool:
    """Whether ``key`` is a filter fact (not user metadata, not another reserved key)."""
    return key.startswith(FACT_PREFIX)


def without_facts(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``metadata`` without the filter facts."""
    return {k: v for k, v in (metadata or {}).items() if not is_fact(k)}


def user_items(metadata: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The user's keys and values (reserved keys left out)."""
    return [(k, v) for k, v in metadata.items() if not k.startswith(RESERVED_PREFIX)]


def numbers(value: Any) -> list[int | float]:
    """The numeric values of a metadata value (a scalar, or a list's elements); bool is not one."""
    items = value if isinstance(value, list) else [value]
    return [x for x in items if isinstance(x, int | float) and not isinstance(x, bool)]
