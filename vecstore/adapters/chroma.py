"""Chroma through chromadb: a server by host/port, or embedded (``PersistentClient``) on a path.

* Scores: Chroma reports cosine distance (1 - cos); vecstore returns 1 - distance.
* Replace: Chroma's upsert merges metadata, so before writing, the keys a record loses are sent
  as None (Chroma deletes a key given None): one ``get`` per batch, and the write stays a
  single request.
* Filters of equality, set and logic operators compile to Chroma's ``where`` with the exact
  meaning (:mod:`vecstore.adapters.chroma_filters`). Filters with range operators or ``$exists``
  (which Chroma evaluates differently on list fields, or not at all) are evaluated exactly by
  the reference evaluator on the records' metadata, then the query runs restricted to the
  matching ids (``query(ids=...)``): that route reads every record's metadata once per call.
* Batches: ``get_max_batch_size()`` read at run time; every HTTP call has a timeout (the client
  has none of its own); unreachable servers raise ``BackendUnavailable``.
* Model, dimension and the cosine space are kept in the collection's metadata/configuration
  and checked on open.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from vecstore.adapters.base import Capabilities
from vecstore.adapters.chroma_filters import Inexact, compile_where
from vecstore.adapters.common import NETWORK_TIMEOUT_S, chunks, clip_score, require, status_error
from vecstore.errors import (
    BackendError,
    BackendUnavailable,
    IncompatibleCollection,
    InvalidName,
    VecstoreError,
)
from vecstore.filters import Filter, matches
from vecstore.records import CollectionInfo, Hit, Metadata, RecordBatch, StoredRecord, Vectors

if TYPE_CHECKING:
    from vecstore.config import Settings

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]")
SCAN_BATCH = 1000
T = TypeVar("T")


def check_chroma_name(name: str) -> str:
    """Chroma's rule: 3-512 of [a-zA-Z0-9._-], alphanumeric ends, no '..', not an IPv4."""
    bad = not NAME.fullmatch(name) or ".." in name
    if not bad:
        try:
            ipaddress.IPv4Address(name)
            bad = True
        except ValueError:
            pass
    if bad:
        raise InvalidName(
            f"Chroma collection name {name!r}: 3-512 characters of letters, digits, '.', '_', "
            "'-', starting and ending with a letter or digit, no '..', not an IPv4 address"
        )
    return name


