"""Qdrant through qdrant-client: a server by URL, or local mode on a path or in memory.

* Ids: Qdrant takes only UUIDs and unsigned ints, so each id maps to ``uuid5(ID_NAMESPACE, id)``
  and the original is kept in the payload (``_vecstore_id``), with the text (``_vecstore_text``).
* Model and dimension are kept in the collection's metadata and checked on open.
* Upsert replaces the whole payload (Qdrant's upsert does); scores are cosine similarity.
* Keyword search: each record with keyword tokens also gets a sparse vector
  (:data:`KEYWORD_VECTOR`) of its BM25 weights (:mod:`vecstore.keywords`); the collection is
  created with Qdrant's IDF modifier on it, so Qdrant counts ``N`` and ``df`` itself (over the
  points holding that vector: a record without tokens has none). A collection created before
  keyword search has no such vector, and Qdrant cannot add one to an existing collection:
  keyword search there is refused, naming ``vecstore migrate`` into a new collection. Hybrid
  search prefetches both rankings and fuses them in Qdrant (``RrfQuery``), one request.
* Writes go in requests of :data:`UPSERT_BATCH` points; a 413 splits the request in two.
* Errors: translated by :mod:`vecstore.adapters.translate` (connection failures, timeouts,
  408/429/5xx are ``BackendUnavailable``; the rest ``BackendError``). Local mode validates less
  than the server (see backend-facts.md); vecstore validates everything before the client sees
  it.
* Threads: local mode is not thread-safe (concurrent calls lost acknowledged writes and raised
  sqlite3 errors), so every call on a local client holds that client's one lock; a server
  client is called concurrently.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from vecstore import keywords
from vecstore.adapters.base import Capabilities, CollectionSummary, Fusion, StoreDescription
from vecstore.adapters.common import (
    NETWORK_TIMEOUT_S,
    check_compatible,
    chunks,
    clip_score,
    ordered,
    require,
    send_halving,
    split_payload,
    uuid_id,
)
from vecstore.adapters.network import NetworkBackend, client_lock, reads, writes
from vecstore.adapters.qdrant_filters import compile_filter
from vecstore.adapters.translate import StoreErrors
from vecstore.errors import CapabilityError, CollectionNotFound, ConfigError, InvalidName
from vecstore.filters import Filter
from vecstore.keywords import Terms
from vecstore.records import (
    CollectionInfo,
    Hit,
    Metadata,
    Metric,
    RecordBatch,
    StoredRecord,
    Vectors,
)
from vecstore.reserved import ID_KEY, TEXT_KEY

if TYPE_CHECKING:
    from vecstore.config import QdrantSettings, Settings

UPSERT_BATCH = 512
KEYWORD_VECTOR = "vecstore_keyword"
RETRIEVE_BATCH = 1000
MAX_NAME = 255


def check_qdrant_name(name: str) -> str:
    """Qdrant's collection name rule: 1-255 characters, not '.', no '/'."""
    if not name or name == "." or "/" in name or len(name) > MAX_NAME or name.strip() != name:
        raise InvalidName(f"Qdrant collection name {name!r}: 1-255 characters, no '/', not '.'")
    return name


