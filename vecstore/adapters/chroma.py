"""Chroma through chromadb: a server by host/port, or embedded (``PersistentClient``) on a path.

* Scores: Chroma reports cosine distance (1 - cos); vecstore returns 1 - distance.
* Replace: Chroma's upsert merges metadata, so before writing, the keys a record loses are sent
  as None (Chroma deletes a key given None): one ``get`` per batch, and the write stays a
  single request.
* Filters: every record carries filter facts beside its metadata
  (:mod:`vecstore.adapters.chroma_filters`), so every filter compiles to one native ``where``
  with the exact meaning, for query, count and delete alike. Facts are stripped from what
  comes back. A collection created before the facts (no ``vecstore_filter_form`` in its
  metadata) answers numbers, ranges and ``$exists`` by the older exact route (the reference
  evaluator over every record's metadata, then ``query(ids=...)``) until :meth:`upgrade`
  writes its facts.
* Batches: ``get_max_batch_size()`` read at run time; every HTTP call has a timeout (the client
  has none of its own); unreachable servers raise ``BackendUnavailable``.
* Model, dimension and the cosine space are kept in the collection's metadata/configuration
  and checked on open.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from vecstore.adapters.base import Capabilities, CollectionSummary, StoreDescription
from vecstore.adapters.chroma_client import close_half_built
from vecstore.adapters.chroma_client import sessions as chroma_sessions
from vecstore.adapters.chroma_filters import ChromaWhere, Inexact, chroma_facts, compile_where
from vecstore.adapters.common import (
    NETWORK_TIMEOUT_S,
    check_compatible,
    chunks,
    clip_score,
    ordered,
    require,
    unit_vector,
)
from vecstore.adapters.facts import FORM, FORM_KEY, without_facts
from vecstore.adapters.network import NetworkBackend, reads, writes
from vecstore.adapters.translate import StoreErrors
from vecstore.errors import BackendError, CollectionNotFound, ConfigError, InvalidName
from vecstore.filters import Filter, matches
from vecstore.records import (
    CollectionInfo,
    Hit,
    Metadata,
    Metric,
    RecordBatch,
    StoredRecord,
    Vectors,
)

if TYPE_CHECKING:
    from vecstore.config import ChromaSettings, Settings

FORM_META = "vecstore_filter_form"  # collection metadata: the filter-facts form its records hold
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]")
SCAN_BATCH = 1000


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


class ChromaBackend(NetworkBackend):
    """One Chroma collection."""

    capabilities = Capabilities(
        no_keywords="Chroma ranks keywords only in its cloud service (this client filters "
        "documents by substring, unranked)"
    )

    def __init__(
        self, collection: str, settings: Settings | None = None, *, client: Any = None
    ) -> None:
        super().__init__(client=client)
        self.name = check_chroma_name(collection)
        self._chromadb = require("chromadb", "chromadb", "chroma")
        self._httpx = require("httpx", "chromadb", "chroma")
        self._chroma_errors = chroma_errors = require("chromadb.errors", "chromadb", "chroma")
        self._cfg: ChromaSettings | None = settings.chroma if settings is not None else None
        cfg = self._cfg
        if cfg is None:
            from vecstore.config import ChromaSettings

            cfg = ChromaSettings()  # the defaults, the HNSW search breadth among them
        self._ef_search = cfg.ef_search
        if client is not None:
            self.where = "client"
            remote = hasattr(getattr(client, "_server", None), "_session")  # an HTTP client
        elif cfg is not None and cfg.host:
            self.where, remote = f"http://{cfg.host}:{cfg.port}", True
        elif cfg is not None and cfg.path:
            self.where, remote = str(cfg.path), False
        else:
            raise ConfigError("Chroma needs chroma.host (a server) or chroma.path (embedded)")

        def status_of(exc: BaseException) -> int | None:
            # chromadb names the status by error type (RateLimitError 429, InternalError 500).
            return int(exc.code()) if isinstance(exc, chroma_errors.ChromaError) else None

        self.errors = StoreErrors(
            "Chroma", self.where, ("chromadb",), remote=remote, status_of=status_of
        )
        # Replace is a read-modify-write (the keys a record lost are sent as None): one at a time.
        self.serialise_writes()
        self._collection: Any = None
        self._max_batch: int | None = None
        self._facts = True  # the collection's records carry filter facts (read on open)

    def _make_client(self) -> Any:
        cfg = self._cfg
        assert cfg is not None
        chromadb = self._chromadb
        settings = chromadb.Settings(anonymized_telemetry=False)
        if cfg.host:
            try:
                client = chromadb.HttpClient(host=cfg.host, port=cfg.port, settings=settings)
            except Exception as exc:
                close_half_built(exc)
                raise
            # Chromadb's HTTP client waits forever by default; give its session a timeout.
            session = getattr(getattr(client, "_server", None), "_session", None)
            if session is not None:
                session.timeout = self._httpx.Timeout(NETWORK_TIMEOUT_S)
            return client
        return chromadb.PersistentClient(path=str(cfg.path), settings=settings)

    # -- helpers -------------------------------------------------------------------------------

    @property
    def col(self) -> Any:
        if self._collection is None:
            raise BackendError("the Chroma collection is not open")
        return self._collection

    @property
    def max_batch(self) -> int:
        if self._max_batch is None:
            with self.errors:
                self._max_batch = int(self.client.get_max_batch_size())
        return self._max_batch

    def _matching_ids(self, where: Filter) -> list[str]:
        """Ids whose metadata satisfies ``where``, by the reference evaluator."""
        out: list[str] = []
        for offset in range(0, int(self.col.count()), SCAN_BATCH):
            page = self.col.get(limit=SCAN_BATCH, offset=offset, include=["metadatas"])
            out.extend(
                i
                for i, m in zip(page["ids"], page["metadatas"], strict=True)
                if matches(where, without_facts(m))
            )
        return out

    # -- the Backend protocol ------------------------------------------------------------------

    @writes
    def open(self, info: CollectionInfo, *, create: bool = True) -> CollectionInfo:
        client = self.connect(self._make_client)
        meta = {
            "vecstore_model": info.model,
            "vecstore_dimension": info.dimension,
            FORM_META: FORM,
        }
        if create:
            col = client.get_or_create_collection(
                self.name,
                embedding_function=None,
                metadata=meta,
                # Search breadth is fixed at creation: modify() made no difference to recall here.
                configuration={"hnsw": {"space": "cosine", "ef_search": self._ef_search}},
            )
        else:
            try:
                col = client.get_collection(self.name, embedding_function=None)
            except self._chroma_errors.NotFoundError as exc:
                raise CollectionNotFound(
                    f"no collection {self.name!r} in the Chroma store at {self.where}"
                ) from exc
        stored = col.metadata or {}
        space = ((col.configuration or {}).get("hnsw") or {}).get("space")
        check_compatible(
            f"Chroma collection {self.name!r} at {self.where}",
            CollectionInfo(
                self.name,
                str(stored.get("vecstore_model")),
                int(stored.get("vecstore_dimension") or 0),
                cast(Metric, "cosine" if space == "cosine" else str(space)),
            ),
            info,
        )
        self._collection = col
        self._facts = stored.get(FORM_META) == FORM
        return info

    def _previous(self, ids: Sequence[str]) -> dict[str, Metadata | None]:
        """The stored metadata of those of ``ids`` that exist."""
        old = self.col.get(ids=list(ids), include=["metadatas"])
        return dict(zip(old["ids"], old["metadatas"], strict=True))

    @staticmethod
    def _replacing(metadata: Metadata, previous: Metadata | None) -> dict[str, Any]:
        """What to send so that ``metadata`` (with its facts) replaces ``previous``."""
        new: dict[str, Any] = dict(metadata)
        new.update(chroma_facts(new))
        for key in previous or {}:
            new.setdefault(key, None)  # Chroma merges: drop what the record lost
        return new

    @writes
    def upsert(self, batch: RecordBatch) -> None:
        for part in chunks(range(len(batch)), self.max_batch):
            rows = list(part)
            ids = [batch.ids[r] for r in rows]
            previous = self._previous(ids)
            self.col.upsert(
                ids=ids,
                embeddings=batch.vectors[rows],
                documents=[batch.texts[r] for r in rows],
                metadatas=[
                    self._replacing(batch.metadata[r], previous.get(batch.ids[r])) for r in rows
                ],
            )

    @writes
    def update_metadata(self, ids: Sequence[str], metadata: Sequence[Metadata]) -> list[str]:
        """Chroma's ``update`` of metadata alone (vectors and documents untouched)."""
        updated: list[str] = []
        for part in chunks(range(len(ids)), self.max_batch):
            previous = self._previous([ids[i] for i in part])
            rows = [i for i in part if ids[i] in previous]
            if rows:
                self.col.update(
                    ids=[ids[i] for i in rows],
                    metadatas=[self._replacing(metadata[i], previous[ids[i]]) for i in rows],
                )
                updated.extend(ids[i] for i in rows)
        return updated

    def _plan(self, where: Filter) -> ChromaWhere | list[str]:
        """How to select ``where``: a native ``where``, or the matching ids.

        Ids come only on a collection without filter facts, for a filter its ``where`` cannot
        say: the reference route.
        """
        try:
            return compile_where(where, facts=self._facts)
        except Inexact:
            return self._matching_ids(where)

    @reads
    def query(
        self, vectors: Vectors, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[list[Hit]]:
        plan = self._plan(where) if where is not None else None
        if plan == []:
            return [[] for _ in vectors]
        restrict = plan if isinstance(plan, list) else None
        # Chroma returns what it holds when asked for more: no count round trip needed.
        n_results = min(top_k, len(restrict)) if restrict is not None else top_k
        result = self.col.query(
            query_embeddings=list(vectors),  # rows: chromadb checks a list faster than a 2-d array
            n_results=n_results,
            ids=restrict,
            where=plan if isinstance(plan, dict) else None,
            include=["documents", "metadatas", "distances", *(["embeddings"] * with_vectors)],
        )
        out = []
        for q in range(len(vectors)):
            rows = result["embeddings"][q] if with_vectors else [None] * len(result["ids"][q])
            hits = [
                Hit(
                    rid,
                    clip_score(1.0 - dist),
                    doc,
                    without_facts(meta),
                    None if row is None else unit_vector(row),
                )
                for rid, dist, doc, meta, row in zip(
                    result["ids"][q],
                    result["distances"][q],
                    result["documents"][q],
                    result["metadatas"][q],
                    rows,
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
                without_facts(meta),
                unit_vector(embeddings[i]) if embeddings is not None else None,
            )
            for i, (rid, doc, meta) in enumerate(
                zip(page["ids"], page["documents"], page["metadatas"], strict=True)
            )
        ]

    @reads
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredRecord]:
        include = ["documents", "metadatas", *(["embeddings"] if with_vectors else [])]
        records: list[StoredRecord] = []
        for part in chunks(list(dict.fromkeys(ids)), self.max_batch):
            records.extend(
                self._records(self.col.get(ids=list(part), include=include), with_vectors)
            )
        return ordered(ids, records)

    @writes
    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        doomed = list(ids or [])
        if ids is None and where is None:  # everything: Chroma deletes by ids or by a where
            doomed = list(self.col.get(include=[])["ids"])
        plan = self._plan(where) if where is not None else []
        if isinstance(plan, dict):
            self.col.delete(where=plan)
        else:
            doomed += plan
        for part in chunks(doomed, self.max_batch):
            self.col.delete(ids=list(part))

    @reads
    def count(self, where: Filter | None = None) -> int:
        if where is None:
            return int(self.col.count())
        plan = self._plan(where)
        if isinstance(plan, list):
            return len(plan)
        return len(self.col.get(where=plan, include=[])["ids"])

    @writes
    def upgrade(self, batch_size: int = SCAN_BATCH) -> int:
        """Write the filter facts of every record that lacks them, then mark the collection.

        Rewrites metadata only (no vectors, no documents, nothing re-encoded); records written
        meanwhile carry facts already. Resumable: each round takes records still without the
        form marker, so a run that stopped part-way is finished by the next.
        """
        done, last = 0, None
        while True:
            page = self.col.get(
                where={FORM_KEY: {"$ne": FORM}}, limit=batch_size, include=["metadatas"]
            )
            if not page["ids"]:
                break
            if page["ids"] == last:
                raise BackendError(f"Chroma at {self.where} did not keep the facts written")
            last = page["ids"]
            metadatas = [chroma_facts(without_facts(m)) for m in page["metadatas"]]
            self.col.update(ids=page["ids"], metadatas=metadatas)
            done += len(page["ids"])
        if not self._facts:
            self.col.modify(metadata={**(self.col.metadata or {}), FORM_META: FORM})
            self._facts = True
        return done

    def scan(
        self, batch_size: int, with_vectors: bool = True, where: Filter | None = None
    ) -> Iterator[list[StoredRecord]]:
        include = ["documents", "metadatas", *(["embeddings"] if with_vectors else [])]
        with self.errors:
            plan = self._plan(where) if where is not None else None
        if isinstance(plan, list):  # the reference route of a collection without facts
            for part in chunks(plan, batch_size):
                with self.errors:
                    page = self.col.get(ids=list(part), include=include)
                yield self._records(page, with_vectors)
            return
        offset = 0
        while True:
            with self.errors:
                page = self.col.get(limit=batch_size, offset=offset, where=plan, include=include)
            if page["ids"]:
                yield self._records(page, with_vectors)
            if len(page["ids"]) < batch_size:
                return
            offset += batch_size

    def describe(self) -> StoreDescription:
        return StoreDescription("chroma", self.where, {"chroma": self.where})

    @reads
    def collections(self) -> list[CollectionSummary]:
        client = self.connect(self._make_client)
        out = []
        for col in client.list_collections():
            meta = col.metadata or {}
            if "vecstore_model" not in meta:
                continue  # not made by vecstore
            dimension = int(meta.get("vecstore_dimension") or 0)
            out.append(
                CollectionSummary(col.name, int(col.count()), meta["vecstore_model"], dimension)
            )
        return sorted(out, key=lambda c: c.name)

    def close(self) -> None:
        self._collection = None
        self.close_client(self._close_client)

    @staticmethod
    def _close_client(client: Any) -> None:
        """Release the client, and close the HTTP sessions chromadb leaves open.

        chromadb 1.5.9 gives every HTTP client (and its internal admin client) a system of its
        own, and stops it on ``close()`` without closing its HTTP session; nothing else shares
        those sessions, so closing them here is safe.
        """
        sessions = chroma_sessions(client)
        client.close()
        for session in sessions:
            session.close()
