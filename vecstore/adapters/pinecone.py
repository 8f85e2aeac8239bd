"""Pinecone through the ``pinecone`` SDK's data plane: one index host, one namespace.

* The collection is a namespace of the index at ``pinecone.host``: ``pinecone.namespace`` when
  set, else the collection's name.
* Ids: printable ASCII of at most 512 bytes are kept; any other id maps to ``vs1#`` + its
  SHA-256 (as does an id that already starts with ``vs1#``). The original id, the text and the
  model name ride in each vector's metadata (``_vecstore_id``, ``_vecstore_text``,
  ``_vecstore_model``); ``open`` reads one record to refuse another model, and compares the
  index's dimension.
* Before any request, the whole batch is checked against Pinecone's rules: list values must be
  lists of strings; metadata with the id and text must fit 40 KB per vector. Requests hold at
  most 1,000 vectors and 2 MB (measured with orjson); a 413 halves the request.
* Filters compile exactly (:mod:`vecstore.adapters.pinecone_filters`). ``count`` with a filter
  lists the namespace and evaluates the reference filter on fetched metadata (serverless
  indexes do not count by filter).
* Errors: 429, 5xx, connection failures and timeouts are ``BackendUnavailable``; the SDK already
  retries those (four attempts), so vecstore adds none here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import orjson

from vecstore.adapters.base import Capabilities
from vecstore.adapters.common import (
    ID_KEY,
    NETWORK_TIMEOUT_S,
    TEXT_KEY,
    chunks,
    clip_score,
    hashed_id,
    require,
    split_payload,
    status_error,
)
from vecstore.adapters.pinecone_filters import compile_filter
from vecstore.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    IncompatibleCollection,
    InvalidInput,
    InvalidName,
    VecstoreError,
)
from vecstore.filters import Filter, matches
from vecstore.records import CollectionInfo, Hit, Metadata, RecordBatch, StoredRecord, Vectors

if TYPE_CHECKING:
    from vecstore.config import Settings

MODEL_KEY = "_vecstore_model"
HASH_PREFIX = "vs1#"
MAX_VECTORS_PER_REQUEST = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024 - 16 * 1024  # leave room for the envelope
MAX_METADATA_BYTES = 40 * 1024
MAX_IDS_PER_REQUEST = 1000
MAX_ID_BYTES = 512
LIST_PAGE = 100
FLOAT_JSON_BYTES = 25
T = TypeVar("T")


def pinecone_id(record_id: str) -> str:
    """The id Pinecone stores for ``record_id`` (deterministic)."""
    keep = (
        record_id.isascii()
        and record_id.isprintable()
        and len(record_id) <= MAX_ID_BYTES
        and not record_id.startswith(HASH_PREFIX)
    )
    return record_id if keep else hashed_id(record_id, HASH_PREFIX)


class PineconeBackend:
    """One namespace of one Pinecone index."""

    capabilities = Capabilities(max_batch_size=MAX_VECTORS_PER_REQUEST)

    def __init__(
        self, collection: str, settings: Settings | None = None, *, index: Any = None
    ) -> None:
        cfg = settings.pinecone if settings is not None else None
        self.namespace = cfg.namespace if cfg is not None and cfg.namespace else collection
        if not (
            self.namespace.isascii()
            and self.namespace.isprintable()
            and 0 < len(self.namespace) <= MAX_ID_BYTES
        ):
            raise InvalidName(
                f"Pinecone namespace {self.namespace!r}: 1-512 printable ASCII characters"
            )
        self._pc = require("pinecone", "pinecone", "pinecone")
        self._err = require("pinecone.errors.exceptions", "pinecone", "pinecone")
        if index is not None:
            self.index = index
            self.host = "index"
        else:
            if cfg is None or not cfg.host:
                raise ConfigError("Pinecone needs pinecone.host (the index's data-plane host)")
            if cfg.api_key is None:
                raise ConfigError("Pinecone needs pinecone.api_key (VECSTORE_PINECONE__API_KEY)")
            key = cfg.api_key.get_secret_value()
            self.host = cfg.host
            self.index = self._call(
                lambda: self._pc.Index(host=cfg.host, api_key=key, timeout=NETWORK_TIMEOUT_S)
            )
        self.model = ""
        self.dimension = 0

    # -- errors --------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        err = self._err
        try:
            return fn()
        except VecstoreError:
            raise
        except (err.PineconeConnectionError, err.PineconeTimeoutError) as exc:
            raise BackendUnavailable(f"Pinecone at {self.host} is unreachable: {exc}") from exc
        except err.ApiError as exc:
            status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
            raise status_error(
                f"Pinecone namespace {self.namespace!r}",
                status,
                str(getattr(exc, "message", exc))[:300],
                getattr(exc, "retry_after", None),
            ) from exc
        except (err.PineconeError, ValueError, TypeError) as exc:
            raise BackendError(f"Pinecone namespace {self.namespace!r}: {exc}") from exc

    # -- the Backend protocol ------------------------------------------------------------------

    def open(self, info: CollectionInfo) -> CollectionInfo:
        stats = self._call(lambda: self.index.describe_index_stats())
        if stats.dimension and int(stats.dimension) != info.dimension:
            raise IncompatibleCollection(
                f"Pinecone index at {self.host} has dimension {stats.dimension}; the model "
                f"{info.model!r} makes {info.dimension}"
            )
        page = self._call(lambda: self.index.list_paginated(namespace=self.namespace, limit=1))
        if page.vectors:
            first = page.vectors[0].id
            fetched = self._call(lambda: self.index.fetch(ids=[first], namespace=self.namespace))
            stored = next(iter(fetched.vectors.values()), None)
            model = (stored.metadata or {}).get(MODEL_KEY) if stored is not None else None
            if model != info.model:
                raise IncompatibleCollection(
                    f"Pinecone namespace {self.namespace!r} holds vectors of model {model!r}; "
                    f"it cannot be opened with {info.model!r}"
                )
        self.model, self.dimension = info.model, info.dimension
        return info

    def _vector(
        self, rid: str, values: list[float], text: str | None, meta: Metadata
    ) -> dict[str, Any]:
        for key, value in meta.items():
            if isinstance(value, list) and not all(isinstance(v, str) for v in value):
                raise InvalidInput(
                    "Pinecone stores lists of strings only; this list holds "
                    f"{type(value[0]).__name__}",
                    record=rid,
                    field=f"metadata.{key}",
                )
        stored: dict[str, Any] = {**meta, ID_KEY: rid, MODEL_KEY: self.model}
        if text is not None:
            stored[TEXT_KEY] = text
        size = len(orjson.dumps(stored))
        if size > MAX_METADATA_BYTES:
            raise InvalidInput(
                f"text and metadata take {size} bytes; Pinecone holds at most "
                f"{MAX_METADATA_BYTES} per vector",
                record=rid,
                field="text" if text else "metadata",
            )
        return {"id": pinecone_id(rid), "values": values, "metadata": stored}

    def upsert(self, batch: RecordBatch) -> None:
        rows = batch.vectors.tolist()
        vectors = [
            self._vector(rid, values, text, meta)
            for rid, values, text, meta in zip(
                batch.ids, rows, batch.texts, batch.metadata, strict=True
            )
        ]
        request: list[dict[str, Any]] = []
        size = 0
        # An upper bound of each vector's JSON size, without serialising its values: a float
        # prints in at most 24 characters plus a comma.
        dims = batch.vectors.shape[1] * FLOAT_JSON_BYTES
        for vector in vectors:  # everything is checked above: now split and send
            n = len(orjson.dumps(vector["metadata"])) + len(vector["id"]) + dims + 64
            if request and (
                len(request) >= MAX_VECTORS_PER_REQUEST or size + n > MAX_REQUEST_BYTES
            ):
                self._send(request)
                request, size = [], 0
            request.append(vector)
            size += n
        if request:
            self._send(request)

    def _send(self, vectors: list[dict[str, Any]]) -> None:
        try:
            self._call(
                lambda: self.index.upsert(
                    vectors=vectors, namespace=self.namespace, show_progress=False
                )
            )
        except BackendError as exc:
            if "HTTP 413" not in str(exc) or len(vectors) < 2:
                raise
            half = len(vectors) // 2
            self._send(vectors[:half])
            self._send(vectors[half:])

    def query(self, vectors: Vectors, top_k: int, where: Filter | None) -> list[list[Hit]]:
        flt = compile_filter(where)
        out = []
        for vector in vectors.tolist():
            response = self._call(
                lambda v=vector: self.index.query(  # type: ignore[misc]
                    vector=v,
                    top_k=top_k,
                    filter=flt,
                    include_metadata=True,
                    namespace=self.namespace,
                )
            )
            hits = []
            for match in response.matches:
                rid, text, meta = split_payload(match.metadata)
                meta.pop(MODEL_KEY, None)
                hits.append(Hit(str(rid), clip_score(match.score), text, meta))
            out.append(hits)
        return out

    def _fetch(self, ids: Sequence[str], with_vectors: bool) -> list[StoredRecord]:
        out = []
        for part in chunks(list(ids), MAX_IDS_PER_REQUEST):
            response = self._call(
                lambda p=part: self.index.fetch(  # type: ignore[misc]
                    ids=list(p), namespace=self.namespace
                )
            )
            for vector in response.vectors.values():
                rid, text, meta = split_payload(vector.metadata)
                meta.pop(MODEL_KEY, None)
                values = np.asarray(vector.values, dtype=np.float32) if with_vectors else None
                out.append(StoredRecord(str(rid), text, meta, values))
        return out

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredRecord]:
        found = {
            r.id: r for r in self._fetch([pinecone_id(i) for i in dict.fromkeys(ids)], with_vectors)
        }
        return [found[i] for i in ids if i in found]

    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        flt = compile_filter(where)
        for part in chunks([pinecone_id(i) for i in ids or ()], MAX_IDS_PER_REQUEST):
            self._call(
                lambda p=part: self.index.delete(  # type: ignore[misc]
                    ids=list(p), namespace=self.namespace
                )
            )
        if flt is not None:
            self._call(lambda: self.index.delete(filter=flt, namespace=self.namespace))

    def _ids(self) -> Iterator[list[str]]:
        token = None
        while True:
            page = self._call(
                lambda t=token: self.index.list_paginated(  # type: ignore[misc]
                    namespace=self.namespace, limit=LIST_PAGE, pagination_token=t
                )
            )
            ids = [v.id for v in page.vectors if v.id]
            if ids:
                yield ids
            token = page.pagination.next if page.pagination else None
            if not token:
                return

    def count(self, where: Filter | None = None) -> int:
        if where is None:
            stats = self._call(lambda: self.index.describe_index_stats())
            summary = stats.namespaces.get(self.namespace)
            return int(summary.vector_count) if summary is not None else 0
        compile_filter(where)  # refuse what queries would refuse, before any I/O
        return sum(
            matches(where, r.metadata)
            for batch in self.scan(MAX_IDS_PER_REQUEST, False)
            for r in batch
        )

    def scan(self, batch_size: int, with_vectors: bool = True) -> Iterator[list[StoredRecord]]:
        pending: list[str] = []
        for ids in self._ids():
            pending.extend(ids)
            while len(pending) >= batch_size:
                yield self._fetch(pending[:batch_size], with_vectors)
                pending = pending[batch_size:]
        if pending:
            yield self._fetch(pending, with_vectors)

    def describe(self) -> dict[str, Any]:
        return {"pinecone": self.host, "namespace": self.namespace}

    def close(self) -> None:
        close = getattr(self.index, "close", None)
        if close is not None and self.host != "index":  # an index handed in stays open
            self._call(close)
