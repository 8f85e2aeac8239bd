"""LlamaIndex speaks vecstore: a vector store over a Collection, and an embedding model.

``pip install 'vecstore[llama-index]'`` (llama-index-core 0.14). Everything goes through the
public :class:`~vecstore.Collection` API, on any backend:

* :class:`VecstoreVectorStore` (``stores_text=True``): a node is a record with the node's id,
  its text, and its metadata as LlamaIndex's own stores keep it (the node's fields as JSON in
  ``_node_content``, ``ref_doc_id``/``doc_id``/``document_id`` at the top level), under the
  ``coerce`` metadata policy, so nested metadata is flattened for filtering while the node
  comes back exactly as added. Scores are cosine similarity.
* ``MetadataFilters`` are translated where the meaning is exact: ``== != > >= < <= in nin`` one
  to one, ``any`` as ``$in`` (some element is one of the values), ``all`` as ``$contains`` of
  each value, ``contains`` as ``$contains`` (list membership), ``is_empty`` as missing or ``""``
  (vecstore never stores null or ``[]``); ``and``/``or``, and ``not`` as "none of them" (as
  LlamaIndex's own evaluator reads it), nested to any depth. ``text_match`` and
  ``text_match_insensitive`` (substring matching) are refused with ``FilterError``, never
  dropped.
* Query modes, all the Collection's own: ``default`` (dense), ``mmr`` (``mmr_threshold`` is
  lambda, default 0.5, from ``mmr_prefetch_k`` or 4 x top k candidates), ``sparse`` (BM25
  keyword search over ``query_str``, ``sparse_top_k``) and ``hybrid`` (``query_str``, fused by
  reciprocal rank fusion with weights ``alpha`` dense and ``1 - alpha`` keyword, scaled so the
  larger is 1: the default 0.5 is the unweighted fusion);
  ``sparse`` and ``hybrid`` encode ``query_str`` with the collection's model for the cosine
  ``similarities``, and are refused (``CapabilityError``) on a store without keyword search.
  Others are refused. ``doc_ids`` restricts to those documents; ``node_ids`` is refused.
* :class:`VecstoreEmbedding`: the vecstore encoder as a LlamaIndex ``BaseEmbedding`` (query and
  document sides).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vecstore import filters as vfilters
from vecstore.collection import Collection
from vecstore.encoders import Encoder, encode_documents, encode_queries, encoder_from_name
from vecstore.errors import FilterError, MissingDependency
from vecstore.records import Hit
from vecstore.reserved import DOCUMENT_KEY

try:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        FilterCondition,
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
        VectorStoreQueryResult,
    )
    from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
except ImportError as exc:  # pragma: no cover - exercised by the bare-install smoke job
    raise MissingDependency("llama-index-core", "llama-index") from exc

__all__ = ["VecstoreEmbedding", "VecstoreVectorStore", "translate_filters"]

MODES = (
    VectorStoreQueryMode.DEFAULT,
    VectorStoreQueryMode.MMR,
    VectorStoreQueryMode.SPARSE,
    VectorStoreQueryMode.HYBRID,
)
MMR_PREFETCH = 4
"""Candidates fetched per result for MMR, unless ``mmr_prefetch_k`` is given."""
REF_DOC_KEY = "ref_doc_id"
SCAN_BATCH = 1000

_COMPARE = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
    FilterOperator.ANY: "$in",
    FilterOperator.CONTAINS: "$contains",
}


def _one(flt: MetadataFilter) -> dict[str, Any]:
    op = FilterOperator(flt.operator)
    if op in _COMPARE:
        return {flt.key: {_COMPARE[op]: flt.value}}
    if op == FilterOperator.ALL:
        values = flt.value if isinstance(flt.value, list) else [flt.value]
        return {"$and": [{flt.key: {"$contains": v}} for v in values]}
    if op == FilterOperator.IS_EMPTY:
        return {"$or": [{flt.key: {"$exists": False}}, {flt.key: ""}]}
    raise FilterError(
        f"filter operator {op.value!r} on {flt.key!r} has no exact vecstore meaning "
        "(vecstore filters do no substring matching)"
    )


def translate_filters(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """LlamaIndex ``MetadataFilters`` as a vecstore filter, or FilterError."""
    if filters is None or not filters.filters:
        return None
    parts = [
        translate_filters(f) if isinstance(f, MetadataFilters) else _one(f) for f in filters.filters
    ]
    kept = [p for p in parts if p is not None]
    condition = FilterCondition(filters.condition or FilterCondition.AND)
    if condition == FilterCondition.NOT:
        return {"$not": {"$or": kept}}  # none of them matches
    return {f"${condition.value}": kept}


class VecstoreEmbedding(BaseEmbedding):
    """A vecstore encoder as a LlamaIndex embedding model (query and document sides)."""

    _encoder: Encoder = PrivateAttr()

    def __init__(self, encoder: Encoder, **kwargs: Any) -> None:
        super().__init__(model_name=encoder.name, **kwargs)
        self._encoder = encoder

    @classmethod
    def from_config(cls, **overrides: Any) -> VecstoreEmbedding:
        """The configured vecstore model (``model``, ``device``, ``precision``, prompts)."""
        from vecstore.config import load_settings

        settings = load_settings(**overrides)
        return cls(encoder_from_name(settings.model, settings))

    @classmethod
    def class_name(cls) -> str:
        return "VecstoreEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return [float(x) for x in encode_queries(self._encoder, [query])[0]]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        from vecstore.aio import in_thread

        return await in_thread(self._get_query_embedding, query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in encode_documents(self._encoder, texts)]


def _node(
    hit_id: str, text: str | None, metadata: dict[str, Any], document_id: str | None = None
) -> BaseNode:
    """A node as LlamaIndex added it, or a chunk of a document vecstore stored.

    A chunk of ``upsert_documents`` becomes a text node whose source (``ref_doc_id``) is its
    document.
    """
    if "_node_content" not in metadata:
        chunk = TextNode(id_=hit_id, text=text or "", metadata=metadata)
        if document_id is not None:
            chunk.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=document_id)
        return chunk
    node = metadata_dict_to_node(metadata, text=text or "")
    node.id_ = hit_id
    return node


class VecstoreVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store over one vecstore Collection (any backend)."""

    stores_text: bool = True
    flat_metadata: bool = False
    _collection: Collection = PrivateAttr()

    def __init__(self, collection: Collection, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._collection = collection

    @classmethod
    def from_config(cls, collection: str | None = None, **overrides: Any) -> VecstoreVectorStore:
        """Open a collection from configuration (``overrides`` as in ``open_collection``)."""
        from vecstore.config import load_settings

        settings = load_settings(**overrides)
        name = settings.collection if collection is None else collection
        return cls(Collection(name, settings=settings, metadata_policy="coerce"))

    @classmethod
    def class_name(cls) -> str:
        return "VecstoreVectorStore"

    @property
    def client(self) -> Collection:
        """The Collection underneath."""
        return self._collection

    # -- writing -------------------------------------------------------------------------------

    @staticmethod
    def _records(nodes: Sequence[BaseNode]) -> tuple[list[str], list[str], list[Any], Any]:
        ids = [n.node_id for n in nodes]
        texts = [n.get_content() for n in nodes]
        metas = [node_to_metadata_dict(n, remove_text=True, flat_metadata=False) for n in nodes]
        embedded = all(n.embedding is not None for n in nodes)
        vectors = np.asarray([n.embedding for n in nodes], np.float32) if embedded else None
        return ids, texts, metas, vectors

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        if not nodes:
            return []
        ids, texts, metas, vectors = self._records(nodes)
        return self._collection.upsert(texts, ids, metas, vectors=vectors, metadata_policy="coerce")

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        if not nodes:
            return []
        ids, texts, metas, vectors = self._records(nodes)
        return await self._collection.aupsert(
            texts, ids, metas, vectors=vectors, metadata_policy="coerce"
        )

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        self._collection.delete(where={REF_DOC_KEY: ref_doc_id})
        self._collection.delete_documents([ref_doc_id])  # a document vecstore chunked

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await self._collection.adelete(where={REF_DOC_KEY: ref_doc_id})
        await self._collection.adelete_documents([ref_doc_id])

    def _doomed(
        self, node_ids: list[str] | None, filters: MetadataFilters | None
    ) -> tuple[list[str] | None, dict[str, Any] | None]:
        """What to delete: ids, a filter, or the ids among those that match the filter."""
        where = translate_filters(filters)
        if node_ids is not None and where is not None:
            node = vfilters.parse(where)
            found = self._collection.get(node_ids)
            return [r.id for r in found if vfilters.matches(node, r.metadata)], None
        return node_ids, where

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        ids, where = self._doomed(node_ids, filters)
        if ids or where is not None:
            self._collection.delete(ids, where=where)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        from vecstore.aio import in_thread

        await in_thread(self.delete_nodes, node_ids, filters)

    def clear(self) -> None:
        self._collection.clear()

    async def aclear(self) -> None:
        await self._collection.aclear()

    # -- reading -------------------------------------------------------------------------------

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Nodes by id, by filter, or both; a filter alone is run by the store (filtered scan)."""
        where = translate_filters(filters)
        node = vfilters.parse(where)
        if node_ids is not None:
            records = [
                r
                for r in self._collection.get(node_ids)
                if node is None or vfilters.matches(node, r.metadata)
            ]
        else:
            records = [
                r for batch in self._collection.scan(node, batch_size=SCAN_BATCH) for r in batch
            ]
        return [_node(r.id, r.text, dict(r.metadata), r.document_id) for r in records]

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        from vecstore.aio import in_thread

        return await in_thread(self.get_nodes, node_ids, filters)

    def _search(self, query: VectorStoreQuery, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """The Collection.query arguments for a LlamaIndex query: (query, keyword options)."""
        mode = VectorStoreQueryMode(query.mode)
        if mode not in MODES:
            names = ", ".join(m.value for m in MODES)
            raise FilterError(f"query mode {mode.value!r} is not supported: use {names}")
        if query.node_ids:
            raise FilterError("node_ids in a query is not supported: filter by metadata instead")
        where = translate_filters(query.filters)
        if query.doc_ids:
            docs = list(query.doc_ids)
            restrict = {"$or": [{REF_DOC_KEY: {"$in": docs}}, {DOCUMENT_KEY: {"$in": docs}}]}
            where = restrict if where is None else {"$and": [where, restrict]}
        options: dict[str, Any] = {"where": where, "top_k": query.similarity_top_k}
        if mode in (VectorStoreQueryMode.SPARSE, VectorStoreQueryMode.HYBRID):
            if not query.query_str:
                raise FilterError(f"a {mode.value} query needs query_str (its keywords)")
            if mode == VectorStoreQueryMode.SPARSE:
                options["top_k"] = query.sparse_top_k or query.similarity_top_k
                return query.query_str, {**options, "search": "keyword"}
            return query.query_str, {**options, "search": "hybrid", "weights": alpha_weights(query)}
        if query.query_embedding is None:
            raise FilterError("a query needs query_embedding (is_embedding_query is True)")
        vector = np.asarray(query.query_embedding, np.float32)
        if mode == VectorStoreQueryMode.MMR:
            lam = 0.5 if query.mmr_threshold is None else float(query.mmr_threshold)
            fetch = int(kwargs.get("mmr_prefetch_k") or MMR_PREFETCH * query.similarity_top_k)
            options.update(mmr=lam, fetch_k=max(fetch, query.similarity_top_k))
        return vector, options

    @staticmethod
    def _result(hits: list[Hit]) -> VectorStoreQueryResult:
        return VectorStoreQueryResult(
            nodes=[_node(h.id, h.text, dict(h.metadata), h.document_id) for h in hits],
            similarities=[h.score for h in hits],
            ids=[h.id for h in hits],
        )

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        text_or_vector, options = self._search(query, **kwargs)
        return self._result(self._collection.query(text_or_vector, **options))

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        text_or_vector, options = self._search(query, **kwargs)
        return self._result(await self._collection.aquery(text_or_vector, **options))


def alpha_weights(query: Any) -> tuple[float, float]:
    """LlamaIndex's ``alpha`` as (dense, keyword) weights, the larger 1.

    vecstore's weighted fusion divides each side's ranks by its weight (Qdrant's form), so
    only weights of 1 give the classic ``1 / (k + rank)``: alpha 0.5 must be (1, 1).
    """
    alpha = 0.5 if query.alpha is None else float(query.alpha)
    larger = max(alpha, 1 - alpha)
    return (alpha / larger, (1 - alpha) / larger) if larger > 0 else (alpha, 1 - alpha)
