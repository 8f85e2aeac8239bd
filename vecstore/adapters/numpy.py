"""The reference store: exact cosine search over memory-mapped float32 segments.

Persistence and crash safety are in :mod:`vecstore.adapters.numpy_files`. Every upsert writes
one new immutable segment (a replaced record's old row is marked dead in the manifest);
segments are merged when there are more than :data:`MAX_SEGMENTS` of them (the newest ones of
similar total size, so each record is rewritten O(log n) times) or when dead rows pass
:data:`MAX_DEAD_FRACTION`.

Sharing, as SQLite does it: writers take turns, readers never block.

* Each committed manifest is loaded into an immutable state (segments, their live rows, the id
  index; :mod:`vecstore.adapters.numpy_state`). A reader takes the current state by reference
  and searches it without a lock; a writer builds the next state and swaps the reference, so a
  reader sees the state before or after a write, never a torn one.
* A write holds the collection's file lock (``<dir>/.lock``) only while it writes: threads of
  one process take turns on a thread lock first, processes on the file lock, waiting up to
  ``numpy.lock_timeout_s`` before :class:`~vecstore.errors.StoreLocked`. The lock dies with its
  holder (``flock``), so a writer killed mid-write leaves it free; the files it left half
  written are removed by the next writer.
* Readers see other processes' commits at their next call (one ``stat`` of the manifest). A
  segment that vanished under a reader (merged away by another process) means a newer manifest:
  the reader loads that one instead.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock, Timeout

from vecstore.adapters import numpy_files as files
from vecstore.adapters import numpy_state as states
from vecstore.adapters.base import Capabilities, CollectionSummary
from vecstore.adapters.common import check_compatible
from vecstore.adapters.numpy_files import Manifest
from vecstore.adapters.numpy_state import Signature
from vecstore.errors import (
    CollectionNotFound,
    InvalidInput,
    InvalidName,
    StoreCorrupted,
    StoreLocked,
)
from vecstore.filters import Filter
from vecstore.records import CollectionInfo, Hit, Metadata, RecordBatch, StoredRecord, Vectors
from vecstore.search import topk

if TYPE_CHECKING:
    from vecstore.config import Settings

log = logging.getLogger(__name__)
MAX_SEGMENTS = 8
MAX_DEAD_FRACTION = 0.3
DEFAULT_LOCK_TIMEOUT_S = 30.0
LOAD_ATTEMPTS = 20
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(name: str) -> str:
    """Return ``name`` if it is a safe directory name, else raise InvalidName."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise InvalidName(
            f"collection name {name!r}: use 1-128 characters of letters, digits, '.', '_', '-', "
            "starting with a letter or digit, without '..'"
        )
    return name


def _copy_meta(meta: Metadata) -> Metadata:
    return {k: list(v) if isinstance(v, list) else v for k, v in meta.items()}  # type: ignore[misc]


