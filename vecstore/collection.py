"""Collection: validate, encode, batch, then hand raw vectors to a backend.

No backend-specific code lives here; everything a backend receives is already checked
(:mod:`vecstore.batches`, :mod:`vecstore.validation`, :mod:`vecstore.metadata`), so a bad record
fails the whole call before anything is written. Jobs (ingest, pairs, migrate, upgrade) live
above this facade in :mod:`vecstore.jobs`, working through the one retrying backend handle
(:attr:`Collection.backend`).

The model is loaded by the first text to encode, never to open: the stored model name and
dimension are checked against the model's own configuration files.

Sharing: every public method may be called from many threads at once. A Collection holds no
mutable state of its own after construction; each backend makes its own calls thread-safe
(see :mod:`vecstore.adapters.numpy` and :mod:`vecstore.adapters.network`), and encoders
serialise what their model needs. The ``a``-prefixed twins, generated from the sync methods,
give the same calls to asyncio code (see :mod:`vecstore.aio`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vecstore import batches, filters, retrieval, validation
from vecstore.adapters.base import Backend, MatrixSource, StoreListing, create_backend
from vecstore.aio import in_thread, twin
from vecstore.encoders import (
    Encoder,
    checked_vectors,
    encode_queries,
    encoder_facts,
    encoder_from_name,
)
from vecstore.errors import CapabilityError, FilterError, InvalidInput, InvalidName, StoreError
from vecstore.hashing import public_hit, public_record
from vecstore.metadata import MetadataPolicy, check_policy
from vecstore.records import (
    CollectionInfo,
    Document,
    Hit,
    Pair,
    RecordBatch,
    StoredRecord,
    Vectors,
)
from vecstore.rerank import Rerankers
from vecstore.retry import RetryingBackend, policy_of
from vecstore.telemetry import Scope, encoding

if TYPE_CHECKING:
    from vecstore.chunking import Chunker
    from vecstore.config import Settings
    from vecstore.jobs.base import BatchDone
    from vecstore.jobs.documents import DocumentReport
    from vecstore.jobs.fields import FieldMap, IdField
    from vecstore.jobs.pairs import TileProgress
    from vecstore.jobs.report import IngestReport
    from vecstore.jobs.writer import Progress, Watch

SCAN_BATCH = 1000


class Collection:
    """Named records (id, text, metadata, vector) in one store, searched by cosine similarity.

    The backend and encoder are objects or names; what is not given comes from ``settings``
    (default: :func:`vecstore.config.load_settings`). Opening checks the stored model and
    dimension and refuses a mismatch, without loading the model.
    """

    def __init__(
        self,
        name: str,
        *,
        backend: Backend | str | None = None,
        encoder: Encoder | str | None = None,
        settings: Settings | None = None,
        create: bool = True,
        metadata_policy: MetadataPolicy | None = None,
    ) -> None:
        if settings is None:
            from vecstore.config import load_settings

            settings = load_settings()
        if not isinstance(name, str) or not name or validation.unicode_problem(name):
            raise InvalidName(
                f"a collection name is a non-empty str of valid Unicode, got {name!r}"
            )
        self.name = name
        self.metadata_policy: MetadataPolicy = check_policy(
            metadata_policy or settings.metadata_policy
        )
        self.encoder = (
            encoder
            if isinstance(encoder, Encoder)
            else encoder_from_name(encoder or settings.model, settings)
        )
        if isinstance(backend, Backend):
            self.backend_name = type(backend).__name__
        else:
            self.backend_name = backend or settings.backend
        self._backend = (
            RetryingBackend(backend, policy_of(settings.retry))
            if isinstance(backend, Backend)
            else store_of(self.backend_name, name, settings)
        )
        self._closed = False
        self._rerankers = Rerankers()
        wanted = CollectionInfo(name, self.encoder.name, self.encoder.dimension)
        try:
            self.info = self._backend.open(wanted, create=create)
        except BaseException:
            if not isinstance(backend, Backend):  # ours to release: files, locks, connections
                self._backend.close()
            raise
        self.chunking = settings.chunking
        self._chunker: Chunker | None = None
        self._chunker_lock = threading.Lock()  # guards building ``_chunker``
        system = getattr(self._backend.describe(), "backend", self.backend_name)
        self.telemetry = Scope(system, name, settings.telemetry.query_text)
        self._backend.scope = self.telemetry

    # -- writing -------------------------------------------------------------------------------

    def upsert(
        self,
        texts: Sequence[str] | None = None,
        ids: Sequence[str | None] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        vectors: Any = None,
        metadata_policy: MetadataPolicy | None = None,
    ) -> list[str]:
        """Insert or wholly replace records; return their ids. All or nothing.

        An id left out (``ids=None``, or a None entry) is derived from the text. Metadata is
        checked under ``metadata_policy`` (default: the collection's, ``strict`` unless
        configured; see :mod:`vecstore.metadata`).
        """
        batch = self.prepare(texts, ids, metadata, vectors=vectors, metadata_policy=metadata_policy)
        self.write(batch)
        return batch.ids

    def prepare(
        self,
        texts: Sequence[str] | None = None,
        ids: Sequence[str | None] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        vectors: Any = None,
        metadata_policy: MetadataPolicy | None = None,
    ) -> RecordBatch:
        """Validate and encode records into a batch, writing nothing (:mod:`vecstore.batches`)."""
        policy = check_policy(metadata_policy or self.metadata_policy)
        return batches.prepare(self.info, self.encode, texts, ids, metadata, vectors, policy)

    def write(self, batch: RecordBatch) -> None:
        """Write a prepared batch in one backend call.

        The backend checks the whole batch, then splits it to its own request limits, so a
        record the store cannot hold fails the call before anything is written.
        """
        if len(batch):
            self.backend.upsert(batch)

    def update_metadata(
        self,
        ids: Sequence[str],
        metadata: Sequence[Mapping[str, Any] | None],
        *,
        metadata_policy: MetadataPolicy | None = None,
    ) -> list[str]:
        """Replace the metadata of existing records; their vectors and texts stay as they are.

        Nothing is encoded. Validated whole (lengths, duplicate ids, every value), then written
        all or nothing; unknown ids are left out, never created. Returns the ids updated, in
        the order given.
        """
        policy = check_policy(metadata_policy or self.metadata_policy)
        id_list, metas = batches.check_updates(ids, metadata, policy)
        backend = self.backend
        if not id_list:
            return []
        held = {r.id: r for r in backend.get(id_list)}
        found = [i for i, rid in enumerate(id_list) if rid in held]
        if not found:
            return []
        stamped = [batches.restamp(held[id_list[i]], metas[i], self.info.model) for i in found]
        done = set(backend.update_metadata([id_list[i] for i in found], stamped))
        return [rid for rid in id_list if rid in done]

    # -- documents (vecstore.jobs.documents) -------------------------------------------------

    def upsert_documents(
        self,
        texts: Sequence[str],
        *,
        ids: Sequence[str | None] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        metadata_policy: MetadataPolicy | None = None,
    ) -> DocumentReport:
        """Store documents whole, as chunks the model reads; re-index only what changed.

        Each text is cut within the model's limit (:mod:`vecstore.chunking`); each chunk is a
        record carrying the document's metadata, found by every search (``Hit.document_id``,
        ``Hit.span``). An id left out is derived from the text. See
        :mod:`vecstore.jobs.documents`.
        """
        from vecstore.jobs.documents import upsert_documents

        policy = check_policy(metadata_policy or self.metadata_policy)
        return upsert_documents(
            self,
            self.chunker(),
            texts,
            ids,
            metadata,
            policy=policy,
            max_chars=self.chunking.max_chars,
        )

    def get_document(self, id: str) -> Document | None:
        """A document stored by ``upsert_documents``, its text exactly; None if it is absent."""
        from vecstore.jobs.documents import get_document

        (doc_id,) = self._ids([id])
        found = get_document(self, doc_id)
        if found is None:
            return None
        chunks = [public_record(r) for r in found.chunks]
        return Document(found.id, found.text, found.metadata, chunks)

    def delete_documents(self, ids: Sequence[str] | str) -> None:
        """Delete every chunk of these documents; unknown ids are not an error."""
        from vecstore.jobs.documents import delete_documents

        delete_documents(self, self._ids(ids))

    def chunker(self) -> Chunker:
        """The chunker of this collection's model and ``chunking`` settings (built once)."""
        if self._chunker is None:
            from vecstore.jobs.documents import chunker_for

            with self._chunker_lock:
                if self._chunker is None:
                    settings = self.chunking
                    self._chunker = chunker_for(self.encoder, settings.max_tokens, settings.overlap)
        return self._chunker

    def clear(self) -> None:
        """Delete every record, keeping the collection (its model, dimension, settings)."""
        self.backend.delete(None, None)

    def delete(
        self, ids: Sequence[str] | str | None = None, *, where: filters.Where = None
    ) -> None:
        """Delete records by id or by filter; unknown ids are not an error."""
        node = self._filter(where)
        if ids is None and node is None:
            raise InvalidInput("give ids or a non-empty where filter to delete", field="ids")
        id_list = None if ids is None else self._ids(ids)
        self.backend.delete(id_list, node)

    # -- encoding ------------------------------------------------------------------------------

    def encode(self, texts: Sequence[str], *, progress: BatchDone | None = None) -> Vectors:
        """Encode texts to store (the document side), checked; see :func:`batches.encode`."""
        with encoding(self.telemetry, self.encoder, len(texts), "document"):
            return batches.encode(self.encoder, self.info.dimension, texts, progress)

    def encode_query(self, text: str) -> Vectors:
        """The (1, dimension) vector of a query text (the encoder's query side), checked."""
        query = validation.check_text(text, "query")
        with encoding(self.telemetry, self.encoder, 1, "query"):
            found = encode_queries(self.encoder, [query])
        return checked_vectors(self.encoder, found, 1, self.info.dimension)

    # -- reading -------------------------------------------------------------------------------

    def query(
        self,
        query: str | Any,
        top_k: int = 10,
        where: filters.Where = None,
        *,
        search: str = "dense",
        min_score: float | None = None,
        mmr: float | None = None,
        fetch_k: int | None = None,
        rerank: Any = None,
        with_vectors: bool = False,
        rrf_k: int = retrieval.RRF_K,
        weights: tuple[float, float] | None = None,
        group_by: str | None = None,
    ) -> list[Hit]:
        """The ``top_k`` best records for a text or a vector (which never loads the model).

        ``search``: ``"dense"``, ``"keyword"`` (BM25) or ``"hybrid"``; ``min_score``: a cosine
        floor; ``mmr`` or ``rerank`` pick from ``fetch_k`` candidates: :mod:`vecstore.retrieval`.
        ``group_by="document"``: the best documents, each as its best chunk's hit.
        """
        k = validation.check_top_k(top_k)
        p = retrieval.plan(k, search, min_score, mmr, fetch_k, rerank, rrf_k, weights, group_by)
        node = self._filter(where)
        backend = self.backend
        text = retrieval.query_text(query, p, backend, self.backend_name)
        started = time.perf_counter()
        scope = self.telemetry
        asked: dict[str, str | int | bool] = {
            "vecstore.search": p.search,
            "vecstore.top_k": k,
            "vecstore.filtered": node is not None,
        }
        if text is not None and scope.query_text:
            asked["vecstore.query.text"] = text
        with scope.span("query", asked) as span:
            dim, encode = self.info.dimension, self.encode_query
            vector = encode(text) if text is not None else validation.query_vector(query, dim)
            hits = (
                []
                if k == 0
                else retrieval.run(backend, p, vector, text, node, self._rerankers, with_vectors)
            )
            span.set({"vecstore.hits": len(hits)})
        scope.duration("vecstore.query.duration", started, "query")
        return [public_hit(h) for h in hits]

    def get(self, ids: Sequence[str] | str, *, with_vectors: bool = False) -> list[StoredRecord]:
        """Records with these ids, in the order given; unknown ids are left out."""
        return [public_record(r) for r in self.backend.get(self._ids(ids), with_vectors)]

    def count(self, where: filters.Where = None) -> int:
        """How many records (match ``where``)."""
        return self.backend.count(self._filter(where))

    def scan(
        self,
        where: filters.Where = None,
        *,
        batch_size: int = SCAN_BATCH,
        with_vectors: bool = False,
    ) -> Iterator[list[StoredRecord]]:
        """Every record ``where`` selects (all without it), in batches; the store filters.

        One pass over the store, with no resume token: an interrupted scan is run again.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput(
                f"batch_size must be an int >= 1, got {batch_size!r}", field="batch_size"
            )
        node = self._filter(where)
        for batch in self.backend.scan(batch_size, with_vectors, node):
            yield [public_record(r) for r in batch]

    def describe(self) -> dict[str, Any]:
        """Backend, model, dimension, count and where the data lives."""
        return {
            "collection": self.name,
            "backend": self.backend_name,
            "model": self.info.model,
            "dimension": self.info.dimension,
            "metric": self.info.metric,
            "count": self.count(),
            **encoder_facts(self.encoder),
            **self.backend.describe().details,
        }

    # -- jobs (vecstore.jobs), over this facade -----------------------------------------------

    def ingest(
        self,
        source: Iterable[dict[str, Any]] | str | Path,
        *,
        id_field: IdField = "id",
        text_field: str = "text",
        metadata_fields: Sequence[str] | None = None,
        vector_field: str | None = None,
        fields: FieldMap | None = None,
        progress: Progress | None = None,
        watch: Watch | None = None,
        dead_letter: str | Path | None = None,
        dry_run: bool = False,
        source_tag: str | None = None,
        sync: bool = False,
        max_delete: int | None = None,
        window: int | None = None,
        quiet: bool = False,
        documents: bool = False,
    ) -> IngestReport:
        """Stream dicts or a JSONL/CSV/TSV/Parquet file in (see :mod:`vecstore.jobs.ingest`).

        ``fields`` (a :class:`~vecstore.jobs.fields.FieldMap`) replaces the four field keywords.
        Progress goes to stderr as the CLI prints it (:mod:`vecstore.jobs.progress`) unless
        ``quiet`` or a ``watch`` of the caller's own is given. ``documents=True`` stores each
        record's text as a document (:meth:`upsert_documents`): chunks the model reads whole.
        """
        from vecstore.jobs.fields import FieldMap
        from vecstore.jobs.ingest import INGEST_WINDOW, ingest
        from vecstore.jobs.progress import shown

        if fields is None:
            fields = FieldMap.of(id_field, text_field, metadata_fields, vector_field)
        with shown(source, watch, quiet) as seen:
            return ingest(
                self,
                source,
                fields,
                progress=progress,
                watch=seen,
                dead_letter=dead_letter,
                dry_run=dry_run,
                source_tag=source_tag,
                sync=sync,
                max_delete=max_delete,
                window=INGEST_WINDOW if window is None else window,
                documents=documents,
            )

    def similar_pairs(
        self,
        top: int | None = None,
        *,
        threshold: float | None = None,
        where: filters.Where = None,
        progress: TileProgress | None = None,
    ) -> list[Pair]:
        """The most similar pairs of records, each pair once, best first (ties by store order).

        ``top`` pairs (default 10 when no threshold is given); with ``threshold``, every pair
        scoring at or above it (the best ``top`` of those when both are given). ``where``
        restricts both sides of each pair. Exact, and memory-bounded: see
        :mod:`vecstore.jobs.pairs`. Fewer than two records give an empty list.
        """
        from vecstore.jobs.pairs import similar_pairs

        return similar_pairs(self, top, threshold, self._filter(where), progress)

    def near_duplicates(
        self,
        threshold: float,
        *,
        where: filters.Where = None,
        progress: TileProgress | None = None,
    ) -> list[list[str]]:
        """Groups of ids linked by similarity >= ``threshold``, in store order.

        Groups are connected components: a~b and b~c put a, b and c in one group even when a and
        c score below the threshold. Records with no partner are in no group; keep the first id
        of each group to deduplicate.
        """
        from vecstore.jobs.pairs import near_duplicates

        return near_duplicates(self, threshold, self._filter(where), progress)

    def upgrade(self, *, batch_size: int = 1000) -> int:
        """Bring the stored records to the form this vecstore writes; return how many changed.

        See :func:`vecstore.jobs.upgrade.upgrade`: resumable, retried, nothing re-encoded.
        """
        from vecstore.jobs.upgrade import upgrade

        return upgrade(self, batch_size)

    # -- helpers -------------------------------------------------------------------------------

    def _ids(self, ids: Sequence[str] | str) -> list[str]:
        id_list = [ids] if isinstance(ids, str) else validation.as_list(ids, "ids")
        for i, rid in enumerate(id_list):
            if not isinstance(rid, str) or not rid:
                raise InvalidInput(f"id must be a non-empty str, got {rid!r}", record=i, field="id")
            validation.check_unicode(rid, i, "id")
        return id_list

    def _filter(self, where: filters.Where) -> filters.Filter | None:
        node = filters.parse(where)
        refused = filters.operators(node) - self._backend.capabilities.filter_ops
        if refused:
            raise FilterError(
                f"the {self.backend_name} backend cannot evaluate {', '.join(sorted(refused))} "
                "exactly; rewrite the filter without it"
            )
        return node

    @property
    def backend(self) -> RetryingBackend:
        """The backend, every call retried on transient errors; a closed collection refuses."""
        self._check_open()
        return self._backend

    @property
    def store(self) -> Backend:
        """The backend itself, without retries: for tests and store-specific inspection."""
        return self._backend.inner

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"collection {self.name!r} is closed; open it again to use it")

    def matrix_source(self) -> MatrixSource | None:
        """The backend, when it can hand over its vectors as one matrix (else None)."""
        return self.backend.abilities.matrix

    def close(self) -> None:
        """Release the backend's files, locks and connections (a second close does nothing)."""
        if not self._closed:
            self._closed = True
            self._backend.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- asyncio: the same calls, generated from the sync ones ---------------------------------

    aupsert = twin(upsert)
    aupsert_documents = twin(upsert_documents)
    aget_document = twin(get_document)
    adelete_documents = twin(delete_documents)
    aupdate_metadata = twin(update_metadata)
    aquery = twin(query)
    aget = twin(get)
    adelete = twin(delete)
    aclear = twin(clear)
    acount = twin(count)
    aclose = twin(close)

    async def __aenter__(self) -> Collection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await in_thread(self.close)

    def __repr__(self) -> str:
        return (
            f"Collection({self.name!r}, backend={self.backend_name!r}, model={self.info.model!r})"
        )


