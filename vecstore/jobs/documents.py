"""Documents stored whole: cut into chunks the model reads, re-indexed chunk by chunk.

``upsert_documents`` cuts each text with :mod:`vecstore.chunking` and stores every chunk as an
ordinary record of the collection: the document's metadata, and reserved keys (stripped from
results like the change hashes) saying which document it belongs to, where it lies in the text
(``Hit.span``), its place and the version of the document. So every filter, search mode and
store works on chunks unchanged.

* **Ids from content.** A chunk's id is the document id and a hash of the chunk's text (and its
  occurrence, when the same text appears twice), so an edit in the middle of a long document
  changes the ids of the chunks around the edit only.
* **Chunk by chunk.** The chunks a document had are read back (hashes only, no vectors): a
  chunk whose text is new is encoded; one that only moved, or whose document's metadata
  changed, gets its metadata rewritten (never encoded); chunks the document no longer has are
  deleted.
* **Crash-safe order.** New chunks are written first, then the moved ones' metadata, then the
  old ones are deleted. A process killed at any point leaves the previous version whole or the
  new one written; running the same call again ends with exactly the new chunks. Meanwhile
  :func:`get_document` returns the newest whole version (each chunk knows how many its version
  has, and when it was written).
* A document with nothing to read (empty, or whitespace only) is refused, as a record's text is.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from vecstore import validation
from vecstore.chunking import Chunker, Piece, model_limit, reassemble
from vecstore.errors import InvalidInput
from vecstore.filters import Compare
from vecstore.hashing import metadata_hash, user_metadata, vector_hash
from vecstore.jobs.base import Target
from vecstore.metadata import MetadataPolicy, normalize_metadata
from vecstore.records import Document, Metadata, RecordBatch, StoredRecord
from vecstore.reserved import (
    CHUNK_KEY,
    CHUNKS_KEY,
    DOCUMENT_KEY,
    END_KEY,
    HEAD_KEY,
    META_HASH_KEY,
    START_KEY,
    TAIL_KEY,
    VECTOR_HASH_KEY,
    VERSION_KEY,
    WRITTEN_KEY,
)

READ_BATCH = 1000
"""Documents whose stored chunks are read back in one filtered scan."""
DEFAULT_MAX_CHARS = 10_000_000
"""A document longer than this (characters) is refused (setting ``chunking.max_chars``)."""


@dataclass(slots=True)
class DocumentReport:
    """What one ``upsert_documents`` call did.

    ``chunks``: chunks now stored for these documents; of them ``encoded`` were new text,
    ``metadata_only`` kept their vector with new metadata (moved, or the document's metadata
    changed), ``unchanged`` were left alone; ``deleted``: chunks the documents no longer have.
    """

    documents: int = 0
    chunks: int = 0
    encoded: int = 0
    metadata_only: int = 0
    unchanged: int = 0
    deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        """The report as plain values."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Chunk:
    id: str
    text: str
    metadata: Metadata  # user metadata and the reserved document keys, without hashes
    vhash: str
    mhash: str


def _version(text: str, chunker: Chunker) -> str:
    key = f"{chunker.max_tokens}\x00{text}".encode()
    return hashlib.blake2b(key, digest_size=12).hexdigest()


def _chunks(doc_id: str, text: str, meta: Metadata, chunker: Chunker, model: str) -> list[_Chunk]:
    pieces = chunker.pieces(text)
    version = _version(text, chunker)
    seen: dict[str, int] = {}
    out = []
    for i, piece in enumerate(pieces):
        part = text[piece.start : piece.end]
        digest = hashlib.blake2b(part.encode(), digest_size=8).hexdigest()
        nth = seen.get(digest, 0)
        seen[digest] = nth + 1
        chunk_id = f"{doc_id}#{digest}" + (f".{nth}" if nth else "")
        reserved = _reserved(doc_id, piece, i, len(pieces), version)
        full = {**meta, **reserved}
        # The change hash covers the document keys too: a chunk that moved is rewritten.
        hashed: dict[str, Any] = {
            **meta,
            "\x00document": [str(reserved[k]) for k in sorted(reserved)],
        }
        out.append(_Chunk(chunk_id, part, full, vector_hash(model, part), metadata_hash(hashed)))
    return out


def _reserved(doc_id: str, piece: Piece, index: int, count: int, version: str) -> Metadata:
    out: dict[str, Any] = {
        DOCUMENT_KEY: doc_id,
        START_KEY: piece.start,
        END_KEY: piece.end,
        CHUNK_KEY: index,
        CHUNKS_KEY: count,
        VERSION_KEY: version,
    }
    if piece.head:
        out[HEAD_KEY] = piece.head
    if piece.tail:
        out[TAIL_KEY] = piece.tail
    return out


def _checked(
    texts: Any,
    ids: Any,
    metadata: Any,
    policy: MetadataPolicy,
    max_chars: int,
) -> tuple[list[str], list[str], list[Metadata]]:
    text_list = validation.as_list(texts, "texts")
    n = len(text_list)
    id_list = None if ids is None else validation.as_list(ids, "ids")
    meta_list = None if metadata is None else validation.as_list(metadata, "metadata")
    validation.check_length(id_list, n, "ids")
    validation.check_length(meta_list, n, "metadata")
    if id_list is not None:
        id_list = validation.check_ids(id_list, allow_missing=True)
    checked = []
    for i, text in enumerate(text_list):
        record = validation.label(i, id_list)
        checked.append(validation.check_text(text, record))
        if len(text) > max_chars:
            raise InvalidInput(
                f"document of {len(text)} characters, over chunking.max_chars ({max_chars})",
                record=record,
                field="text",
            )
    given = id_list or [None] * n
    final = validation.check_ids(
        [
            rid if rid is not None else validation.derived_id(checked[i], None)
            for i, rid in enumerate(given)
        ]
    )
    metas = [
        normalize_metadata(meta_list[i] if meta_list is not None else None, final[i], policy)
        for i in range(n)
    ]
    return checked, final, metas


