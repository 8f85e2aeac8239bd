"""The metadata keys vecstore keeps beside the user's, in one place.

Every reserved key starts with :data:`RESERVED_PREFIX`; users may not write such keys
(:mod:`vecstore.metadata`), and results never show them (:mod:`vecstore.hashing`).
"""

from __future__ import annotations

RESERVED_PREFIX = "_vecstore"
VECTOR_HASH_KEY = "_vecstore_vhash"
"""Hash of what decides a record's vector (model and text): a changed one means encode again."""
META_HASH_KEY = "_vecstore_mhash"
"""Hash of a record's user metadata and source tag: a changed one means rewrite, not encode."""
HASH_KEY = "_vecstore_hash"
"""The one content hash (model, text, metadata) of records written before the split; read only."""
SOURCE_KEY = "_vecstore_source"
"""The ingest source tag that wrote a record (sync mode deletes what a source dropped)."""
ID_KEY = "_vecstore_id"
"""The original id, where a store keeps a mapped one (Qdrant's uuid5, Pinecone's hash)."""
TEXT_KEY = "_vecstore_text"
"""The text, where a store has no document field (Qdrant, Pinecone)."""
MODEL_KEY = "_vecstore_model"
"""The model, where a store has no collection metadata (Pinecone: in every vector)."""
DOCUMENT_KEY = "_vecstore_doc"
"""The document a chunk record was cut from (``upsert_documents``)."""
START_KEY = "_vecstore_start"
"""Where a chunk starts in its document's text (a character offset)."""
END_KEY = "_vecstore_end"
"""Where a chunk ends in its document's text (exclusive): ``text[start:end]`` is the chunk."""
CHUNK_KEY = "_vecstore_chunk"
"""A chunk's place in its document, from 0."""
CHUNKS_KEY = "_vecstore_chunks"
"""How many chunks the document's version has (a version is whole when all are there)."""
VERSION_KEY = "_vecstore_docv"
"""A hash of the document's text and chunking: the chunks of one version share it."""
HEAD_KEY = "_vecstore_head"
"""On a document's first chunk: the text before it (whitespace the chunker left out)."""
TAIL_KEY = "_vecstore_tail"
"""The text between a chunk and the next (whitespace the chunker left out; after the last, to
the end), so that the chunks give the document's text back exactly."""
WRITTEN_KEY = "_vecstore_written"
"""When the chunk was last written (ns): the newest whole version is the document."""
FOREIGN_PREFIXES = ("chroma:",)
"""Prefixes a store reserves for itself; refused in user metadata like ours."""
