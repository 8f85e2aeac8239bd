"""Records as they cross the seam between Collection and a backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

MAX_SAFE_INT = 2**53
"""Ints in metadata and filters stay within +/-MAX_SAFE_INT: every store keeps them exactly."""

Scalar = str | int | float | bool
MetaValue = Scalar | list[str] | list[int] | list[float] | list[bool]
Metadata = dict[str, MetaValue]
Vectors = npt.NDArray[np.float32]
Metric = Literal["cosine"]


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """What a collection was created with; opening it with anything else is refused."""

    name: str
    model: str
    dimension: int
    metric: Metric = "cosine"


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: ``score`` is cosine similarity in [-1, 1], higher is closer.

    ``score`` is the cosine in every search mode, so a threshold means the same everywhere.
    What ordered the hits is ``rank_score`` under ``rank_by``: ``"dense"`` (the cosine again),
    ``"keyword"`` (BM25), ``"hybrid"`` (reciprocal rank fusion), ``"hybrid:dense"`` (a hybrid
    query with no keyword tokens, ranked by dense alone), ``"mmr"`` (the marginal relevance
    when picked) or ``"rerank"`` (the reranker's score).
    ``vector``: the record's unit vector, when the query asked ``with_vectors``.
    ``document_id`` and ``span`` (start, end): for a chunk of a document
    (``upsert_documents``), the document and where in its text the chunk lies
    (``document.text[start:end] == hit.text``); None for other records.
    """

    id: str
    score: float
    text: str | None
    metadata: Metadata
    vector: Vectors | None = field(default=None, compare=False)
    rank_score: float | None = field(default=None, compare=False)
    rank_by: str = field(default="dense", compare=False)
    document_id: str | None = None
    span: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Pair:
    """Two records and their cosine similarity; ``a`` comes before ``b`` in the store."""

    a: str
    b: str
    score: float


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as read back; ``vector`` is unit-normalised float32, when asked for.

    ``document_id`` and ``span``: as on :class:`Hit`, for a chunk of a document.
    """

    id: str
    text: str | None
    metadata: Metadata
    vector: Vectors | None = field(default=None, compare=False)
    document_id: str | None = None
    span: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A document stored as chunks (``upsert_documents``), as ``get_document`` gives it back.

    ``text`` is the document's text exactly, reassembled from its chunks' spans; ``chunks``
    its chunk records in order (each with ``document_id`` and ``span``).
    """

    id: str
    text: str
    metadata: Metadata
    chunks: list[StoredRecord]


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """Validated records ready to write: unique ids, unit-norm float32 (n, d) vectors."""

    ids: list[str]
    vectors: Vectors
    texts: list[str | None]
    metadata: list[Metadata]

    def __len__(self) -> int:
        return len(self.ids)

    def slice(self, start: int, stop: int | None = None) -> RecordBatch:
        """Records ``start`` up to ``stop``, as a batch of their own (vectors are a view)."""
        part = slice(start, stop)
        return RecordBatch(
            self.ids[part], self.vectors[part], self.texts[part], self.metadata[part]
        )
