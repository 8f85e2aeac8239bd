"""LangChain speaks vecstore: a ``VectorStore`` over a Collection, and embeddings both ways.

``pip install 'vecstore[langchain]'`` (langchain-core 1.x). Everything goes through the public
:class:`~vecstore.Collection` API, on any backend:

* :class:`VecstoreVectorStore`: ``VecstoreVectorStore(collection)`` or ``.from_config(...)``.
  Scores are cosine similarity (higher is closer); the relevance function maps them into
  [0, 1] as ``(1 + cosine) / 2``, in rank order. Documents without an id get a fresh uuid4, as
  LangChain's own stores do (vecstore's own derived ids would merge equal texts). Metadata goes
  in under the ``coerce`` policy (nested dicts flattened with ``__``, dates as ISO strings,
  ``None`` and empty lists dropped). ``filter`` takes vecstore's filter language. MMR and
  ``score_threshold`` are the Collection's own (``mmr=``, ``min_score=``). The async methods
  run on the Collection's own async API, not LangChain's thread fallback.
* :class:`VecstoreEmbeddings`: a vecstore encoder as LangChain ``Embeddings`` (query and document
  sides). :class:`LangChainEncoder`: LangChain ``Embeddings`` as a vecstore encoder, under a
  model name you give (LangChain embeddings carry no model id, and the model is recorded with
  the collection).
* :class:`VecstoreTranslator`: LangChain structured queries (the self-query retriever) to
  vecstore filters; a comparator without an exact vecstore meaning is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from vecstore.collection import Collection
from vecstore.encoders import Encoder, encode_documents, encode_queries, encoder_from_name
from vecstore.errors import ConfigError, FilterError, MissingDependency
from vecstore.metadata import MetadataPolicy
from vecstore.records import Hit, Vectors

try:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.structured_query import (
        Comparator,
        Comparison,
        Operation,
        Operator,
        StructuredQuery,
        Visitor,
    )
    from langchain_core.vectorstores import VectorStore
except ImportError as exc:  # pragma: no cover - exercised by the bare-install smoke job
    raise MissingDependency("langchain-core", "langchain") from exc

__all__ = ["LangChainEncoder", "VecstoreEmbeddings", "VecstoreTranslator", "VecstoreVectorStore"]

DIMENSION_PROBE = "dimension probe"
POLICY: MetadataPolicy = "coerce"


class LangChainEncoder:
    """LangChain ``Embeddings`` as a vecstore encoder, recorded under ``name``."""

    def __init__(self, embeddings: Embeddings, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError("a LangChain embedding needs embedding_name (the model it runs)")
        self.embeddings = embeddings
        self._name = name
        self._dimension: int | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len(self.embeddings.embed_query(DIMENSION_PROBE))
        return self._dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        return self.encode_documents(texts)

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        return np.asarray(self.embeddings.embed_documents(list(texts)), dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return np.asarray([self.embeddings.embed_query(t) for t in texts], dtype=np.float32)


class VecstoreEmbeddings(Embeddings):
    """A vecstore encoder as LangChain ``Embeddings`` (documents and queries on their sides)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    @classmethod
    def from_config(cls, **overrides: Any) -> VecstoreEmbeddings:
        """The configured vecstore model (``model``, ``device``, ``precision``, prompts)."""
        from vecstore.config import load_settings

        settings = load_settings(**overrides)
        return cls(encoder_from_name(settings.model, settings))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Vectors of texts to store."""
        return [[float(x) for x in row] for row in encode_documents(self.encoder, texts)]

    def embed_query(self, text: str) -> list[float]:
        """The vector of a text to search with."""
        return [float(x) for x in encode_queries(self.encoder, [text])[0]]


def _document(hit: Hit) -> Document:
    return Document(page_content=hit.text or "", metadata=dict(hit.metadata), id=hit.id)


def _fresh_ids(ids: Sequence[str | None] | None, n: int) -> list[str]:
    given = list(ids) if ids is not None else [None] * n
    if len(given) != n:
        raise ValueError(f"{len(given)} ids given for {n} texts")
    return [i if i is not None else str(uuid.uuid4()) for i in given]


def _cosine_relevance(score: float) -> float:
    """Cosine similarity in [-1, 1] to a relevance in [0, 1], keeping the order."""
    return (1.0 + score) / 2.0


class VecstoreVectorStore(VectorStore):
    """A LangChain vector store over one vecstore Collection (any backend)."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    @classmethod
    def from_config(
        cls,
        collection: str | None = None,
        embedding: Embeddings | None = None,
        embedding_name: str | None = None,
        **overrides: Any,
    ) -> VecstoreVectorStore:
        """Open a collection from configuration (``overrides`` as in ``open_collection``).

        Encoding uses the configured vecstore model, or ``embedding`` recorded as
        ``embedding_name``.
        """
        from vecstore.config import load_settings

        settings = load_settings(**overrides)
        encoder = None
        if isinstance(embedding, VecstoreEmbeddings):
            encoder = embedding.encoder
        elif embedding is not None:
            encoder = LangChainEncoder(embedding, embedding_name or "")
        name = settings.collection if collection is None else collection
        return cls(Collection(name, encoder=encoder, settings=settings, metadata_policy=POLICY))

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        collection: str | None = None,
        embedding_name: str | None = None,
        **overrides: Any,
    ) -> VecstoreVectorStore:
        """A store from configuration, with ``texts`` added."""
        store = cls.from_config(collection, embedding, embedding_name, **overrides)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @property
    def embeddings(self) -> Embeddings:
        """The collection's encoder, as LangChain ``Embeddings``."""
        encoder = self.collection.encoder
        if isinstance(encoder, LangChainEncoder):
            return encoder.embeddings
        return VecstoreEmbeddings(encoder)

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return _cosine_relevance

    # -- writing -------------------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Add or replace texts; a text without an id gets a fresh one."""
        text_list = list(texts)
        return self.collection.upsert(
            text_list, _fresh_ids(ids, len(text_list)), metadatas, metadata_policy=POLICY
        )

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """:meth:`add_texts` on the Collection's async API."""
        text_list = list(texts)
        return await self.collection.aupsert(
            text_list, _fresh_ids(ids, len(text_list)), metadatas, metadata_policy=POLICY
        )

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete these ids, or every record when none are given.

        An id of a document stored whole (``upsert_documents``) deletes every chunk of it.
        """
        if ids is None:
            self.collection.clear()
        else:
            self.collection.delete(list(ids))
            self.collection.delete_documents(list(ids))
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """:meth:`delete` on the Collection's async API."""
        if ids is None:
            await self.collection.aclear()
        else:
            await self.collection.adelete(list(ids))
            await self.collection.adelete_documents(list(ids))
        return True

    # -- reading -------------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents with these ids; unknown ids are left out."""
        return [
            Document(page_content=r.text or "", metadata=dict(r.metadata), id=r.id)
            for r in self.collection.get(list(ids))
        ]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """:meth:`get_by_ids` on the Collection's async API."""
        return [
            Document(page_content=r.text or "", metadata=dict(r.metadata), id=r.id)
            for r in await self.collection.aget(list(ids))
        ]

    def similarity_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` documents closest to ``query`` (``filter``: vecstore's filter language)."""
        return [_document(h) for h in self.collection.query(query, k, where=filter)]

    async def asimilarity_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """:meth:`similarity_search` on the Collection's async API."""
        return [_document(h) for h in await self.collection.aquery(query, k, where=filter)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents with their cosine similarity (higher is closer)."""
        return [(_document(h), h.score) for h in self.collection.query(query, k, where=filter)]

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """:meth:`similarity_search_with_score` on the Collection's async API."""
        hits = await self.collection.aquery(query, k, where=filter)
        return [(_document(h), h.score) for h in hits]

    def similarity_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """The ``k`` documents closest to a vector."""
        return [_document(h) for h in self.collection.query(embedding, k, where=filter)]

    async def asimilarity_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """:meth:`similarity_search_by_vector` on the Collection's async API."""
        return [_document(h) for h in await self.collection.aquery(embedding, k, where=filter)]

    def similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents with relevance ``(1 + cosine) / 2``; ``score_threshold`` cut by the core.

        The threshold becomes the Collection's ``min_score`` (a cosine of ``2 t - 1``), so the
        store's top k is cut exactly as ``Collection.query`` cuts it.
        """
        floor = _floor(kwargs.pop("score_threshold", None))
        hits = self.collection.query(query, k, where=kwargs.get("filter"), min_score=floor)
        return [(_document(h), _cosine_relevance(h.score)) for h in hits]

    async def asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """:meth:`similarity_search_with_relevance_scores` on the Collection's async API."""
        floor = _floor(kwargs.pop("score_threshold", None))
        hits = await self.collection.aquery(query, k, where=kwargs.get("filter"), min_score=floor)
        return [(_document(h), _cosine_relevance(h.score)) for h in hits]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """The core's MMR (``Collection.query(mmr=...)``) over the ``fetch_k`` closest."""
        hits = self.collection.query(
            np.asarray(embedding), min(k, fetch_k), where=filter, mmr=lambda_mult, fetch_k=fetch_k
        )
        return [_document(h) for h in hits]

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """:meth:`max_marginal_relevance_search_by_vector` on the Collection's async API."""
        hits = await self.collection.aquery(
            np.asarray(embedding), min(k, fetch_k), where=filter, mmr=lambda_mult, fetch_k=fetch_k
        )
        return [_document(h) for h in hits]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """The core's MMR for a text query (encoded on the query side)."""
        hits = self.collection.query(
            query, min(k, fetch_k), where=filter, mmr=lambda_mult, fetch_k=fetch_k
        )
        return [_document(h) for h in hits]

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """:meth:`max_marginal_relevance_search` on the Collection's async API."""
        hits = await self.collection.aquery(
            query, min(k, fetch_k), where=filter, mmr=lambda_mult, fetch_k=fetch_k
        )
        return [_document(h) for h in hits]


def _floor(threshold: Any) -> float | None:
    """LangChain's relevance threshold as a cosine floor, clamped into [-1, 1]."""
    if threshold is None:
        return None
    return min(1.0, max(-1.0, 2.0 * float(threshold) - 1.0))


class VecstoreTranslator(Visitor):
    """LangChain structured queries to vecstore filters, where the meaning is exact.

    ``eq ne gt gte lt lte in nin`` and ``and or not`` map one to one. ``contain`` and ``like``
    are refused: stores read them as substring matches, which vecstore's filters do not do.
    """

    allowed_comparators = (
        Comparator.EQ,
        Comparator.NE,
        Comparator.GT,
        Comparator.GTE,
        Comparator.LT,
        Comparator.LTE,
        Comparator.IN,
        Comparator.NIN,
    )
    allowed_operators = (Operator.AND, Operator.OR, Operator.NOT)

    def visit_operation(self, operation: Operation) -> dict[str, Any]:
        """``and``/``or`` over the arguments, ``not`` of the one argument."""
        if operation.operator not in self.allowed_operators:
            raise FilterError(f"operator {operation.operator.value!r} has no vecstore meaning")
        args = [arg.accept(self) for arg in operation.arguments]
        if operation.operator == Operator.NOT:
            if len(args) != 1:
                raise FilterError("not takes exactly one argument")
            return {"$not": args[0]}
        return {f"${operation.operator.value}": args}

    def visit_comparison(self, comparison: Comparison) -> dict[str, Any]:
        """``{attribute: {$op: value}}``."""
        if comparison.comparator not in self.allowed_comparators:
            raise FilterError(
                f"comparator {comparison.comparator.value!r} has no exact vecstore meaning "
                "(vecstore filters do no substring matching); use eq, ne, gt, gte, lt, lte, "
                "in or nin"
            )
        return {comparison.attribute: {f"${comparison.comparator.value}": comparison.value}}

    def visit_structured_query(
        self, structured_query: StructuredQuery
    ) -> tuple[str, dict[str, Any]]:
        """The query text, and the ``filter`` keyword for the store's search."""
        if structured_query.filter is None:
            return structured_query.query, {}
        return structured_query.query, {"filter": structured_query.filter.accept(self)}