class NumpyBackend:
    """A collection in a directory ``<path>/<name>``, searched exactly."""

    capabilities = Capabilities()

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
        self._file_lock = FileLock(self.directory / ".lock", thread_local=False)

    # -- reading state -------------------------------------------------------------------------

    def _stat(self) -> Signature | None:
        try:
            st = (self.directory / files.MANIFEST).stat()
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
        """Load the manifest on disk, reusing the segments ``previous`` already holds."""
        for _ in range(LOAD_ATTEMPTS):
            signature = self._stat()
            if signature is None:
                return states.EMPTY
            try:
                manifest, read_at = files.read_manifest(self.directory)
                return self._build(manifest, read_at, previous)
            except (StoreCorrupted, FileNotFoundError):
                if self._stat() == signature:
                    raise  # the manifest still names it: really damaged
                # A writer replaced the manifest (and merged segments away) meanwhile: again.
            except OSError as exc:
                raise files.disk_error(exc, self.directory, "reading") from exc
        raise StoreCorrupted(f"{self.directory}: the manifest kept changing while being read")

    def _build(
        self, manifest: Manifest, signature: Signature | None, previous: states.State
    ) -> states.State:
        self._check_info(manifest.info)
        return states.build(self.directory, manifest, signature, previous)

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

    def _write(self, change: Callable[[states.State], Manifest | None]) -> None:
        """Run ``change`` on the newest state while holding the writer locks; commit its result.

        ``change`` writes whatever new segment files it needs and returns the manifest to
        commit, or None for nothing to do.
        """
        with self._writer:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._locked_write(change)
            except OSError as exc:  # a full, read-only or refusing disk; a planted link
                raise files.disk_error(exc, self.directory, "writing") from exc

    def _locked_write(self, change: Callable[[states.State], Manifest | None]) -> None:
        try:
            self._file_lock.acquire(timeout=self.lock_timeout_s)
        except Timeout as exc:
            raise StoreLocked(
                f"collection at {self.directory}: another writer held "
                f"{self._file_lock.lock_file} for over {self.lock_timeout_s:g}s "
                "(numpy.lock_timeout_s)"
            ) from exc
        try:
            state = self._current()
            files.remove_unlisted(self.directory, state.manifest)  # what a stopped writer left
            manifest = change(state)
            if manifest is not None:
                state = self._commit(manifest)
                self._maybe_compact(state)
        finally:
            self._file_lock.release()

    def _commit(self, manifest: Manifest) -> states.State:
        files.write_manifest(self.directory, manifest)
        with self._state_lock:
            self._state = self._build(manifest, self._stat(), self._state)
            return self._state

    def upsert(self, batch: RecordBatch) -> None:
        if len(batch) == 0:
            return

        def change(state: states.State) -> Manifest:
            base = state.manifest or states.new_manifest(self._opened())
            dimension = base.info.dimension
            if batch.vectors.shape[1] != dimension:
                raise InvalidInput(
                    f"vectors have dimension {batch.vectors.shape[1]}, not {dimension}"
                )
            manifest = states.with_dead(base, states.dead_rows(state, batch.ids, None))
            data = files.SegmentData(
                batch.vectors, list(batch.ids), list(batch.texts), list(batch.metadata)
            )
            entry = files.write_segment(self.directory, states.next_name(manifest), data)
            return states.with_segment(manifest, entry)

        self._write(change)

    def update_metadata(self, ids: Sequence[str], metadata: Sequence[Metadata]) -> list[str]:
        updated: list[str] = []

        def change(state: states.State) -> Manifest | None:
            rows = [(i, state.index[rid]) for i, rid in enumerate(ids) if rid in state.index]
            updated[:] = [ids[i] for i, _ in rows]
            if not rows or state.manifest is None:
                return None
            dead: dict[int, list[int]] = {}
            for _, (s, r) in rows:
                dead.setdefault(s, []).append(r)
            manifest = states.with_dead(state.manifest, dead)
            data = files.SegmentData(
                np.stack([state.segments[s].data.vectors[r] for _, (s, r) in rows]),
                [ids[i] for i, _ in rows],
                [state.segments[s].data.texts[r] for _, (s, r) in rows],
                [dict(metadata[i]) for i, _ in rows],
            )
            entry = files.write_segment(self.directory, states.next_name(manifest), data)
            return states.with_segment(manifest, entry)

        if any(rid in self._current().index for rid in ids):
            self._write(change)
        return updated

    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        if not states.dead_rows(self._current(), ids, where):
            return  # nothing to delete: no lock taken, nothing written

        def change(state: states.State) -> Manifest | None:
            dead = states.dead_rows(state, ids, where)  # again, against the state under the lock
            return states.with_dead(state.manifest, dead) if dead and state.manifest else None

        self._write(change)

    def _maybe_compact(self, state: states.State) -> None:
        """Merge segments when due; best effort: the commit before it stands whatever happens.

        A merge the disk cannot take (full, say) is left for a later writer, and its partial
        files are removed then.
        """
        assert state.manifest is not None
        entries = state.manifest.segments
        rows = [e.rows for e in entries]
        dead = sum(len(e.dead) for e in entries)
        if dead > MAX_DEAD_FRACTION * sum(rows):
            start = 0
        elif len(entries) > MAX_SEGMENTS:
            start, tail = len(rows) - 1, rows[-1]
            while start > 0 and rows[start - 1] <= 2 * tail:
                start -= 1
                tail += rows[start]
        else:
            return
        try:
            self._merge_from(state, start)
        except OSError as exc:
            log.warning("merging segments of %s deferred: %s", self.directory, exc)

    def _merge_from(self, state: states.State, start: int) -> None:
        assert state.manifest is not None
        merged = state.segments[start:]
        keep = [np.flatnonzero(seg.alive) for seg in merged]
        manifest = states.keep_first(state.manifest, start)
        if sum(len(k) for k in keep):
            pairs = list(zip(merged, keep, strict=True))
            data = files.SegmentData(
                # The vectors go as parts, one at a time, never as one joined copy.
                np.empty((0, merged[0].data.vectors.shape[1]), np.float32),
                [seg.data.ids[i] for seg, k in pairs for i in k],
                [seg.data.texts[i] for seg, k in pairs for i in k],
                [seg.data.metadata[i] for seg, k in pairs for i in k],
            )
            parts = (
                seg.data.vectors if len(k) == len(seg.alive) else seg.data.vectors[k]
                for seg, k in pairs
            )
            name = states.next_name(manifest)
            entry = files.write_segment(self.directory, name, data, parts)
            manifest = states.with_segment(manifest, entry)
        self._commit(manifest)
        # Readers holding the old state keep their memory maps (POSIX keeps unlinked files).
        files.remove_unlisted(self.directory, manifest)

    # -- the Backend protocol ------------------------------------------------------------------

    def open(self, info: CollectionInfo, *, create: bool = True) -> CollectionInfo:
        self._info = info
        with self._state_lock:
            self._state = states.EMPTY
        state = self._current()
        if state.manifest is None:
            if not create:
                raise CollectionNotFound(
                    f"no collection {self.directory.name!r} in the NumPy store at "
                    f"{self.directory.parent} (nothing at {self.directory})"
                )
            return info  # created by the first write
        stored = state.manifest.info
        return CollectionInfo(info.name, stored.model, stored.dimension)

    def query(
        self, vectors: Vectors, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[list[Hit]]:
        state = self._current()
        found: list[list[tuple[float, int, int]]] = [[] for _ in range(len(vectors))]
        for s, (seg, mask) in enumerate(
            zip(state.segments, states.masks(state, where), strict=True)
        ):
            idx, scores = topk(seg.data.vectors, vectors, top_k, mask)
            for q in range(len(vectors)):
                found[q].extend(
                    zip(scores[q].tolist(), [s] * idx.shape[1], idx[q].tolist(), strict=True)
                )
        out = []
        for hits in found:
            hits.sort(key=lambda h: (-h[0], h[1], h[2]))
            out.append(
                [self._hit(state, s, r, score, with_vectors) for score, s, r in hits[:top_k]]
            )
        return out

    @staticmethod
    def _hit(state: states.State, s: int, r: int, score: float, with_vector: bool) -> Hit:
        data = state.segments[s].data
        vector = np.array(data.vectors[r], dtype=np.float32) if with_vector else None
        score = min(1.0, max(-1.0, score))
        return Hit(data.ids[r], score, data.texts[r], _copy_meta(data.metadata[r]), vector)

    @staticmethod
    def _record(state: states.State, s: int, r: int, with_vectors: bool) -> StoredRecord:
        data = state.segments[s].data
        vector = np.array(data.vectors[r], dtype=np.float32) if with_vectors else None
        return StoredRecord(data.ids[r], data.texts[r], _copy_meta(data.metadata[r]), vector)

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredRecord]:
        state = self._current()
        return [self._record(state, *state.index[i], with_vectors) for i in ids if i in state.index]

    def count(self, where: Filter | None = None) -> int:
        state = self._current()
        if where is None:
            return len(state.index)
        return sum(int(m.sum()) for m in states.masks(state, where) if m is not None)

    def scan(
        self, batch_size: int, with_vectors: bool = True, where: Filter | None = None
    ) -> Iterator[list[StoredRecord]]:
        state = self._current()  # one snapshot for the whole scan
        for s, (seg, mask) in enumerate(
            zip(state.segments, states.masks(state, where), strict=True)
        ):
            rows = np.flatnonzero(seg.alive if mask is None else mask).tolist()
            for start in range(0, len(rows), batch_size):
                yield [
                    self._record(state, s, r, with_vectors)
                    for r in rows[start : start + batch_size]
                ]

    def matrix(self, where: Filter | None = None) -> tuple[list[str], Vectors]:
        """Ids and vectors of the live records ``where`` selects, in one array.

        With one segment and no filter this is the memory-mapped matrix itself, not a copy.
        """
        state = self._current()
        ids: list[str] = []
        parts = []
        for seg, mask in zip(state.segments, states.masks(state, where), strict=True):
            if mask is None:
                ids.extend(seg.data.ids)
                parts.append(seg.data.vectors)
                continue
            rows = np.flatnonzero(mask)
            ids.extend(seg.data.ids[r] for r in rows.tolist())
            parts.append(seg.data.vectors[rows])
        if not parts:
            dim = self._info.dimension if self._info else 0
            return ids, np.empty((0, dim), np.float32)
        return ids, parts[0] if len(parts) == 1 else np.concatenate(parts)

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.directory), "segments": len(self._current().segments)}

    def collections(self) -> list[CollectionSummary]:
        """The collections beside this one: directories of the store holding a manifest.

        Counted from the manifests alone (rows less dead rows): no segment is read.
        """
        out = []
        root = self.directory.parent
        for manifest_path in sorted(root.glob(f"*/{files.MANIFEST}")):
            manifest, _ = files.read_manifest(manifest_path.parent)
            info = manifest.info
            live = sum(e.rows - len(e.dead) for e in manifest.segments)
            out.append(
                CollectionSummary(manifest_path.parent.name, live, info.model, info.dimension)
            )
        return out

    def close(self) -> None:
        # No lock outlives a write; drop the memory maps of this process.
        with self._state_lock:
            self._state = states.EMPTY

    def __repr__(self) -> str:
        return f"NumpyBackend({str(self.directory)!r}, pid={os.getpid()})"
