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
* Filters compile exactly (:mod:`vecstore.adapters.pinecone_filters`), with the filter facts
  each record carries (``_vecstore__*`` keys, stripped from what comes back). ``count`` with a
  filter pages through ``fetch_by_metadata`` (serverless indexes do not count by filter): the
  server selects, vecstore only counts. A namespace holding records written before the facts
  refuses ``$not`` around a range until :meth:`upgrade` rewrites them.
* Metadata updates: Pinecone's ``update`` takes one id per request and merges metadata (it
  cannot drop a key), so :meth:`PineconeBackend.update_metadata` fetches the stored values and
  upserts them back with the new metadata, 1,000 per request; writes through one adapter take
  turns, so no upsert slips in between.
* Errors: 429, 5xx, connection failures and timeouts are ``BackendUnavailable``; the SDK already
  retries those (four attempts), so vecstore adds none here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from vecstore.adapters.base import Capabilities, CollectionSummary, StoreDescription
from vecstore.adapters.common import (
    NETWORK_TIMEOUT_S,
    check_compatible,
    chunks,
    clip_score,
    hashed_id,
    ordered,
    require,
    send_halving,
    split_payload,
    unit_vector,
)
from vecstore.adapters.facts import FORM_KEY, without_facts
from vecstore.adapters.network import NetworkBackend, reads, writes
from vecstore.adapters.pinecone_filters import compile_filter, pinecone_facts
from vecstore.adapters.translate import StoreErrors
from vecstore.errors import BackendError, CollectionNotFound, ConfigError, InvalidInput, InvalidName
from vecstore.filters import Filter
from vecstore.records import CollectionInfo, Hit, Metadata, RecordBatch, StoredRecord, Vectors
from vecstore.reserved import ID_KEY, MODEL_KEY, TEXT_KEY

if TYPE_CHECKING:
    from vecstore.config import PineconeSettings, Settings

HASH_PREFIX = "vs1#"
MAX_VECTORS_PER_REQUEST = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024 - 16 * 1024  # leave room for the envelope
MAX_METADATA_BYTES = 40 * 1024
MAX_IDS_PER_REQUEST = 1000
MAX_ID_BYTES = 512
LIST_PAGE = 100
FETCH_PAGE = 1000  # fetch_by_metadata page: ids and metadata are what is wanted, values come too
OLD_FORM: dict[str, Any] = {FORM_KEY: {"$exists": False}}  # records written before the facts
FLOAT_JSON_BYTES = 25


def pinecone_id(record_id: str) -> str:
    """The id Pinecone stores for ``record_id`` (deterministic)."""
    keep = (
        record_id.isascii()
        and record_id.isprintable()
        and len(record_id) <= MAX_ID_BYTES
        and not record_id.startswith(HASH_PREFIX)
    )
    return record_id if keep else hashed_id(record_id, HASH_PREFIX)


def _public(metadata: dict[str, Any] | None) -> tuple[str | None, str | None, Metadata]:
    rid, text, meta = split_payload(without_facts(metadata))
    meta.pop(MODEL_KEY, None)
    return rid, text, meta


