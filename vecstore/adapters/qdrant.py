"""Qdrant through qdrant-client: a server by URL, or local mode on a path or in memory.

* Ids: Qdrant takes only UUIDs and unsigned ints, so each id maps to ``uuid5(ID_NAMESPACE, id)``
  and the original is kept in the payload (``_vecstore_id``), with the text (``_vecstore_text``).
* Model and dimension are kept in the collection's metadata and checked on open.
* Upsert replaces the whole payload (Qdrant's upsert does); scores are cosine similarity.
* Writes go in requests of :data:`UPSERT_BATCH` points; a 413 splits the request in two.
* Errors: connection failures, timeouts, 408/429/5xx are ``BackendUnavailable``; the rest
  ``BackendError``. Local mode validates less than the server (see backend-facts.md); vecstore
  validates everything before the client sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from vecstore.adapters.base import Capabilities
from vecstore.adapters.common import (
    ID_KEY,
    NETWORK_TIMEOUT_S,
    TEXT_KEY,
    chunks,
    clip_score,
    require,
    split_payload,
    status_error,
    uuid_id,
)
from vecstore.adapters.qdrant_filters import compile_filter
from vecstore.errors import (
    BackendError,
    BackendUnavailable,
    IncompatibleCollection,
    InvalidName,
    VecstoreError,
)
from vecstore.filters import Filter
from vecstore.records import CollectionInfo, Hit, RecordBatch, StoredRecord, Vectors

if TYPE_CHECKING:
    from vecstore.config import Settings

UPSERT_BATCH = 512
RETRIEVE_BATCH = 1000
MAX_NAME = 255
T = TypeVar("T")


def check_qdrant_name(name: str) -> str:
    """Qdrant's collection name rule: 1-255 characters, not '.', no '/'."""
    if not name or name == "." or "/" in name or len(name) > MAX_NAME or name.strip() != name:
        raise InvalidName(f"Qdrant collection name {name!r}: 1-255 characters, no '/', not '.'")
    return name


