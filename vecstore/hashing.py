"""Change detection: what each stored record carries so that a re-run does only what changed.

Each record carries two hashes in reserved metadata keys (results never show them):

* ``_vecstore_vhash``: what decides the vector, the model (with its prompts, as recorded in the
  collection) and the text; for a record stored without text, the vector itself.
* ``_vecstore_mhash``: the user metadata and the ingest source tag.

A record whose text is unchanged but whose metadata changed is therefore rewritten with its
stored vector and never encoded again (:func:`change_of`). Records written before the split
carry one hash of everything (``_vecstore_hash``, :func:`legacy_hash`): they are unchanged when
it matches, and otherwise compared by their stored text, never re-encoded blindly.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any, Literal

import orjson

from vecstore.records import Hit, Metadata, StoredRecord, Vectors
from vecstore.reserved import (
    DOCUMENT_KEY,
    END_KEY,
    HASH_KEY,
    META_HASH_KEY,
    RESERVED_PREFIX,
    SOURCE_KEY,
    START_KEY,
    VECTOR_HASH_KEY,
)

__all__ = [
    "HASH_KEY",
    "META_HASH_KEY",
    "SOURCE_KEY",
    "VECTOR_HASH_KEY",
    "Change",
    "change_of",
    "legacy_hash",
    "metadata_hash",
    "public_hit",
    "public_record",
    "stamp",
    "user_metadata",
    "vector_hash",
]

HASH_BYTES = 16
Change = Literal["new", "text", "metadata", "unchanged"]
"""What a source record changes: a new record, its text (encode), its metadata only (rewrite
with the stored vector), or nothing."""


def _digest(*parts: bytes) -> str:
    # One call over the joined bytes: the same digest as one update per length and part.
    if len(parts) == 2:  # the common case, without a generator
        first, second = parts
        joined = b"".join((_LENGTH.pack(len(first)), first, _LENGTH.pack(len(second)), second))
    else:
        joined = b"".join(b for part in parts for b in (_LENGTH.pack(len(part)), part))
    return hashlib.blake2b(joined, digest_size=HASH_BYTES).hexdigest()


_LENGTH = struct.Struct("<Q")


def user_metadata(metadata: Metadata) -> Metadata:
    """``metadata`` without reserved keys."""
    return {k: v for k, v in metadata.items() if not k.startswith(RESERVED_PREFIX)}


def _canonical(metadata: Metadata) -> bytes:
    return orjson.dumps(user_metadata(metadata), option=orjson.OPT_SORT_KEYS)


def vector_hash(model: str, text: str | None, vector: Vectors | None = None) -> str:
    """Hex digest of what decides a record's vector: the model and the text (else the vector)."""
    if text is None:
        assert vector is not None, "a record without text is its vector"
        return _digest(model.encode(), b"\x00vector", vector.tobytes())
    return _digest(model.encode(), text.encode())


def metadata_hash(metadata: Metadata, tag: str = "") -> str:
    """Hex digest of the user metadata and the source tag (re-tagging rewrites a record)."""
    return _digest(_canonical(metadata), tag.encode())


def legacy_hash(
    model: str, text: str | None, metadata: Metadata, vector: Vectors | None, tag: str = ""
) -> str:
    """The one hash records carried before the split (model, text, metadata, tag)."""
    h = hashlib.blake2b(digest_size=HASH_BYTES)
    for part in (model.encode(), (text or "").encode(), _canonical(metadata), tag.encode()):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    if vector is not None:
        h.update(vector.tobytes())
    return h.hexdigest()


def stamp(metadata: Metadata, vhash: str, tag: str = "", *, checked: bool = False) -> Metadata:
    """The metadata to store: the user's keys, both hashes, and the source tag when given.

    ``checked``: ``metadata`` came from :func:`vecstore.metadata.normalize_metadata`, which
    refuses reserved keys, so it holds the user's keys only.
    """
    user = metadata if checked else user_metadata(metadata)
    out: dict[str, Any] = {**user, VECTOR_HASH_KEY: vhash}
    out[META_HASH_KEY] = _digest(orjson.dumps(user, option=orjson.OPT_SORT_KEYS), tag.encode())
    if tag:
        out[SOURCE_KEY] = tag
    return out


def change_of(
    stored: StoredRecord | None, model: str, text: str, vhash: str, metadata: Metadata, tag: str
) -> Change:
    """What storing (``text``, ``metadata``) over ``stored`` would change."""
    if stored is None:
        return "new"
    held = stored.metadata
    if VECTOR_HASH_KEY in held:
        if held[VECTOR_HASH_KEY] != vhash:
            return "text"
        same = held.get(META_HASH_KEY) == metadata_hash(metadata, tag)
        return "unchanged" if same else "metadata"
    # Written before the split: one hash of everything, else compare the stored text.
    if held.get(HASH_KEY) == legacy_hash(model, text, metadata, None, tag):
        return "unchanged"
    return "metadata" if stored.text == text else "text"


def document_of(metadata: Metadata) -> tuple[str | None, tuple[int, int] | None]:
    """The document a record was cut from and its span there, from its reserved keys."""
    document = metadata.get(DOCUMENT_KEY)
    if not isinstance(document, str):
        return None, None
    start, end = metadata.get(START_KEY), metadata.get(END_KEY)
    if type(start) is int and type(end) is int:
        return document, (start, end)
    return document, None


def public_hit(hit: Hit) -> Hit:
    """The hit as users see it: no reserved metadata keys; its document and span, if any."""
    # Built directly: dataclasses.replace() costs three times as much, per hit.
    document, span = document_of(hit.metadata)
    return Hit(
        hit.id,
        hit.score,
        hit.text,
        user_metadata(hit.metadata),
        hit.vector,
        hit.rank_score,
        hit.rank_by,
        document,
        span,
    )


def public_record(record: StoredRecord) -> StoredRecord:
    """The record as users see it: no reserved metadata keys; its document and span, if any."""
    document, span = document_of(record.metadata)
    return StoredRecord(
        record.id, record.text, user_metadata(record.metadata), record.vector, document, span
    )