class PineconeBackend(NetworkBackend):
    """One namespace of one Pinecone index."""

    capabilities = Capabilities(
        no_keywords="Pinecone keeps no document frequencies, so sparse values cannot give the "
        "BM25 ranking (live IDF) the NumPy store and Qdrant give",
    )

    def __init__(
        self, collection: str, settings: Settings | None = None, *, index: Any = None
    ) -> None:
        super().__init__(client=index)
        cfg = settings.pinecone if settings is not None else None
        self._cfg: PineconeSettings | None = cfg
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
        err = require("pinecone.errors.exceptions", "pinecone", "pinecone")
        if index is not None:
            self.host = "index"
        else:
            if cfg is None or not cfg.host:
                raise ConfigError("Pinecone needs pinecone.host (the index's data-plane host)")
            if cfg.api_key is None:
                raise ConfigError("Pinecone needs pinecone.api_key (VECSTORE_PINECONE__API_KEY)")
            self.host = cfg.host
        self.errors = StoreErrors(
            "Pinecone",
            f"{self.host} (namespace {self.namespace!r})",
            ("pinecone",),
            unreachable=(err.PineconeConnectionError, err.PineconeTimeoutError),
        )
        # update_metadata upserts the stored values back: no write may slip in between.
        self.serialise_writes()
        self.model = ""
        self.dimension = 0
        self._facts = True  # every record carries filter facts (checked on open)

    def _make_client(self) -> Any:
        cfg = self._cfg
        assert cfg is not None and cfg.api_key is not None
        return self._pc.Index(
            host=cfg.host, api_key=cfg.api_key.get_secret_value(), timeout=NETWORK_TIMEOUT_S
        )

    # -- the Backend protocol ------------------------------------------------------------------

    @writes
    def open(self, info: CollectionInfo, *, create: bool = True) -> CollectionInfo:
        index = self.connect(self._make_client)
        stats = index.describe_index_stats()
        where = f"Pinecone namespace {self.namespace!r} at {self.host}"
        if stats.dimension and int(stats.dimension) != info.dimension:
            stored = CollectionInfo(self.namespace, info.model, int(stats.dimension))
            check_compatible(f"Pinecone index at {self.host}", stored, info)
        page = index.list_paginated(namespace=self.namespace, limit=1)
        if page.vectors:
            first = page.vectors[0].id
            fetched = index.fetch(ids=[first], namespace=self.namespace)
            vector = next(iter(fetched.vectors.values()), None)
            model = (vector.metadata or {}).get(MODEL_KEY) if vector is not None else None
            stored = CollectionInfo(self.namespace, str(model), info.dimension)
            check_compatible(where, stored, info)
            self._facts = not self._fetch_page(OLD_FORM, 1)[0]
        elif not create:
            # A namespace exists only while it holds vectors: an empty one is not there.
            raise CollectionNotFound(f"{where} holds no vectors")
        self.model, self.dimension = info.model, info.dimension
        return info

    def _fetch_page(
        self, flt: dict[str, Any], limit: int, token: str | None = None
    ) -> tuple[dict[str, Any], str | None]:
        """One page of the vectors ``flt`` selects (the server filters), and the next token."""
        with self.errors:
            page = self.client.fetch_by_metadata(
                filter=flt, namespace=self.namespace, limit=limit, pagination_token=token
            )
        return dict(page.vectors), (page.pagination.next if page.pagination else None) or None

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
        stored: dict[str, Any] = {
            **meta,
            **pinecone_facts(meta),
            ID_KEY: rid,
            MODEL_KEY: self.model,
        }
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

    @writes
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
                send_halving(self._send, request)
                request, size = [], 0
            request.append(vector)
            size += n
        if request:
            send_halving(self._send, request)

    def _send(self, vectors: Sequence[dict[str, Any]]) -> None:
        with self.errors:  # translated here, so that a 413 is seen and halved
            self.client.upsert(vectors=list(vectors), namespace=self.namespace, show_progress=False)

    @reads
    def query(
        self, vectors: Vectors, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[list[Hit]]:
        flt = compile_filter(where, facts=self._facts)
        out = []
        for vector in vectors.tolist():
            response = self.client.query(
                vector=vector,
                top_k=top_k,
                filter=flt,
                include_metadata=True,
                include_values=with_vectors,
                namespace=self.namespace,
            )
            hits = []
            for match in response.matches:
                rid, text, meta = _public(match.metadata)
                vector = unit_vector(match.values) if with_vectors else None
                hits.append(Hit(str(rid), clip_score(match.score), text, meta, vector))
            out.append(hits)
        return out

    def _fetch(self, ids: Sequence[str], with_vectors: bool) -> list[StoredRecord]:
        out: list[StoredRecord] = []
        for part in chunks(list(ids), MAX_IDS_PER_REQUEST):
            with self.errors:
                response = self.client.fetch(ids=list(part), namespace=self.namespace)
            out.extend(self._stored(v, with_vectors) for v in response.vectors.values())
        return out

    @staticmethod
    def _stored(vector: Any, with_vectors: bool) -> StoredRecord:
        rid, text, meta = _public(vector.metadata)
        values = np.asarray(vector.values, dtype=np.float32) if with_vectors else None
        return StoredRecord(str(rid), text, meta, values)

    @reads
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredRecord]:
        return ordered(ids, self._fetch([pinecone_id(i) for i in dict.fromkeys(ids)], with_vectors))

    @writes
    def update_metadata(self, ids: Sequence[str], metadata: Sequence[Metadata]) -> list[str]:
        """The stored values fetched and upserted back with the new metadata, 1,000 at a time.

        Not Pinecone's ``update``: it takes one id per request and merges metadata, so it cannot
        drop a key the record no longer has; a fetch and an upsert per 1,000 records replace
        exactly and cost two requests. Every record is checked before the first write.
        """
        wanted = dict(zip(ids, metadata, strict=True))
        found = self._fetch([pinecone_id(i) for i in ids], with_vectors=True)
        vectors = [
            self._vector(r.id, r.vector.tolist(), r.text, wanted[r.id])
            for r in ordered(ids, found)
            if r.vector is not None
        ]
        for part in chunks(vectors, MAX_VECTORS_PER_REQUEST):
            send_halving(self._send, part)
        return [v["metadata"][ID_KEY] for v in vectors]

    @writes
    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        if ids is None and where is None:  # everything in the namespace
            self.client.delete(delete_all=True, namespace=self.namespace)
            return
        flt = compile_filter(where, facts=self._facts)
        for part in chunks([pinecone_id(i) for i in ids or ()], MAX_IDS_PER_REQUEST):
            self.client.delete(ids=list(part), namespace=self.namespace)
        if flt is not None:
            self.client.delete(filter=flt, namespace=self.namespace)

    def _ids(self) -> Iterator[list[str]]:
        token = None
        while True:
            with self.errors:
                page = self.client.list_paginated(
                    namespace=self.namespace, limit=LIST_PAGE, pagination_token=token
                )
            ids = [v.id for v in page.vectors if v.id]
            if ids:
                yield ids
            token = page.pagination.next if page.pagination else None
            if not token:
                return

    @reads
    def count(self, where: Filter | None = None) -> int:
        if where is None:
            summary = self.client.describe_index_stats().namespaces.get(self.namespace)
            return int(summary.vector_count) if summary is not None else 0
        flt = compile_filter(where, facts=self._facts)
        assert flt is not None
        total, token = 0, None
        while True:
            found, token = self._fetch_page(flt, FETCH_PAGE, token)
            total += len(found)
            if token is None:
                return total

    @writes
    def upgrade(self, batch_size: int = FETCH_PAGE) -> int:
        """Rewrite the records that lack filter facts with them; nothing is re-encoded.

        Each round fetches records still without the form marker (their stored values and
        metadata) and upserts them back with the facts, so a run that stopped part-way is
        finished by the next.
        """
        done, last = 0, None
        while True:
            found, _ = self._fetch_page(OLD_FORM, min(batch_size, MAX_VECTORS_PER_REQUEST))
            if not found:
                break
            if sorted(found) == last:
                raise BackendError(f"Pinecone at {self.host} did not keep the facts written")
            last = sorted(found)
            vectors = []
            for vid, vector in found.items():
                stored = dict(vector.metadata or {})
                metadata = {**stored, **pinecone_facts(stored)}
                vectors.append({"id": vid, "values": list(vector.values), "metadata": metadata})
            send_halving(self._send, vectors)
            done += len(vectors)
        self._facts = True
        return done

    def scan(
        self, batch_size: int, with_vectors: bool = True, where: Filter | None = None
    ) -> Iterator[list[StoredRecord]]:
        if where is not None:  # the server selects: pages of fetch_by_metadata
            flt = compile_filter(where, facts=self._facts)
            assert flt is not None
            token = None
            while True:
                found, token = self._fetch_page(flt, min(batch_size, FETCH_PAGE), token)
                if found:
                    yield [self._stored(v, with_vectors) for v in found.values()]
                if token is None:
                    return
        pending: list[str] = []
        for ids in self._ids():
            pending.extend(ids)
            while len(pending) >= batch_size:
                yield self._fetch(pending[:batch_size], with_vectors)
                pending = pending[batch_size:]
        if pending:
            yield self._fetch(pending, with_vectors)

    def describe(self) -> StoreDescription:
        details: dict[str, str | int] = {"pinecone": self.host, "namespace": self.namespace}
        return StoreDescription("pinecone", self.host, details)

    @reads
    def collections(self) -> list[CollectionSummary]:
        """The index's namespaces holding vecstore records (the model read from one record)."""
        index = self.connect(self._make_client)
        stats = index.describe_index_stats()
        out: list[CollectionSummary] = []
        for namespace, summary in sorted(stats.namespaces.items()):
            page = index.list_paginated(namespace=namespace, limit=1)
            if not page.vectors:
                continue
            fetched = index.fetch(ids=[page.vectors[0].id], namespace=namespace)
            first = next(iter(fetched.vectors.values()), None)
            model = (first.metadata or {}).get(MODEL_KEY) if first is not None else None
            if model is None:
                continue  # not written by vecstore
            count = int(summary.vector_count)
            out.append(CollectionSummary(namespace, count, str(model), int(stats.dimension or 0)))
        return out

    def close(self) -> None:
        self.close_client(lambda index: getattr(index, "close", lambda: None)())