def store_of(backend: str, collection: str, settings: Settings) -> RetryingBackend:
    """The backend called ``backend`` for ``collection``, every call retried by ``settings``."""
    return RetryingBackend(create_backend(backend, collection, settings), policy_of(settings.retry))


def list_collections(*, config_file: str | Path | None = None, **overrides: Any) -> StoreListing:
    """The vecstore collections of the configured store (``vecstore list``), by name.

    The store is built as :func:`open_collection` builds it, from the same configuration; a store
    that cannot list its collections raises ``CapabilityError``.
    """
    from vecstore.config import load_settings

    settings = load_settings(config_file, **overrides)
    backend = store_of(settings.backend, settings.collection, settings)
    try:
        catalog = backend.abilities.catalog
        if catalog is None:
            raise CapabilityError(f"the {settings.backend} store cannot list its collections")
        return StoreListing(backend.describe(), catalog.collections())
    finally:
        backend.close()


def open_collection(
    name: str | None = None,
    *,
    config_file: str | Path | None = None,
    create: bool = True,
    **overrides: Any,
) -> Collection:
    """Open a collection with everything from configuration (see :mod:`vecstore.config`).

    ``name=None`` takes the configured collection; an empty name is refused (``InvalidName``).
    With ``create=False`` a collection that does not exist raises ``CollectionNotFound``.
    """
    from vecstore.config import load_settings

    settings = load_settings(config_file, **overrides)
    return Collection(
        settings.collection if name is None else name, settings=settings, create=create
    )
