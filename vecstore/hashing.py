"""Content hashes kept with each record, so re-runs can tell unchanged records apart.

Each stored record carries ``_vecstore_hash`` in its metadata: a hash of the model id, the
text and the user metadata (and the vector, when the caller gave vectors without text). The
reserved key never reaches the user: results are stripped of every ``_vecstore`` key.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from vecstore.records import Hit, Metadata, StoredRecord, Vectors
from vecstore.reserved import HASH_KEY, RESERVED_PREFIX, SOURCE_KEY

__all__ = ["HASH_KEY", "SOURCE_KEY", "content_hash", "public_hit", "public_record", "stored_hash"]

HASH_BYTES = 16


def content_hash(
    model: str, text: str | None, metadata: Metadata, vector: Vectors | None, tag: str = ""
) -> str:
    """Hex digest of what a record is made of.

    ``metadata`` counts without reserved keys; ``tag`` (the ingest source tag) counts too, so
    that re-tagging a record rewrites it.
    """
    h = hashlib.blake2b(digest_size=HASH_BYTES)
    user = {k: v for k, v in metadata.items() if not k.startswith(RESERVED_PREFIX)}
    parts = (
        model.encode(),
        (text or "").encode(),
        orjson.dumps(user, option=orjson.OPT_SORT_KEYS),
        tag.encode(),
    )
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    if vector is not None:
        h.update(vector.tobytes())
    return h.hexdigest()


def stored_hash(metadata: Metadata) -> Any:
    """The hash a stored record carries, or None."""
    return metadata.get(HASH_KEY)


def _public(metadata: Metadata) -> Metadata:
    return {k: v for k, v in metadata.items() if not k.startswith(RESERVED_PREFIX)}


def public_hit(hit: Hit) -> Hit:
    """The hit as users see it: no reserved metadata keys."""
    # Built directly: dataclasses.replace() costs three times as much, per hit.
    return Hit(hit.id, hit.score, hit.text, _public(hit.metadata), hit.vector)


def public_record(record: StoredRecord) -> StoredRecord:
    """The record as users see it: no reserved metadata keys."""
    return StoredRecord(record.id, record.text, _public(record.metadata), record.vector)