class ChromaBackend:
    """One Chroma collection."""

    capabilities = Capabilities()

    def __init__(
        self, collection: str, settings: Settings | None = None, *, client: Any = None
    ) -> None:
        self.name = check_chroma_name(collection)
        self._chromadb = require("chromadb", "chromadb", "chroma")
        self._errors = require("chromadb.errors", "chromadb", "chroma")
        self._httpx = require("httpx", "chromadb", "chroma")
        cfg = settings.chroma if settings is not None else None
        self.where = "client"
        if client is not None:
            self.client = client
        elif cfg is not None and cfg.host:
            self.where = f"http://{cfg.host}:{cfg.port}"
            self.client = self._call(
                lambda: self._chromadb.HttpClient(
                    host=cfg.host,
                    port=cfg.port,
                    settings=self._chromadb.Settings(anonymized_telemetry=False),
                )
            )
            self._set_timeout()
        elif cfg is not None and cfg.path:
            self.where = str(cfg.path)
            self.client = self._call(
                lambda: self._chromadb.PersistentClient(
                    path=str(cfg.path), settings=self._chromadb.Settings(anonymized_telemetry=False)
                )
            )
        else:
            raise BackendError("Chroma needs chroma.host (a server) or chroma.path (embedded)")
        self._collection: Any = None
        self._max_batch: int | None = None

    def _set_timeout(self) -> None:
        """Chromadb's HTTP client waits forever by default; give its session a timeout."""
        session = getattr(getattr(self.client, "_server", None), "_session", None)
        if session is not None:
            session.timeout = self._httpx.Timeout(NETWORK_TIMEOUT_S)

    # -- errors --------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except VecstoreError:
            raise
        except self._httpx.TransportError as exc:
            raise BackendUnavailable(f"Chroma at {self.where} is unreachable: {exc!r}") from exc
        except self._errors.RateLimitError as exc:
            raise status_error(f"Chroma {self.name!r}", 429, str(exc)) from exc
        except ValueError as exc:
            if "Could not connect" in str(exc):
                raise BackendUnavailable(f"Chroma at {self.where} is unreachable: {exc}") from exc
            raise BackendError(f"Chroma {self.name!r}: {exc}") from exc
        except self._errors.ChromaError as exc:
            transient = self.where.startswith("http") and isinstance(
                exc, self._errors.InternalError
            )
            raise BackendError(f"Chroma {self.name!r}: {exc}", transient=transient) from exc
        except Exception as exc:  # chromadb turns non-JSON HTTP errors into bare Exception
            if self.where.startswith("http"):
                raise BackendUnavailable(f"Chroma at {self.where} failed: {exc}") from exc
            raise BackendError(f"Chroma {self.name!r}: {exc}") from exc

    # -- helpers -------------------------------------------------------------------------------

    @property
    def col(self) -> Any:
        if self._collection is None:
            raise BackendError("the Chroma collection is not open")
        return self._collection

    @property
    def max_batch(self) -> int:
        if self._max_batch is None:
            self._max_batch = int(self._call(lambda: self.client.get_max_batch_size()))
        return self._max_batch

    def _matching_ids(self, where: Filter) -> list[str]:
        """Ids whose metadata satisfies ``where``, by the reference evaluator."""
        out: list[str] = []
        for offset in range(0, self.count(), SCAN_BATCH):
            page = self._call(
                lambda o=offset: self.col.get(  # type: ignore[misc]
                    limit=SCAN_BATCH, offset=o, include=["metadatas"]
                )
            )
            out.extend(
                i
                for i, m in zip(page["ids"], page["metadatas"], strict=True)
                if matches(where, m or {})
            )
        return out

    # -- the Backend protocol ------------------------------------------------------------------

    def open(self, info: CollectionInfo) -> CollectionInfo:
        meta = {"vecstore_model": info.model, "vecstore_dimension": info.dimension}
        col = self._call(
            lambda: self.client.get_or_create_collection(
                self.name,
                embedding_function=None,
                metadata=meta,
                configuration={"hnsw": {"space": "cosine"}},
            )
        )
        stored = col.metadata or {}
        space = ((col.configuration or {}).get("hnsw") or {}).get("space")
        if (
            stored.get("vecstore_model") != info.model
            or stored.get("vecstore_dimension") != info.dimension
            or space != "cosine"
        ):
            raise IncompatibleCollection(
                f"Chroma collection {self.name!r} holds model {stored.get('vecstore_model')!r}, "
                f"dimension {stored.get('vecstore_dimension')}, space {space!r}; asked for "
                f"{info.model!r}, dimension {info.dimension}, cosine"
            )
        self._collection = col
        return info

    def upsert(self, batch: RecordBatch) -> None:
        for part in chunks(range(len(batch)), self.max_batch):
            rows = list(part)
            ids = [batch.ids[r] for r in rows]
            old = self._call(
                lambda ids=ids: self.col.get(  # type: ignore[misc]
                    ids=ids, include=["metadatas"]
                )
            )
            previous = dict(zip(old["ids"], old["metadatas"], strict=True))
            metadatas: list[Metadata | None] = []
            for rid, r in zip(ids, rows, strict=True):
                new: dict[str, Any] = dict(batch.metadata[r])
                for key in previous.get(rid) or {}:
                    new.setdefault(key, None)  # Chroma merges: drop what the record lost
                metadatas.append(new or None)
            self._call(
                lambda ids=ids, rows=rows, metadatas=metadatas: self.col.upsert(  # type: ignore[misc]
                    ids=ids,
                    embeddings=batch.vectors[rows],
                    documents=[batch.texts[r] for r in rows],
                    metadatas=metadatas,
                )
            )

    @staticmethod
    def _native(where: Filter) -> dict[str, Any] | None:
        """Chroma's own ``where`` when it keeps the meaning exactly, else None."""
        try:
            return compile_where(where)
        except Inexact:
            return None

    def query(self, vectors: Vectors, top_k: int, where: Filter | None) -> list[list[Hit]]:
        restrict: list[str] | None = None
        native = self._native(where) if where is not None else None
        if where is not None and native is None:
            restrict = self._matching_ids(where)
            if not restrict:
                return [[] for _ in vectors]
        # Chroma returns what it holds when asked for more: no count round trip needed.
        n_results = min(top_k, len(restrict)) if restrict is not None else top_k
        result = self._call(
            lambda: self.col.query(
                query_embeddings=vectors,
                n_results=n_results,
                ids=restrict,
                where=native,
                include=["documents", "metadatas", "distances"],
            )
        )
        out = []
        for q in range(len(vectors)):
            hits = [
                Hit(rid, clip_score(1.0 - dist), doc, meta or {})
                for rid, dist, doc, meta in zip(
                    result["ids"][q],
                    result["distances"][q],
                    result["documents"][q],
                    result["metadatas"][q],
                    strict=True,
                )
            ]
            out.append(hits)
        return out

    def _records(self, page: dict[str, Any], with_vectors: bool) -> list[StoredRecord]:
        embeddings = page.get("embeddings") if with_vectors else None
        return [
            StoredRecord(
                rid,
                doc,
                meta or {},
                np.asarray(embeddings[i], dtype=np.float32) if embeddings is not None else None,
            )
            for i, (rid, doc, meta) in enumerate(
                zip(page["ids"], page["documents"], page["metadatas"], strict=True)
            )
        ]

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredRecord]:
        include = ["documents", "metadatas", *(["embeddings"] if with_vectors else [])]
        found: dict[str, StoredRecord] = {}
        for part in chunks(list(dict.fromkeys(ids)), self.max_batch):
            page = self._call(
                lambda part=part: self.col.get(  # type: ignore[misc]
                    ids=list(part), include=include
                )
            )
            for record in self._records(page, with_vectors):
                found[record.id] = record
        return [found[i] for i in ids if i in found]

    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        doomed = list(ids or [])
        native = self._native(where) if where is not None else None
        if native is not None:
            self._call(lambda: self.col.delete(where=native))
        elif where is not None:
            doomed += self._matching_ids(where)
        for part in chunks(doomed, self.max_batch):
            self._call(lambda part=part: self.col.delete(ids=list(part)))  # type: ignore[misc]

    def count(self, where: Filter | None = None) -> int:
        if where is not None:
            native = self._native(where)
            if native is not None:
                return len(self._call(lambda: self.col.get(where=native, include=[]))["ids"])
            return len(self._matching_ids(where))
        return int(self._call(lambda: self.col.count()))

    def scan(self, batch_size: int, with_vectors: bool = True) -> Iterator[list[StoredRecord]]:
        include = ["documents", "metadatas", *(["embeddings"] if with_vectors else [])]
        total = self.count()
        for offset in range(0, total, batch_size):
            page = self._call(
                lambda o=offset: self.col.get(  # type: ignore[misc]
                    limit=batch_size, offset=o, include=include
                )
            )
            yield self._records(page, with_vectors)

    def describe(self) -> dict[str, Any]:
        return {"chroma": self.where}

    def close(self) -> None:
        self._collection = None
