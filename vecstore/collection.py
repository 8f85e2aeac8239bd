"""Collection: validate, encode, batch, then hand raw vectors to a backend.

No backend-specific code lives here; everything a backend receives is already checked
(see :mod:`vecstore.validation` and :mod:`vecstore.metadata`), so a bad record fails the whole
call before anything is written.

Sharing: every public method may be called from many threads at once. A Collection holds no
mutable state of its own after construction; each backend makes its own calls thread-safe
(see :mod:`vecstore.adapters.numpy` and :mod:`vecstore.adapters.network`), and encoders
serialise what their model needs. The ``a``-prefixed methods give the same calls to asyncio
code (see :mod:`vecstore.aio`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vecstore import filters, validation
from vecstore.adapters.base import Backend, MatrixSource, Upgradable, create_backend
from vecstore.aio import in_thread
from vecstore.encoders import (
    Encoder,
    checked_vectors,
    encode_documents,
    encode_queries,
    encoder_from_name,
)
from vecstore.errors import FilterError, InvalidInput, InvalidName, StoreError
from vecstore.hashing import HASH_KEY, content_hash, public_hit, public_record
from vecstore.metadata import MetadataPolicy, check_policy, normalize_metadata
from vecstore.records import CollectionInfo, Hit, Pair, RecordBatch, StoredRecord, Vectors
from vecstore.retry import RetryingBackend, RetryPolicy

if TYPE_CHECKING:
    from vecstore.config import Settings
    from vecstore.ingest import IdField, IngestReport, Progress
    from vecstore.pairs import TileProgress

ENCODE_WINDOW = 8192
"""Texts given to one ``encode()`` call: large, so the model's length sort keeps batches tight."""


