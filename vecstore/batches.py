"""What a write call becomes before any store sees it: validated, encoded, hashed records.

:func:`prepare` checks a whole ``upsert`` call (texts, ids, metadata, vectors), encodes what has
no vector, derives missing ids and stamps each record's change hashes
(:mod:`vecstore.hashing`), so a bad record fails the call before anything is written.
:func:`check_updates` does the same for ``update_metadata``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from vecstore import validation
from vecstore.encoders import Encoder, checked_vectors, encode_documents
from vecstore.errors import InvalidInput
from vecstore.hashing import SOURCE_KEY, VECTOR_HASH_KEY, stamp, vector_hash
from vecstore.metadata import MetadataPolicy, normalize_metadata
from vecstore.records import CollectionInfo, Metadata, RecordBatch, StoredRecord, Vectors

Encode = Callable[[Sequence[str]], Vectors]
ENCODE_WINDOW = 8192
"""Texts given to one ``encode()`` call: large, so the model's length sort keeps batches tight."""
ENCODE_STEP = 256
"""Texts per ``encode()`` call when progress is reported per batch (in length order)."""


def encode(
    encoder: Encoder, dimension: int, texts: Sequence[str], progress: Callable[[int], None] | None
) -> Vectors:
    """Texts encoded on the encoder's document side, every batch checked.

    Without ``progress``, in large windows (the model sorts each by length). With it, in length
    order, :data:`ENCODE_STEP` texts per call and ``progress(n)`` after each: the same batches
    of similar lengths, reported as they finish.
    """
    if not texts:
        return np.empty((0, dimension), np.float32)

    def checked(part: Sequence[str]) -> Vectors:
        return checked_vectors(encoder, encode_documents(encoder, part), len(part), dimension)

    if progress is None:
        parts = [checked(texts[i : i + ENCODE_WINDOW]) for i in range(0, len(texts), ENCODE_WINDOW)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.empty((len(texts), dimension), np.float32)
    for start in range(0, len(order), ENCODE_STEP):
        rows = order[start : start + ENCODE_STEP]
        out[rows] = checked([texts[i] for i in rows])
        progress(len(rows))
    return out


def prepare(
    info: CollectionInfo,
    encode: Encode,
    texts: Sequence[str] | None,
    ids: Sequence[str | None] | None,
    metadata: Sequence[Mapping[str, Any] | None] | None,
    vectors: Any,
    policy: MetadataPolicy,
) -> RecordBatch:
    """Validate and encode records into a batch, writing nothing."""
    if texts is None and vectors is None:
        raise InvalidInput("give texts, vectors, or both", field="texts")
    text_list = None if texts is None else validation.as_list(texts, "texts")
    id_list = None if ids is None else validation.as_list(ids, "ids")
    meta_list = None if metadata is None else validation.as_list(metadata, "metadata")
    n = len(text_list) if text_list is not None else validation.row_count(vectors)
    validation.check_length(id_list, n, "ids")
    validation.check_length(meta_list, n, "metadata")
    if n == 0:  # nothing to do, whatever shape the empty input had
        return RecordBatch([], np.empty((0, info.dimension), np.float32), [], [])
    if id_list is not None:
        id_list = validation.check_ids(id_list, allow_missing=True)
    if text_list is not None:
        text_list = [
            validation.check_text(t, validation.label(i, id_list)) for i, t in enumerate(text_list)
        ]
    metas = [
        normalize_metadata(
            meta_list[i] if meta_list is not None else None, validation.label(i, id_list), policy
        )
        for i in range(n)
    ]
    if vectors is not None:
        if validation.row_count(vectors) != n:
            raise InvalidInput(
                f"{validation.row_count(vectors)} vectors given for {n} texts", field="vectors"
            )
        matrix = validation.check_vectors(vectors, info.dimension, id_list)
    else:
        assert text_list is not None
        matrix = encode(text_list)
    if id_list is None or None in id_list:
        given = id_list or [None] * n
        id_list = validation.check_ids(
            [
                rid
                if rid is not None
                else validation.derived_id(text_list[i] if text_list else None, matrix[i])
                for i, rid in enumerate(given)
            ]
        )
    stored_texts: list[str | None] = list(text_list) if text_list else [None] * n
    stamped = [
        stamp(meta, vector_hash(info.model, stored_texts[i], matrix[i]), checked=True)
        for i, meta in enumerate(metas)
    ]
    return RecordBatch(id_list, matrix, stored_texts, stamped)


def check_updates(
    ids: Sequence[str], metadata: Sequence[Mapping[str, Any] | None], policy: MetadataPolicy
) -> tuple[list[str], list[Metadata]]:
    """The ids (unique, non-empty str) and their new metadata, checked whole."""
    id_list = validation.check_ids(validation.as_list(ids, "ids"))
    meta_list = validation.as_list(metadata, "metadata")
    validation.check_length(meta_list, len(id_list), "metadata")
    return id_list, [
        normalize_metadata(m, rid, policy) for rid, m in zip(id_list, meta_list, strict=True)
    ]


def restamp(stored: StoredRecord, metadata: Metadata, model: str) -> Metadata:
    """``metadata`` as it is stored over ``stored``: its vector hash and source tag kept.

    A record written before the split hashes carries none: its vector hash comes from its
    stored text (a record stored without text keeps none, and is compared by text later).
    """
    held = stored.metadata
    tag = str(held.get(SOURCE_KEY, ""))
    vhash = held.get(VECTOR_HASH_KEY)
    if vhash is None and stored.text is not None:
        vhash = vector_hash(model, stored.text)
    out = stamp(metadata, str(vhash or ""), tag)
    if vhash is None:
        del out[VECTOR_HASH_KEY]
    return out