class QdrantBackend(NetworkBackend):
    """One Qdrant collection."""

    capabilities = Capabilities()

    def __init__(
        self, collection: str, settings: Settings | None = None, *, client: Any = None
    ) -> None:
        super().__init__(client=client)
        self.name = check_qdrant_name(collection)
        self._qc = require("qdrant_client", "qdrant-client", "qdrant")
        self.models = require("qdrant_client.models", "qdrant-client", "qdrant")
        self._cfg: QdrantSettings | None = settings.qdrant if settings is not None else None
        cfg = self._cfg
        if client is not None:
            self.where = "client"
            local = require("qdrant_client.local.qdrant_local", "qdrant-client", "qdrant")
            remote = not isinstance(getattr(client, "_client", None), local.QdrantLocal)
        elif cfg is not None and cfg.url:
            self.where, remote = cfg.url, True
        elif cfg is not None and cfg.path:
            self.where, remote = str(cfg.path), False  # ":memory:" when asked for by name
        else:
            raise ConfigError(
                "Qdrant needs qdrant.url (a server, VECSTORE_QDRANT__URL) or qdrant.path (local "
                "mode on disk, VECSTORE_QDRANT__PATH); qdrant.path = ':memory:' keeps the data "
                "in this process only"
            )
        self.errors = StoreErrors("Qdrant", self.where, ("qdrant_client",), remote=remote)
        if client is not None and not remote:
            self.serialise_all(client_lock(client))  # local mode is not thread-safe
        self.dimension = 0
        self.keywords = True  # whether the collection holds keyword vectors (set by open)

    def _make_client(self) -> Any:
        cfg = self._cfg
        if cfg is not None and cfg.url:
            key = cfg.api_key.get_secret_value() if cfg.api_key else None
            # Its version probe runs in a background thread and only warns: off.
            return self._qc.QdrantClient(
                url=cfg.url, api_key=key, timeout=int(NETWORK_TIMEOUT_S), check_compatibility=False
            )
        from vecstore.config import MEMORY

        assert cfg is not None and cfg.path is not None  # checked in __init__
        if str(cfg.path) == MEMORY:
            return self._qc.QdrantClient(location=MEMORY)
        return self._qc.QdrantClient(path=str(cfg.path))

    # -- the Backend protocol ------------------------------------------------------------------

    @writes
    def open(self, info: CollectionInfo, *, create: bool = True) -> CollectionInfo:
        client = self.connect(self._make_client)
        if not self.errors.remote and self.owns_client:
            self.serialise_all(client_lock(client))
        with self._serial:
            return self._open(client, info, create)

    def _open(self, client: Any, info: CollectionInfo, create: bool) -> CollectionInfo:
        models = self.models
        if not client.collection_exists(self.name):
            if not create:
                raise CollectionNotFound(
                    f"no collection {self.name!r} in the Qdrant store at {self.where}"
                )
            client.create_collection(
                self.name,
                vectors_config=models.VectorParams(
                    size=info.dimension, distance=models.Distance.COSINE
                ),
                sparse_vectors_config={
                    KEYWORD_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
                metadata={"vecstore_model": info.model, "vecstore_dimension": info.dimension},
            )
            self.dimension = info.dimension
            self.keywords = True
            return info
        config = client.get_collection(self.name).config
        params = config.params.vectors
        cosine = getattr(params, "distance", None) == models.Distance.COSINE
        stored = CollectionInfo(
            self.name,
            str((config.metadata or {}).get("vecstore_model")),
            int(getattr(params, "size", 0) or 0),
            cast(Metric, "cosine" if cosine else str(getattr(params, "distance", None))),
        )
        check_compatible(f"Qdrant collection {self.name!r} at {self.where}", stored, info)
        self.dimension = info.dimension
        self.keywords = KEYWORD_VECTOR in (config.params.sparse_vectors or {})
        return info

    def _points(self, batch: RecordBatch) -> Any:
        payloads = [
            {**meta, ID_KEY: rid, TEXT_KEY: text}
            for rid, text, meta in zip(batch.ids, batch.texts, batch.metadata, strict=True)
        ]
        ids, vectors = [uuid_id(i) for i in batch.ids], batch.vectors.tolist()
        # Everything was validated by Collection: skip pydantic's second pass over the floats.
        if not self.keywords:
            return self.models.Batch.model_construct(ids=ids, vectors=vectors, payloads=payloads)
        points = []
        for pid, vector, payload, text in zip(ids, vectors, payloads, batch.texts, strict=True):
            named: dict[str, Any] = {"": vector}
            doc = keywords.document(text)
            if len(doc.terms):
                named[KEYWORD_VECTOR] = self.models.SparseVector.model_construct(
                    indices=doc.terms.tolist(), values=doc.weights.tolist()
                )
            points.append(
                self.models.PointStruct.model_construct(id=pid, vector=named, payload=payload)
            )
        return points

    @writes
    def upsert(self, batch: RecordBatch) -> None:
        def send(rows: Sequence[int]) -> None:
            with self.errors:  # translated here, so that a 413 is seen and halved
                part = batch.slice(rows[0], rows[-1] + 1)
                self.client.upsert(self.name, points=self._points(part), wait=True)

        for start in range(0, len(batch), UPSERT_BATCH):
            send_halving(send, range(start, min(start + UPSERT_BATCH, len(batch))))

    @reads
    def query(
        self, vectors: Vectors, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[list[Hit]]:
        flt = compile_filter(self.models, where)
        if len(vectors) == 1:  # one query: the plain endpoint, without the batch envelope
            one = vectors[0].tolist()
            responses = [
                self.client.query_points(
                    self.name,
                    query=one,
                    limit=top_k,
                    query_filter=flt,
                    with_payload=True,
                    with_vectors=[""] if with_vectors else False,
                )
            ]
        else:
            requests = [
                self.models.QueryRequest(
                    query=v.tolist(),
                    limit=top_k,
                    filter=flt,
                    with_payload=True,
                    with_vector=[""] if with_vectors else False,
                )
                for v in vectors
            ]
            responses = self.client.query_batch_points(self.name, requests)
        return [
            [self._hit(p, clip_score(p.score), with_vectors) for p in r.points] for r in responses
        ]

    @reads
    def grouped_query(
        self, vector: Vectors, top_k: int, key: str, where: Filter | None, with_vectors: bool
    ) -> list[Hit]:
        """Qdrant's grouped query for records with ``key``, merged with the best without it.

        Qdrant leaves out points without the group key, where vecstore counts each as a group
        of its own: a second, filtered query finds the best ``top_k`` of those, and the two
        lists merge by score (a stable merge: grouped first among equal scores).
        """
        m = self.models
        flt = compile_filter(m, where)
        vectors: Any = [""] if with_vectors else False
        groups = self.client.query_points_groups(
            self.name,
            group_by=key,
            query=vector[0].tolist(),
            query_filter=flt,
            limit=top_k,
            group_size=1,
            with_payload=True,
            with_vectors=vectors,
        )
        best = [g.hits[0] for g in groups.groups if g.hits]
        alone = m.IsEmptyCondition(is_empty=m.PayloadField(key=key))
        plain = self.client.query_points(
            self.name,
            query=vector[0].tolist(),
            limit=top_k,
            query_filter=m.Filter(must=[alone] if flt is None else [alone, flt]),
            with_payload=True,
            with_vectors=vectors,
        ).points
        merged = sorted([*best, *plain], key=lambda p: -float(p.score))[:top_k]
        return [self._hit(p, clip_score(p.score), with_vectors) for p in merged]

    @reads
    def keyword_query(
        self, terms: Terms, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[Hit]:
        self._refuse_without_keywords()
        response = self.client.query_points(
            self.name,
            query=self._sparse(terms),
            using=KEYWORD_VECTOR,
            limit=top_k,
            query_filter=compile_filter(self.models, where),
            with_payload=True,
            with_vectors=[""] if with_vectors else False,
        )
        return [self._hit(p, float(p.score), with_vectors) for p in response.points]

    @reads
    def hybrid_query(
        self, vector: Vectors, terms: Terms, where: Filter | None, fusion: Fusion
    ) -> list[Hit]:
        """Both rankings prefetched and fused by Qdrant's RRF in one request (see base)."""
        self._refuse_without_keywords()
        m = self.models
        flt = compile_filter(m, where)
        sides = [
            m.Prefetch(query=vector[0].tolist(), limit=fusion.depth, filter=flt),
            m.Prefetch(
                query=self._sparse(terms), using=KEYWORD_VECTOR, limit=fusion.depth, filter=flt
            ),
        ]
        # Qdrant's k counts positions from 0 (vecstore.adapters.base.rrf_term)
        weights = None if fusion.weights == (1.0, 1.0) else list(fusion.weights)
        rrf = m.Rrf(k=fusion.rrf_k + 1, weights=weights)
        response = self.client.query_points(
            self.name,
            prefetch=sides,
            query=m.RrfQuery(rrf=rrf),
            limit=fusion.top_k,
            with_payload=True,
            with_vectors=[""],
        )
        return [self._hit(p, float(p.score), True) for p in response.points]

    def _sparse(self, terms: Terms) -> Any:
        return self.models.SparseVector(indices=terms.tolist(), values=[1.0] * len(terms))

    def _refuse_without_keywords(self) -> None:
        if not self.keywords:
            raise CapabilityError(
                f"Qdrant collection {self.name!r} was created before keyword search and Qdrant "
                "cannot add its sparse vector now; `vecstore migrate` it into a new collection"
            )

    def _hit(self, point: Any, score: float, with_vectors: bool) -> Hit:
        rec = self._record(point, with_vectors)
        return Hit(rec.id, score, rec.text, rec.metadata, rec.vector)

    def _record(self, point: Any, with_vectors: bool) -> StoredRecord:
        rid, text, meta = split_payload(point.payload)
        vector = None
        if with_vectors:
            held = point.vector.get("") if isinstance(point.vector, dict) else point.vector
            vector = np.asarray(held, dtype=np.float32)
        return StoredRecord(str(rid), text, meta, vector)

    @reads
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredRecord]:
        records: list[StoredRecord] = []
        for part in chunks(list(dict.fromkeys(ids)), RETRIEVE_BATCH):
            points = self.client.retrieve(
                self.name,
                ids=[uuid_id(i) for i in part],
                with_payload=True,
                with_vectors=[""] if with_vectors else False,
            )
            records.extend(self._record(point, with_vectors) for point in points)
        return ordered(ids, records)

    @writes
    def update_metadata(self, ids: Sequence[str], metadata: Sequence[Metadata]) -> list[str]:
        """Payload overwrite (keeping the original id and the text), one request per batch."""
        held = {r.id: r for r in self.get(ids)}
        models = self.models
        operations = [
            models.OverwritePayloadOperation(
                overwrite_payload=models.SetPayload(
                    payload={**meta, ID_KEY: rid, TEXT_KEY: held[rid].text},
                    points=[uuid_id(rid)],
                )
            )
            for rid, meta in zip(ids, metadata, strict=True)
            if rid in held
        ]
        for part in chunks(operations, UPSERT_BATCH):
            self.client.batch_update_points(self.name, update_operations=list(part), wait=True)
        return [rid for rid in ids if rid in held]

    @writes
    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        if ids is None and where is None:  # everything: an empty filter matches every point
            selector = self.models.FilterSelector(filter=self.models.Filter())
            self.client.delete(self.name, points_selector=selector, wait=True)
            return
        for part in chunks(list(ids or ()), RETRIEVE_BATCH):
            selector = self.models.PointIdsList(points=[uuid_id(i) for i in part])
            self.client.delete(self.name, points_selector=selector, wait=True)
        if where is not None:
            selector = self.models.FilterSelector(filter=compile_filter(self.models, where))
            self.client.delete(self.name, points_selector=selector, wait=True)

    @reads
    def count(self, where: Filter | None = None) -> int:
        flt = compile_filter(self.models, where)
        return int(self.client.count(self.name, count_filter=flt, exact=True).count)

    def scan(
        self, batch_size: int, with_vectors: bool = True, where: Filter | None = None
    ) -> Iterator[list[StoredRecord]]:
        flt = compile_filter(self.models, where)
        offset = None
        while True:
            with self._serial, self.errors:
                points, offset = self.client.scroll(
                    self.name,
                    scroll_filter=flt,
                    limit=batch_size,
                    offset=offset,
                    with_payload=True,
                    with_vectors=[""] if with_vectors else False,
                )
            if points:
                yield [self._record(p, with_vectors) for p in points]
            if offset is None:
                return

    def describe(self) -> StoreDescription:
        return StoreDescription("qdrant", self.where, {"qdrant": self.where})

    @reads
    def collections(self) -> list[CollectionSummary]:
        client = self.connect(self._make_client)
        out = []
        for found in client.get_collections().collections:
            config = client.get_collection(found.name).config
            model = (config.metadata or {}).get("vecstore_model")
            if model is None:
                continue  # not made by vecstore
            size = int(getattr(config.params.vectors, "size", 0) or 0)
            count = int(client.count(found.name, exact=True).count)
            out.append(CollectionSummary(found.name, count, str(model), size))
        return sorted(out, key=lambda c: c.name)

    def close(self) -> None:
        with self._serial:
            self.close_client(lambda client: client.close())