class Collection:
    """Named records (id, text, metadata, vector) in one store, searched by cosine similarity.

    The backend and encoder are objects or names; what is not given comes from ``settings``
    (default: :func:`vecstore.config.load_settings`). Opening checks the stored model and
    dimension and refuses a mismatch.
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
        if not isinstance(name, str) or not name:
            raise InvalidName(f"a collection name is a non-empty str, got {name!r}")
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
        inner = (
            backend
            if isinstance(backend, Backend)
            else create_backend(self.backend_name, name, settings)
        )
        policy = RetryPolicy(settings.retry.attempts, settings.retry.deadline_s)
        self.store: Backend = inner
        """The backend itself, for its optional abilities (:class:`MatrixSource`)."""
        self._backend: Backend = RetryingBackend(inner, policy)
        self._closed = False
        wanted = CollectionInfo(name, self.encoder.name, self.encoder.dimension)
        try:
            self.info = self._backend.open(wanted, create=create)
        except BaseException:
            if not isinstance(backend, Backend):  # ours to release: files, locks, connections
                self._backend.close()
            raise

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
        """Validate and encode records into a batch, writing nothing."""
        if texts is None and vectors is None:
            raise InvalidInput("give texts, vectors, or both", field="texts")
        policy = check_policy(metadata_policy or self.metadata_policy)
        text_list = None if texts is None else validation.as_list(texts, "texts")
        id_list = None if ids is None else validation.as_list(ids, "ids")
        meta_list = None if metadata is None else validation.as_list(metadata, "metadata")
        n = len(text_list) if text_list is not None else validation.row_count(vectors)
        validation.check_length(id_list, n, "ids")
        validation.check_length(meta_list, n, "metadata")
        if n == 0:  # nothing to do, whatever shape the empty input had
            return RecordBatch([], np.empty((0, self.info.dimension), np.float32), [], [])
        if id_list is not None:
            id_list = validation.check_ids(id_list, allow_missing=True)
        if text_list is not None:
            text_list = [
                validation.check_text(t, validation.label(i, id_list))
                for i, t in enumerate(text_list)
            ]
        metas = [
            normalize_metadata(
                meta_list[i] if meta_list is not None else None,
                validation.label(i, id_list),
                policy,
            )
            for i in range(n)
        ]
        if vectors is not None:
            if validation.row_count(vectors) != n:
                raise InvalidInput(
                    f"{validation.row_count(vectors)} vectors given for {n} texts", field="vectors"
                )
            matrix = validation.check_vectors(vectors, self.info.dimension, id_list)
        else:
            assert text_list is not None
            matrix = self.encode(text_list)
        if id_list is None or None in id_list:
            given = id_list or [None] * n
            id_list = validation.check_ids(
                [
                    rid
                    if rid is not None
                    else validation.derived_id(text_list[i] if text_list else None, matrix[i])
                    for i, rid in enumerate(given)
                ]
            )
        stored_texts: list[str | None] = list(text_list) if text_list else [None] * n
        for i, meta in enumerate(metas):
            meta[HASH_KEY] = content_hash(
                self.info.model, stored_texts[i], meta, None if text_list else matrix[i]
            )
        return RecordBatch(id_list, matrix, stored_texts, metas)

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Encode texts to store (the encoder's document side), in large windows, checked."""
        if not texts:
            return np.empty((0, self.info.dimension), np.float32)
        parts = [
            checked_vectors(
                self.encoder,
                encode_documents(self.encoder, texts[i : i + ENCODE_WINDOW]),
                len(texts[i : i + ENCODE_WINDOW]),
                self.info.dimension,
            )
            for i in range(0, len(texts), ENCODE_WINDOW)
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def encode_query(self, text: str) -> Vectors:
        """The (1, dimension) vector of a query text (the encoder's query side), checked."""
        query = validation.check_text(text, "query")
        return checked_vectors(
            self.encoder, encode_queries(self.encoder, [query]), 1, self.info.dimension
        )

    def write(self, batch: RecordBatch) -> None:
        """Write a prepared batch in one backend call.

        The backend checks the whole batch, then splits it to its own request limits, so a
        record the store cannot hold fails the call before anything is written.
        """
        if len(batch):
            self.backend.upsert(batch)

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

    # -- reading -------------------------------------------------------------------------------

    def query(
        self,
        query: str | Any,
        top_k: int = 10,
        *,
        where: filters.Where = None,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """The ``top_k`` records most similar to a text or a vector, best first.

        ``top_k=0`` asks for nothing and gets ``[]``. ``with_vectors``: each hit carries its unit
        vector, read in the same round trip (for MMR and re-ranking).
        """
        k = validation.check_top_k(top_k)
        node = self._filter(where)
        if isinstance(query, str):
            vector = self.encode_query(query)
        else:
            if np.ndim(query) != 1:
                raise InvalidInput(
                    f"a query is a str or a one-dimensional vector, got {type(query).__name__}",
                    field="query",
                )
            vector = validation.check_vectors(query, self.info.dimension, ["query"], "query")
        if k == 0:
            return []
        if with_vectors:
            found = self.backend.query(vector, k, node, with_vectors=True)
        else:
            found = self.backend.query(vector, k, node)  # third-party backends: no new keyword
        return [public_hit(h) for h in found[0]]

    def get(self, ids: Sequence[str] | str, *, with_vectors: bool = False) -> list[StoredRecord]:
        """Records with these ids, in the order given; unknown ids are left out."""
        return [public_record(r) for r in self.backend.get(self._ids(ids), with_vectors)]

    def count(self, where: filters.Where = None) -> int:
        """How many records (match ``where``)."""
        return self.backend.count(self._filter(where))

    def ingest(
        self,
        source: Iterable[dict[str, Any]] | str | Path,
        *,
        id_field: IdField = "id",
        text_field: str = "text",
        metadata_fields: Sequence[str] | None = None,
        progress: Progress | None = None,
        dead_letter: str | Path | None = None,
        dry_run: bool = False,
        source_tag: str | None = None,
        sync: bool = False,
        window: int | None = None,
        vector_field: str | None = None,
    ) -> IngestReport:
        """Stream dicts or a JSONL/CSV file into the collection; see :mod:`vecstore.ingest`."""
        from vecstore.ingest import ingest

        return ingest(
            self,
            source,
            id_field=id_field,
            text_field=text_field,
            metadata_fields=metadata_fields,
            progress=progress,
            dead_letter=dead_letter,
            dry_run=dry_run,
            source_tag=source_tag,
            sync=sync,
            vector_field=vector_field,
            **({"window": window} if window else {}),
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
        restricts both sides of each pair. Exact, and memory-bounded: see :mod:`vecstore.pairs`.
        Fewer than two records give an empty list.
        """
        from vecstore.pairs import similar_pairs

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
        from vecstore.pairs import near_duplicates

        return near_duplicates(self, threshold, self._filter(where), progress)

    def upgrade(self, *, batch_size: int = 1000) -> int:
        """Bring the stored records to the form this vecstore writes; return how many changed.

        Collections written before filter facts existed (Chroma, Pinecone) keep their exact
        answers by slower routes; this writes the facts in place, without re-encoding, in
        batches of ``batch_size``. Resumable: run it again after an interruption. Other stores
        have nothing to upgrade (0).
        """
        self._check_open()
        if batch_size < 1:
            raise InvalidInput(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
        store = self.store
        return store.upgrade(batch_size) if isinstance(store, Upgradable) else 0

    def describe(self) -> dict[str, Any]:
        """Backend, model, dimension, count and where the data lives."""
        return {
            "collection": self.name,
            "backend": self.backend_name,
            "model": self.info.model,
            "dimension": self.info.dimension,
            "metric": self.info.metric,
            "count": self.count(),
            **self.backend.describe(),
        }

    # -- helpers -------------------------------------------------------------------------------

    def _ids(self, ids: Sequence[str] | str) -> list[str]:
        id_list = [ids] if isinstance(ids, str) else validation.as_list(ids, "ids")
        for i, rid in enumerate(id_list):
            if not isinstance(rid, str) or not rid:
                raise InvalidInput(f"id must be a non-empty str, got {rid!r}", record=i, field="id")
        return id_list

    def _filter(self, where: filters.Where) -> filters.Filter | None:
        node = filters.parse(where)
        refused = filters.operators(node) - self.backend.capabilities.filter_ops
        if refused:
            raise FilterError(
                f"the {self.backend_name} backend cannot evaluate {', '.join(sorted(refused))} "
                "exactly; rewrite the filter without it"
            )
        return node

    @property
    def backend(self) -> Backend:
        """The backend, with the store-layer retry; a closed collection refuses every call."""
        self._check_open()
        return self._backend

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"collection {self.name!r} is closed; open it again to use it")

    def matrix_source(self) -> MatrixSource | None:
        """The backend, when it can hand over its vectors as one matrix (else None)."""
        self._check_open()
        return self.store if isinstance(self.store, MatrixSource) else None

    def close(self) -> None:
        """Release the backend's files, locks and connections (a second close does nothing)."""
        if not self._closed:
            self._closed = True
            self._backend.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- asyncio: the same calls, run on vecstore's thread pool --------------------------------

    async def aupsert(
        self,
        texts: Sequence[str] | None = None,
        ids: Sequence[str | None] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        vectors: Any = None,
        metadata_policy: MetadataPolicy | None = None,
    ) -> list[str]:
        """:meth:`upsert` for asyncio code."""
        return await in_thread(
            self.upsert, texts, ids, metadata, vectors=vectors, metadata_policy=metadata_policy
        )

    async def aquery(
        self,
        query: str | Any,
        top_k: int = 10,
        *,
        where: filters.Where = None,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """:meth:`query` for asyncio code."""
        return await in_thread(self.query, query, top_k, where=where, with_vectors=with_vectors)

    async def aget(
        self, ids: Sequence[str] | str, *, with_vectors: bool = False
    ) -> list[StoredRecord]:
        """:meth:`get` for asyncio code."""
        return await in_thread(self.get, ids, with_vectors=with_vectors)

    async def adelete(
        self, ids: Sequence[str] | str | None = None, *, where: filters.Where = None
    ) -> None:
        """:meth:`delete` for asyncio code."""
        await in_thread(self.delete, ids, where=where)

    async def aclear(self) -> None:
        """:meth:`clear` for asyncio code."""
        await in_thread(self.clear)

    async def acount(self, where: filters.Where = None) -> int:
        """:meth:`count` for asyncio code."""
        return await in_thread(self.count, where)

    async def aclose(self) -> None:
        """:meth:`close` for asyncio code."""
        await in_thread(self.close)

    async def __aenter__(self) -> Collection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"Collection({self.name!r}, backend={self.backend_name!r}, model={self.info.model!r})"
        )


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
