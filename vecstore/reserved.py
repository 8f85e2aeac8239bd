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
FOREIGN_PREFIXES = ("chroma:",)
"""Prefixes a store reserves for itself; refused in user metadata like ours."""