class QdrantBackend:
    """One Qdrant collection."""

    capabilities = Capabilities(max_batch_size=UPSERT_BATCH)

    def __init__(
        self, collection: str, settings: Settings | None = None, *, client: Any = None
    ) -> None:
        self.name = check_qdrant_name(collection)
        self._qc = require("qdrant_client", "qdrant-client", "qdrant")
        self.models = require("qdrant_client.models", "qdrant-client", "qdrant")
        self._exc = require("qdrant_client.http.exceptions", "qdrant-client", "qdrant")
        self._limits = require("qdrant_client.common.client_exceptions", "qdrant-client", "qdrant")
        self.where = "memory"
        self._owns_client = client is None  # a client handed in stays open for its owner
        if client is not None:
            self.client = client
            self.where = "client"
        else:
            cfg = settings.qdrant if settings is not None else None
            if cfg is not None and cfg.url:
                key = cfg.api_key.get_secret_value() if cfg.api_key else None
                self.client = self._call(
                    lambda: self._qc.QdrantClient(
                        url=cfg.url,
                        api_key=key,
                        timeout=int(NETWORK_TIMEOUT_S),
                        # Its version probe runs in a background thread and only warns.
                        check_compatibility=False,
                    )
                )
                self.where = cfg.url
            elif cfg is not None and cfg.path:
                self.client = self._call(lambda: self._qc.QdrantClient(path=str(cfg.path)))
                self.where = str(cfg.path)
            else:
                self.client = self._qc.QdrantClient(location=":memory:")
        self.dimension = 0

    # -- errors --------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        """Run a client call, translating its exceptions into vecstore's."""
        try:
            return fn()
        except VecstoreError:
            raise
        except self._limits.ResourceExhaustedResponse as exc:
            raise BackendUnavailable(
                f"Qdrant {self.name!r} is rate limited: {exc}", retry_after=exc.retry_after_s
            ) from exc
        except self._exc.UnexpectedResponse as exc:
            detail = exc.content.decode(errors="replace")[:300] if exc.content else ""
            raise status_error(f"Qdrant {self.name!r}", exc.status_code, detail) from exc
        except self._exc.ResponseHandlingException as exc:
            raise BackendUnavailable(
                f"Qdrant at {self.where} is unreachable: {exc.source!r}"
            ) from exc
        except (ConnectionError, TimeoutError) as exc:
            raise BackendUnavailable(f"Qdrant at {self.where} is unreachable: {exc}") from exc
        except RuntimeError as exc:  # local mode: the storage folder is locked by another client
            raise BackendError(f"Qdrant local storage {self.where}: {exc}") from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise BackendError(f"Qdrant {self.name!r}: {exc}") from exc

    # -- the Backend protocol ------------------------------------------------------------------

    def open(self, info: CollectionInfo) -> CollectionInfo:
        models = self.models
        meta = {"vecstore_model": info.model, "vecstore_dimension": info.dimension}
        if not self._call(lambda: self.client.collection_exists(self.name)):
            self._call(
                lambda: self.client.create_collection(
                    self.name,
                    vectors_config=models.VectorParams(
                        size=info.dimension, distance=models.Distance.COSINE
                    ),
                    metadata=meta,
                )
            )
            self.dimension = info.dimension
            return info
        described = self._call(lambda: self.client.get_collection(self.name))
        stored = described.config.metadata or {}
        params = described.config.params.vectors
        size = getattr(params, "size", None)
        distance = getattr(params, "distance", None)
        if (
            stored.get("vecstore_model") != info.model
            or size != info.dimension
            or distance != models.Distance.COSINE
        ):
            raise IncompatibleCollection(
                f"Qdrant collection {self.name!r} holds model {stored.get('vecstore_model')!r}, "
                f"dimension {size}, distance {distance}; asked for {info.model!r}, dimension "
                f"{info.dimension}, cosine"
            )
        self.dimension = info.dimension
        return info

    def _points(self, batch: RecordBatch) -> Any:
        payloads = [
            {**meta, ID_KEY: rid, TEXT_KEY: text}
            for rid, text, meta in zip(batch.ids, batch.texts, batch.metadata, strict=True)
        ]
        # Everything was validated by Collection: skip pydantic's second pass over the floats.
        return self.models.Batch.model_construct(
            ids=[uuid_id(i) for i in batch.ids], vectors=batch.vectors.tolist(), payloads=payloads
        )

    def upsert(self, batch: RecordBatch) -> None:
        for start in range(0, len(batch), UPSERT_BATCH):
            part = RecordBatch(
                batch.ids[start : start + UPSERT_BATCH],
                batch.vectors[start : start + UPSERT_BATCH],
                batch.texts[start : start + UPSERT_BATCH],
                batch.metadata[start : start + UPSERT_BATCH],
            )
            self._upsert_split(part)

    def _upsert_split(self, batch: RecordBatch) -> None:
        try:
            self._call(lambda: self.client.upsert(self.name, points=self._points(batch), wait=True))
        except BackendError as exc:
            # A request over the server's size limit: halve it rather than retry it blindly.
            if "HTTP 413" not in str(exc) or len(batch) < 2:
                raise
            half = len(batch) // 2
            for part in (slice(0, half), slice(half, None)):
                self._upsert_split(
                    RecordBatch(
                        batch.ids[part],
                        batch.vectors[part],
                        batch.texts[part],
                        batch.metadata[part],
                    )
                )

    def query(self, vectors: Vectors, top_k: int, where: Filter | None) -> list[list[Hit]]:
        flt = compile_filter(self.models, where)
        if len(vectors) == 1:  # one query: the plain endpoint, without the batch envelope
            one = vectors[0].tolist()
            responses = [
                self._call(
                    lambda: self.client.query_points(
                        self.name, query=one, limit=top_k, query_filter=flt, with_payload=True
                    )
                )
            ]
        else:
            requests = [
                self.models.QueryRequest(
                    query=v.tolist(), limit=top_k, filter=flt, with_payload=True
                )
                for v in vectors
            ]
            responses = self._call(lambda: self.client.query_batch_points(self.name, requests))
        out = []
        for response in responses:
            hits = []
            for point in response.points:
                rid, text, meta = split_payload(point.payload)
                hits.append(Hit(str(rid), clip_score(point.score), text, meta))
            out.append(hits)
        return out

    def _record(self, point: Any, with_vectors: bool) -> StoredRecord:
        rid, text, meta = split_payload(point.payload)
        vector = np.asarray(point.vector, dtype=np.float32) if with_vectors else None
        return StoredRecord(str(rid), text, meta, vector)

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredRecord]:
        found: dict[str, StoredRecord] = {}
        for part in chunks(list(dict.fromkeys(ids)), RETRIEVE_BATCH):
            points = self._call(
                lambda part=part: self.client.retrieve(  # type: ignore[misc]
                    self.name,
                    ids=[uuid_id(i) for i in part],
                    with_payload=True,
                    with_vectors=with_vectors,
                )
            )
            for point in points:
                record = self._record(point, with_vectors)
                found[record.id] = record
        return [found[i] for i in ids if i in found]

    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        if ids:
            for part in chunks(list(ids), RETRIEVE_BATCH):
                selector = self.models.PointIdsList(points=[uuid_id(i) for i in part])
                self._call(
                    lambda s=selector: self.client.delete(  # type: ignore[misc]
                        self.name, points_selector=s, wait=True
                    )
                )
        if where is not None:
            selector = self.models.FilterSelector(filter=compile_filter(self.models, where))
            self._call(lambda: self.client.delete(self.name, points_selector=selector, wait=True))

    def count(self, where: Filter | None = None) -> int:
        flt = compile_filter(self.models, where)
        result = self._call(lambda: self.client.count(self.name, count_filter=flt, exact=True))
        return int(result.count)

    def scan(self, batch_size: int, with_vectors: bool = True) -> Iterator[list[StoredRecord]]:
        offset = None
        while True:
            points, offset = self._call(
                lambda o=offset: self.client.scroll(  # type: ignore[misc]
                    self.name,
                    limit=batch_size,
                    offset=o,
                    with_payload=True,
                    with_vectors=with_vectors,
                )
            )
            if points:
                yield [self._record(p, with_vectors) for p in points]
            if offset is None:
                return

    def describe(self) -> dict[str, Any]:
        return {"qdrant": self.where}

    def close(self) -> None:
        if self._owns_client:
            self._call(lambda: self.client.close())