def _stored(target: Target, doc_ids: Sequence[str]) -> dict[str, StoredRecord]:
    """The chunks the store holds for these documents (no vectors), by id."""
    out: dict[str, StoredRecord] = {}
    for start in range(0, len(doc_ids), READ_BATCH):
        part = tuple(doc_ids[start : start + READ_BATCH])
        where = Compare(DOCUMENT_KEY, "$in", part)
        for batch in target.backend.scan(READ_BATCH, with_vectors=False, where=where):
            out.update((r.id, r) for r in batch)
    return out


def upsert_documents(
    target: Target,
    chunker: Chunker,
    texts: Any,
    ids: Any = None,
    metadata: Any = None,
    *,
    policy: MetadataPolicy = "strict",
    max_chars: int = DEFAULT_MAX_CHARS,
) -> DocumentReport:
    """Store documents as chunks, re-indexing only what changed (module docstring)."""
    text_list, doc_ids, metas = _checked(texts, ids, metadata, policy, max_chars)
    report = DocumentReport(documents=len(doc_ids))
    model = target.info.model
    wanted = [
        c for i, d in enumerate(doc_ids) for c in _chunks(d, text_list[i], metas[i], chunker, model)
    ]
    held = _stored(target, doc_ids)
    new: list[_Chunk] = []
    moved: list[_Chunk] = []
    for chunk in wanted:
        found = held.get(chunk.id)
        if found is not None and found.metadata.get(VECTOR_HASH_KEY) == chunk.vhash:
            if found.metadata.get(META_HASH_KEY) == chunk.mhash:
                report.unchanged += 1
            else:
                moved.append(chunk)
        else:
            new.append(chunk)
    written = time.time_ns()
    if new:
        vectors = target.encode([c.text for c in new])
        target.backend.upsert(
            RecordBatch(
                [c.id for c in new],
                vectors,
                [c.text for c in new],
                [_stamped(c, written) for c in new],
            )
        )
    if moved:
        target.backend.update_metadata([c.id for c in moved], [_stamped(c, written) for c in moved])
    keep = {c.id for c in wanted}
    stale = [rid for rid in held if rid not in keep]
    for start in range(0, len(stale), READ_BATCH):
        target.backend.delete(stale[start : start + READ_BATCH])
    report.encoded, report.metadata_only, report.deleted = len(new), len(moved), len(stale)
    report.chunks = len(wanted)
    return report


def _stamped(chunk: _Chunk, written: int) -> Metadata:
    return {
        **chunk.metadata,
        VECTOR_HASH_KEY: chunk.vhash,
        META_HASH_KEY: chunk.mhash,
        WRITTEN_KEY: written,
    }


def _int(record: StoredRecord, key: str) -> int:
    value = record.metadata.get(key)
    return value if type(value) is int else -1


def _newest_whole(held: list[StoredRecord]) -> list[StoredRecord] | None:
    """The chunks of the newest version whose every chunk is there, in order."""
    versions: dict[Any, list[StoredRecord]] = {}
    for record in held:
        versions.setdefault(record.metadata.get(VERSION_KEY), []).append(record)
    whole = []
    for chunks in versions.values():
        chunks.sort(key=lambda c: _int(c, CHUNK_KEY))
        if [_int(c, CHUNK_KEY) for c in chunks] == list(range(_int(chunks[0], CHUNKS_KEY))):
            whole.append((max(_int(c, WRITTEN_KEY) for c in chunks), chunks))
    return max(whole, key=lambda pair: pair[0])[1] if whole else None


def get_document(target: Target, doc_id: str) -> Document | None:
    """The document ``doc_id``: its newest whole version, reassembled from its chunks."""
    chunks = _newest_whole(list(_stored(target, [doc_id]).values()))
    if chunks is None:
        return None
    pieces = [
        Piece(
            _int(c, START_KEY),
            _int(c, END_KEY),
            str(c.metadata.get(HEAD_KEY, "")),
            str(c.metadata.get(TAIL_KEY, "")),
        )
        for c in chunks
    ]
    text = reassemble([c.text or "" for c in chunks], pieces)
    return Document(doc_id, text, user_metadata(chunks[0].metadata), chunks)


def delete_documents(target: Target, doc_ids: Sequence[str]) -> None:
    """Delete every chunk of these documents (unknown ids are not an error)."""
    ids = validation.check_ids(list(doc_ids))
    for start in range(0, len(ids), READ_BATCH):
        target.backend.delete(
            None, Compare(DOCUMENT_KEY, "$in", tuple(ids[start : start + READ_BATCH]))
        )


def chunker_for(encoder: object, max_tokens: int | None, overlap: float | int) -> Chunker:
    """The chunker of an encoder's model: its tokenizer, at most what it reads."""
    limit, count = model_limit(encoder)
    if max_tokens is not None and max_tokens > limit:
        raise InvalidInput(
            f"chunking.max_tokens {max_tokens} is over what the model reads ({limit} tokens)",
            field="max_tokens",
        )
    return Chunker(max_tokens or limit, count, overlap)


__all__ = [
    "DocumentReport",
    "chunker_for",
    "delete_documents",
    "get_document",
    "upsert_documents",
]
