"""The reference store: exact cosine search over memory-mapped vectors, records on disk.

The files are described in :mod:`vecstore.adapters.numpy.format2` (format 2) and
:mod:`vecstore.adapters.numpy.format1` (format 1, still opened, upgraded on the first write or by
``vecstore upgrade``: :mod:`vecstore.adapters.numpy.upgrade`). What each write costs is in
:mod:`vecstore.adapters.numpy.writer`; how a query stays exact while reading int8 codes, in
:mod:`vecstore.adapters.numpy.dense`. Opening a collection reads its manifest and maps its
files: no record is parsed until a query, ``get`` or ``scan`` asks for it.

Sharing, as SQLite does it: writers take turns, readers never block.

* Each committed manifest is opened as an immutable state (the vector maps, the segments and
  their dead rows; :mod:`vecstore.adapters.numpy.state`). A reader takes the current state by
  reference and searches it without a lock; a writer builds the next state and swaps the
  reference, so a reader sees the state before or after a write, never a torn one.
* A write holds the collection's file lock (``<dir>/.lock``) only while it writes: threads of
  one process take turns on a thread lock first, processes on the file lock, waiting up to
  ``numpy.lock_timeout_s`` before :class:`~vecstore.errors.StoreLocked`. The lock dies with its
  holder (``flock``), so a writer killed mid-write leaves it free; the files it left half
  written are removed by the next writer.
* Readers see other processes' commits at their next call (one ``stat`` of the manifest). A
  file that vanished under a reader (merged away by another process) means a newer manifest:
  the reader loads that one instead.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock, Timeout

from vecstore.adapters.base import Capabilities, CollectionSummary, Fusion, StoreDescription
from vecstore.adapters.common import check_compatible
from vecstore.adapters.numpy import catalog, format1, format2, manifest, writer
from vecstore.adapters.numpy import state as states
from vecstore.adapters.numpy import upgrade as conversion
from vecstore.adapters.numpy.dense import search
from vecstore.adapters.numpy.files import LOCK, MANIFEST, check_name, disk_error
from vecstore.adapters.numpy.format2 import Layout
from vecstore.adapters.numpy.keyword import hybrid as keyword_hybrid
from vecstore.adapters.numpy.keyword import search as keyword_search
from vecstore.adapters.numpy.manifest import Signature
from vecstore.adapters.numpy.quantization import kernel
from vecstore.errors import (
    CollectionNotFound,
    InvalidInput,
    StoreCorrupted,
    StoreLocked,
)
from vecstore.filters import Filter
from vecstore.keywords import Terms
from vecstore.records import CollectionInfo, Hit, Metadata, RecordBatch, StoredRecord, Vectors

if TYPE_CHECKING:
    from vecstore.config import Settings

log = logging.getLogger(__name__)
DEFAULT_LOCK_TIMEOUT_S = 30.0
LOAD_ATTEMPTS = 20


class NumpyBackend:
    """A collection in a directory ``<path>/<name>``, searched exactly."""

    capabilities = Capabilities()
    compact = True
    """Scan the int8 copy first (exact either way; False: the fp32 scan, for comparisons)."""

    def __init__(
        self,
        collection: str,
        settings: Settings | None = None,
        *,
        path: str | Path | None = None,
        lock_timeout_s: float | None = None,
    ) -> None:
        check_name(collection)
        if path is None:
            path = settings.numpy.path if settings is not None else Path(".vecstore")
        if lock_timeout_s is None:
            lock_timeout_s = (
                settings.numpy.lock_timeout_s if settings is not None else DEFAULT_LOCK_TIMEOUT_S
            )
        self.directory = Path(path).absolute() / collection
        self.lock_timeout_s = lock_timeout_s
        self._info: CollectionInfo | None = None
        self._state = states.EMPTY
        self._state_lock = threading.Lock()  # guards loading and swapping ``_state``
        self._writer = threading.Lock()  # one writer of this process at a time
        self._file_lock = FileLock(self.directory / LOCK, thread_local=False)

    # -- reading state -------------------------------------------------------------------------

    def _stat(self) -> Signature | None:
        try:
            st = (self.directory / MANIFEST).stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _current(self) -> states.State:
        """The newest committed state: this process's, or another's (one stat when unchanged)."""
        state = self._state
        if self._stat() == state.signature:
            return state
        with self._state_lock:
            state = self._state
            if self._stat() != state.signature:
                state = self._state = self._read(state)
            return state

    def _read(self, previous: states.State) -> states.State:
        """Load the manifest on disk, reusing what ``previous`` already has open."""
        for _ in range(LOAD_ATTEMPTS):
            signature = self._stat()
            if signature is None:
                return states.EMPTY
            try:
                raw, read_at = manifest.read(self.directory)
                return self._build(raw, read_at, previous)
            except (StoreCorrupted, FileNotFoundError):
                if self._stat() == signature:
                    raise  # the manifest still names it: really damaged
                # A writer replaced the manifest (and merged files away) meanwhile: again.
            except OSError as exc:
                raise disk_error(exc, self.directory, "reading") from exc
        raise StoreCorrupted(f"{self.directory}: the manifest kept changing while being read")

    def _build(self, raw: Any, signature: Signature | None, previous: states.State) -> states.State:
        parsed = catalog.parse_any(raw, self.directory / MANIFEST)
        self._check_info(parsed.info)
        if isinstance(parsed, Layout):
            return states.build(self.directory, parsed, signature, previous)
        return conversion.build(self.directory, parsed, signature, previous)

    def _opened(self) -> CollectionInfo:
        assert self._info is not None, "open() must be called before writing"
        return self._info

    def _check_info(self, stored: CollectionInfo) -> None:
        if self._info is None:
            return
        check_compatible(
            f"collection {self._info.name!r} at {self.directory}",
            CollectionInfo(self._info.name, stored.model, stored.dimension),
            self._info,
        )

    @property
    def segments(self) -> tuple[states.Segment, ...]:
        """The segments of the current state (for tests and ``describe``)."""
        return self._current().segments

    # -- writing -------------------------------------------------------------------------------

    def _write(self, change: Callable[[states.State], Layout | None]) -> None:
        """Run ``change`` on the newest state while holding the writer locks; commit its result.

        ``change`` writes whatever new files it needs and returns the layout to commit, or None
        for nothing to do. A collection still in format 1 is upgraded first.
        """
        with self._writer:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._locked(lambda: self._change(change))
            except OSError as exc:  # a full, read-only or refusing disk; a planted link
                raise disk_error(exc, self.directory, "writing") from exc

    def _locked(self, work: Callable[[], None]) -> None:
        try:
            self._file_lock.acquire(timeout=self.lock_timeout_s)
        except Timeout as exc:
            raise StoreLocked(
                f"collection at {self.directory}: another writer held "
                f"{self._file_lock.lock_file} for over {self.lock_timeout_s:g}s "
                "(numpy.lock_timeout_s)"
            ) from exc
        try:
            work()
        finally:
            self._file_lock.release()

    def _change(self, change: Callable[[states.State], Layout | None]) -> None:
        state = self._upgraded(self._current())
        format2.remove_unlisted(self.directory, state.layout.files() if state.layout else set())
        layout = change(state)
        if layout is not None:
            self._after(self._commit(layout))

    def _upgraded(self, state: states.State) -> states.State:
        """``state`` in format 2: a format-1 collection is converted and committed first."""
        if not state.legacy:
            return state
        assert state.info is not None
        raw, _ = manifest.read(self.directory)
        old = format1.parse(raw)
        log.warning("upgrading the collection at %s to the current format", self.directory)
        state = self._commit(conversion.upgrade(self.directory, old, state, state.info))
        conversion.finish(self.directory)
        assert state.layout is not None
        format2.remove_unlisted(self.directory, state.layout.files())
        return state

    def _commit(self, layout: Layout) -> states.State:
        format2.write(self.directory, layout)
        with self._state_lock:
            self._state = states.build(self.directory, layout, self._stat(), self._state)
            return self._state

    def _after(self, state: states.State) -> None:
        """Merge or compact when due; best effort: the commit before it stands whatever happens.

        Work the disk cannot take (full, say) is left for a later writer, and its partial files
        are removed then.
        """
        try:
            while state.layout is not None:
                # Files the commit replaced (dead lists, merged tables): readers have them open.
                format2.remove_unlisted(self.directory, state.layout.files())
                layout = state.layout
                namer = writer.Namer(layout.generation)
                if writer.compaction_due(layout):
                    state = self._commit(writer.compact(self.directory, state, layout.info, namer))
                elif (start := writer.merge_start(layout)) is not None:
                    state = self._commit(writer.merge(self.directory, state, layout, start, namer))
                else:
                    break
        except OSError as exc:
            log.warning("merging segments of %s deferred: %s", self.directory, exc)

    def _base(self, state: states.State) -> tuple[Layout, writer.Namer]:
        if state.layout is not None:
            return state.layout, writer.Namer(state.layout.generation)
        namer = writer.Namer(0)
        return writer.empty_layout(self._opened(), namer), namer

    def upsert(self, batch: RecordBatch) -> None:
        if len(batch) == 0:
            return

        def change(state: states.State) -> Layout:
            layout, namer = self._base(state)
            dimension = layout.info.dimension
            if batch.vectors.shape[1] != dimension:
                raise InvalidInput(
                    f"vectors have dimension {batch.vectors.shape[1]}, not {dimension}"
                )
            dead = np.sort(np.fromiter(states.lookup(state, batch.ids).values(), np.int64))
            return writer.add_rows(
                self.directory,
                state,
                layout,
                namer,
                batch.vectors,
                list(batch.ids),
                list(batch.texts),
                list(batch.metadata),
                dead,
            )

        self._write(change)

    def update_metadata(self, ids: Sequence[str], metadata: Sequence[Metadata]) -> list[str]:
        updated: list[str] = []

        def change(state: states.State) -> Layout | None:
            found = states.lookup(state, ids)
            picked = [i for i, rid in enumerate(ids) if rid in found]
            updated[:] = [ids[i] for i in picked]
            if not picked or state.layout is None:
                return None
            layout, namer = self._base(state)
            rows = np.array([found[ids[i]] for i in picked], dtype=np.int64)
            order = np.argsort(rows)
            vectors = np.empty((len(rows), layout.info.dimension), np.float32)
            vectors[order] = states.vectors_of(state, rows[order])
            texts = [states.locate(state, int(r)) for r in rows.tolist()]
            return writer.add_rows(
                self.directory,
                state,
                layout,
                namer,
                vectors,
                updated.copy(),
                [seg.records.text(r) for seg, r in texts],
                [dict(metadata[i]) for i in picked],
                np.sort(rows),
            )

        if states.lookup(self._current(), ids):
            self._write(change)
        return updated

    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        seen = self._current()
        chosen = states.dead_rows(seen, ids, where)
        if not len(chosen):
            return  # nothing to delete: no lock taken, nothing written

        def change(state: states.State) -> Layout | None:
            # Chosen again unless no commit came between (the usual case: the work is done).
            dead = chosen if state is seen else states.dead_rows(state, ids, where)
            if not len(dead) or state.layout is None:
                return None
            namer = writer.Namer(state.layout.generation)
            return writer.with_dead(self.directory, state, state.layout, dead, namer)

        self._write(change)

    def upgrade(self, batch_size: int) -> int:
        """Convert format 1, index segments written before keyword search; records changed.

        One segment is indexed per commit, so an interrupted run keeps what it finished. Texts
        are read back; nothing is re-encoded.
        """
        del batch_size  # the work is streamed in units of its own
        changed = [self._current().live if self._current().legacy else 0]

        def index(state: states.State) -> Layout | None:
            at = writer.unindexed(state)
            if at is None or state.layout is None:
                return None
            changed[0] += state.segments[at].live
            namer = writer.Namer(state.layout.generation)
            return writer.index_keywords(self.directory, state, state.layout, at, namer)

        self._write(index)  # converts format 1 first
        while writer.unindexed(self._current()) is not None:
            self._write(index)
        return changed[0]

    # -- the Backend protocol ------------------------------------------------------------------

    def open(self, info: CollectionInfo, *, create: bool = True) -> CollectionInfo:
        self._info = info
        with self._state_lock:
            self._state = states.EMPTY
        state = self._current()
        if state.info is None:
            if not create:
                raise CollectionNotFound(
                    f"no collection {self.directory.name!r} in the NumPy store at "
                    f"{self.directory.parent} (nothing at {self.directory})"
                )
            return info  # created by the first write
        stored = state.info
        return CollectionInfo(info.name, stored.model, stored.dimension)

    def query(
        self, vectors: Vectors, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[list[Hit]]:
        state = self._current()
        found = search(state, vectors, top_k, where, self.compact)
        return [_hits(state, r, np.clip(scores, -1.0, 1.0), with_vectors) for r, scores in found]

    def keyword_query(
        self, terms: Terms, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[Hit]:
        state = self._current()
        return _hits(state, *keyword_search(state, terms, top_k, where), with_vectors)

    def hybrid_query(
        self, vector: Vectors, terms: Terms, where: Filter | None, fusion: Fusion
    ) -> list[Hit]:
        state = self._current()  # rows fused first: only the top_k records are read
        rows, scores = keyword_hybrid(state, vector, terms, where, fusion, self.compact)
        return _hits(state, rows, scores, True)

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredRecord]:
        state = self._current()
        found = states.lookup(state, ids)
        rows = np.array([found[i] for i in ids if i in found], dtype=np.int64)
        return states.records(state, rows, with_vectors)

    def count(self, where: Filter | None = None) -> int:
        return states.count(self._current(), where)

    def scan(
        self, batch_size: int, with_vectors: bool = True, where: Filter | None = None
    ) -> Iterator[list[StoredRecord]]:
        state = self._current()  # one snapshot for the whole scan
        for seg, mask in zip(state.segments, states.masks(state, where), strict=True):
            local = np.arange(seg.records.rows) if mask is None else np.flatnonzero(mask)
            rows = local + seg.start
            for start in range(0, len(rows), batch_size):
                yield states.records(state, rows[start : start + batch_size], with_vectors)

    def matrix(self, where: Filter | None = None) -> tuple[list[str], Vectors]:
        """Ids and vectors of the live records ``where`` selects, in one array.

        With no dead row and no filter this is the memory-mapped matrix itself, not a copy.
        """
        state = self._current()
        mask = states.global_mask(state, where)
        if mask is None and len(state.parts) == 1:
            rows = np.arange(state.rows)
            vectors: Vectors = state.parts[0][1].f32
        else:
            rows = np.arange(state.rows) if mask is None else np.flatnonzero(mask)
            vectors = states.vectors_of(state, rows)
        ids: list[str] = []
        for seg in state.segments:
            lo, hi = np.searchsorted(rows, [seg.start, seg.start + seg.records.rows])
            ids.extend(seg.records.ids_of(rows[lo:hi] - seg.start))
        return ids, vectors

    def describe(self) -> StoreDescription:
        state = self._current()
        details: dict[str, str | int] = {
            "path": str(self.directory),
            "format": 1 if state.legacy else format2.FORMAT,
            "segments": len(state.segments),
            "rows": state.rows,
            "int8_kernel": kernel(),
        }
        return StoreDescription("numpy", str(self.directory.parent), details)

    def collections(self) -> list[CollectionSummary]:
        """The collections beside this one, counted from their manifests alone."""
        return catalog.summaries(self.directory.parent)

    def close(self) -> None:
        # No lock outlives a write; drop the memory maps of this process.
        with self._state_lock:
            self._state = states.EMPTY

    def __repr__(self) -> str:
        return f"NumpyBackend({str(self.directory)!r}, pid={os.getpid()})"


def _hits(state: states.State, rows: Any, scores: Any, with_vectors: bool) -> list[Hit]:
    found = states.records(state, rows, with_vectors)
    return [
        Hit(rec.id, float(score), rec.text, rec.metadata, rec.vector)
        for rec, score in zip(found, np.asarray(scores).tolist(), strict=True)
    ]
