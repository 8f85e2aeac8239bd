"""The ETL pipeline: stream records from dicts, JSONL or CSV into a collection.

* Streaming: records are read lazily, :data:`INGEST_WINDOW` at a time; at most the window being
  encoded, one queued and one being written are in memory, whatever the source size.
* Idempotent: ids are deterministic (given, or derived from the text) and each stored record
  carries a content hash (:mod:`vecstore.hashing`). Per window, the stored hashes are read back
  and only new or changed records are encoded and written; a re-run of an unchanged source
  encodes and writes nothing. A run killed at any point is resumed by running it again.
* Fast: one ``encode()`` call per window (the model sorts by length inside it) while a writer
  thread writes the previous window.
* Fault-tolerant: store calls are retried on transient errors (:mod:`vecstore.retry`). A record
  that is bad (unparseable line, missing or invalid field) or that the store refuses goes to
  the dead-letter list (and the JSONL file ``dead_letter``, when given) with its place in the
  source and the reason; the rest of the run goes on.
* ``dry_run``: read, check and compare with the store, but encode and write nothing.

Field rules: ids may be str or int (ints become their decimal string); with ``id_field=None``
ids are derived from the text. ``metadata_fields=None`` takes every field but the id, the text
and the vector. With ``vector_field``, a record carrying a vector there (encoded upstream, by
the same model) is stored with it and not encoded again; one without is encoded here. In CSV
every value is a string and an empty cell means "no value". A later record with the same id as
an earlier one of the same window replaces it.
"""

from __future__ import annotations

import csv
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import orjson

from vecstore import validation
from vecstore.errors import InvalidInput, MissingDependency, VecstoreError
from vecstore.hashing import HASH_KEY, SOURCE_KEY, content_hash, stored_hash
from vecstore.metadata import MetadataPolicy, normalize_metadata
from vecstore.records import Metadata, RecordBatch, Vectors

if TYPE_CHECKING:
    from vecstore.collection import Collection

INGEST_WINDOW = 4096
MAX_FAILURES_KEPT = 1000
"""Failures listed in the report (all are counted, and all go to the dead-letter file)."""
Progress = Callable[[int], None]
"""Called with the number of records just handled (written, unchanged or failed)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A record that could not be ingested: where it was in the source, and why."""

    where: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did."""

    read: int = 0
    unchanged: int = 0
    changed: int = 0  # new or changed records found (what a dry run would write)
    encoded: int = 0
    written: int = 0
    failed: int = 0
    deleted: int = 0  # sync: records of the source tag that the source no longer has
    sync_skipped: bool = False  # sync: not done, because some records failed
    duration_s: float = 0.0
    dry_run: bool = False
    failures: list[Failure] = field(default_factory=list)

    @property
    def records_per_s(self) -> float:
        """Records read per second of the run."""
        return self.read / self.duration_s if self.duration_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values."""
        out = asdict(self)
        out["records_per_s"] = round(self.records_per_s, 1)
        out["failures"] = [asdict(f) for f in self.failures]
        return out


# -- reading ---------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield f"line {number}", orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield f"line {number}", _Unreadable(f"not valid JSON: {exc}", line)


def _read_csv(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open(newline="", encoding="utf-8") as fh:
        for number, row in enumerate(csv.DictReader(fh), 2):
            yield f"line {number}", {k: (v if v != "" else None) for k, v in row.items()}


@dataclass(frozen=True, slots=True)
class _Unreadable:
    reason: str
    raw: bytes


PARQUET_BATCH = 4096


def _read_parquet(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependency("pyarrow", "parquet") from exc
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid for damaged files
        raise InvalidInput(f"{path}: not a readable Parquet file ({exc})", field="source") from exc
    number = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH):
        for row in batch.to_pylist():
            yield f"row {number}", row
            number += 1


READERS = {
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}


def read_source(source: Iterable[dict[str, Any]] | str | Path) -> Iterator[tuple[str, Any]]:
    """Yield (where, record) pairs; a file is checked before the first record is read."""
    if isinstance(source, str | Path):
        path = Path(source)
        reader = READERS.get(path.suffix.lower())
        if reader is None:
            raise InvalidInput(
                f"{path}: unknown file type; use one of {sorted(READERS)}", field="source"
            )
        if not path.is_file():
            raise InvalidInput(f"{path}: no such file", field="source")
        try:
            path.open("rb").close()
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot be read ({exc.strerror})", field="source") from exc
        return reader(path)
    if source is None or isinstance(source, dict | bytes) or not isinstance(source, Iterable):
        raise InvalidInput(
            f"source must be a path or an iterable of dicts, got {type(source).__name__}"
            + (" (wrap one record in a list)" if isinstance(source, dict) else ""),
            field="source",
        )
    return ((f"record {i}", rec) for i, rec in enumerate(source))


# -- checking --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    where: str
    id: str
    text: str
    metadata: Metadata
    hash: str
    vector: Vectors | None = None


IdField = str | Callable[[dict[str, Any]], Any] | None
"""A field name, a function of the record (a key function), or None to derive from the text."""


def _record_id(record: dict[str, Any], id_field: IdField, text: str) -> str:
    if id_field is None:
        return validation.derived_id(text, None)
    raw = id_field(record) if callable(id_field) else record.get(id_field)
    field_name = id_field if isinstance(id_field, str) else "id"
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not raw:
        raise InvalidInput(
            f"must be a non-empty str or int, got {raw!r} (pass id_field=None to derive ids "
            "from the text)",
            field=field_name,
        )
    return raw


def _check(
    where: str,
    record: Any,
    model: str,
    id_field: IdField,
    text_field: str,
    metadata_fields: Sequence[str] | None,
    tag: str,
    policy: MetadataPolicy = "strict",
    vector_field: str | None = None,
    dimension: int = 0,
) -> _Item:
    """One source record, checked whole, or InvalidInput saying what is wrong with it."""
    if isinstance(record, _Unreadable):
        raise InvalidInput(record.reason)
    if not isinstance(record, dict):
        raise InvalidInput(f"expected an object, got {type(record).__name__}")
    if text_field not in record:
        raise InvalidInput("missing", field=text_field)
    text = validation.check_text(record[text_field], where)
    rid = _record_id(record, id_field, text)
    if metadata_fields is None:
        skip = {text_field, vector_field} | (set() if callable(id_field) else {id_field})
        raw_meta = {k: v for k, v in record.items() if k not in skip}
    else:
        raw_meta = {k: record[k] for k in metadata_fields if k in record}
    meta = normalize_metadata(raw_meta, rid, policy)
    given = record.get(vector_field) if vector_field is not None else None
    vector = None
    if given is not None:
        vector = validation.check_vectors(given, dimension, [rid], field=str(vector_field))[0]
    return _Item(where, rid, text, meta, content_hash(model, text, meta, None, tag), vector)


# -- the run ---------------------------------------------------------------------------------


class _DeadLetters:
    """Failures: counted, the first ones kept for the report, all appended to a JSONL file."""

    def __init__(self, report: IngestReport, path: str | Path | None) -> None:
        self.report = report
        self.path = Path(path) if path is not None else None
        self._fh: IO[bytes] | None = None
        self._lock = threading.Lock()

    def add(self, where: str, reason: str, record: Any = None) -> None:
        with self._lock:
            self.report.failed += 1
            if len(self.report.failures) < MAX_FAILURES_KEPT:
                self.report.failures.append(Failure(where, reason))
            if self.path is None:
                return
            if self._fh is None:
                self._fh = self.path.open("ab")
            raw = record.raw.decode(errors="replace") if isinstance(record, _Unreadable) else record
            line = {"where": where, "reason": reason, "record": raw}
            self._fh.write(orjson.dumps(line, default=str) + b"\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


class _Writer:
    """A thread writing batches while the next window is encoded; isolates refused records."""

    def __init__(
        self,
        collection: Collection,
        report: IngestReport,
        dead: _DeadLetters,
        progress: Progress | None,
    ) -> None:
        self.collection, self.report, self.dead, self.progress = collection, report, dead, progress
        self.queue: queue.Queue[tuple[RecordBatch, list[str]] | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="vecstore-writer", daemon=True)
        self.thread.start()

    def put(self, batch: RecordBatch, places: list[str]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((batch, places))

    def finish(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain: the run is failing
            try:
                self._write(*item)
            except BaseException as exc:  # handed to the reading thread
                self.error = exc

    def _write(self, batch: RecordBatch, places: list[str]) -> None:
        try:
            self.collection.write(batch)
        except VecstoreError as exc:
            if exc.transient:
                raise  # retries are spent: stop; a re-run resumes where this one stopped
            self._isolate(batch, places, exc)
            return
        self.report.written += len(batch)
        if self.progress is not None:
            self.progress(len(batch))

    def _isolate(self, batch: RecordBatch, places: list[str], exc: VecstoreError) -> None:
        """Find the records the store refuses: drop the one an error names, else halve."""
        named = getattr(exc, "record", None)
        if named in batch.ids:
            i = batch.ids.index(named)
            self.dead.add(places[i], str(exc))
            keep = [j for j in range(len(batch)) if j != i]
        elif len(batch) == 1:
            self.dead.add(places[0], str(exc))
            keep = []
        else:
            half = len(batch) // 2
            for part in (range(half), range(half, len(batch))):
                self._write(_take(batch, list(part)), [places[j] for j in part])
            return
        if keep:
            self._write(_take(batch, keep), [places[j] for j in keep])
        if self.progress is not None:
            self.progress(1)


def _take(batch: RecordBatch, rows: list[int]) -> RecordBatch:
    return RecordBatch(
        [batch.ids[r] for r in rows],
        batch.vectors[rows],
        [batch.texts[r] for r in rows],
        [batch.metadata[r] for r in rows],
    )


def _windows(records: Iterator[tuple[str, Any]], size: int) -> Iterator[list[tuple[str, Any]]]:
    while True:
        chunk = []
        for item in records:
            chunk.append(item)
            if len(chunk) >= size:
                break
        if not chunk:
            return
        yield chunk


def ingest(
    collection: Collection,
    source: Iterable[dict[str, Any]] | str | Path,
    *,
    id_field: IdField = "id",
    text_field: str = "text",
    metadata_fields: Sequence[str] | None = None,
    progress: Progress | None = None,
    window: int = INGEST_WINDOW,
    dead_letter: str | Path | None = None,
    dry_run: bool = False,
    source_tag: str | None = None,
    sync: bool = False,
    vector_field: str | None = None,
) -> IngestReport:
    """Stream ``source`` into ``collection``; return the run report (see the module doc).

    ``source_tag`` marks every record written by this source. With ``sync``, once the whole
    source went in, the records carrying the tag that the source no longer has are deleted;
    when any record failed, that step is skipped (``sync_skipped``): a record that failed may
    still be in the source, and its stored version must not go.
    """
    if sync and not source_tag:
        raise InvalidInput(
            "sync needs a source_tag naming the records this source owns", field="source_tag"
        )
    tag = source_tag or ""
    started = time.perf_counter()
    records = read_source(source)  # a missing or unreadable file fails here, before any write
    report = IngestReport(dry_run=dry_run)
    dead = _DeadLetters(report, dead_letter)
    writer = None if dry_run else _Writer(collection, report, dead, progress)
    model = collection.info.model
    seen: set[str] = set()
    finished = False
    try:
        for chunk in _windows(records, window):
            report.read += len(chunk)
            items: dict[str, _Item] = {}
            for where, record in chunk:
                try:
                    item = _check(
                        where,
                        record,
                        model,
                        id_field,
                        text_field,
                        metadata_fields,
                        tag,
                        collection.metadata_policy,
                        vector_field,
                        collection.info.dimension,
                    )
                except InvalidInput as exc:
                    dead.add(where, str(exc).replace(f"record {where!r}, ", ""), record)
                    continue
                items.pop(item.id, None)  # a later record with the same id replaces it
                items[item.id] = item
            if sync:
                seen.update(items)  # ids only, and only when they are needed
            stored = {r.id: stored_hash(r.metadata) for r in collection.backend.get(list(items))}
            todo = [it for it in items.values() if stored.get(it.id) != it.hash]
            report.unchanged += len(items) - len(todo)
            report.changed += len(todo)
            if progress is not None and len(items) > len(todo):
                progress(len(items) - len(todo))
            if dry_run or not todo:
                continue
            vectors = _vectors(collection, todo)
            report.encoded += sum(it.vector is None for it in todo)
            extra = {SOURCE_KEY: tag} if tag else {}
            metas = [{**it.metadata, **extra, HASH_KEY: it.hash} for it in todo]
            batch = RecordBatch([it.id for it in todo], vectors, [it.text for it in todo], metas)
            writer.put(batch, [it.where for it in todo])  # type: ignore[union-attr]
        finished = True
    finally:
        try:
            if writer is not None:
                writer.finish()  # wait for the last write; raises the writer's error if any
        except BaseException:
            if finished:
                raise  # otherwise the reader's own error is the one to report
        finally:
            dead.close()
    if sync:
        if report.failed:
            report.sync_skipped = True
        else:
            _sync(collection, tag, seen, report)
    report.duration_s = time.perf_counter() - started
    return report


def to_encode(
    collection: Collection,
    records: Sequence[dict[str, Any]],
    *,
    id_field: IdField = "id",
    text_field: str = "text",
    metadata_fields: Sequence[str] | None = None,
) -> list[bool]:
    """For each record, whether :func:`ingest` would encode it: new or changed, by content hash.

    For an encoding stage upstream of ingest (Ray, Spark): a re-run encodes only what is
    missing. A record ingest would refuse is not encoded (ingest dead-letters it).
    """
    model, policy = collection.info.model, collection.metadata_policy
    items: dict[int, _Item] = {}
    for i, record in enumerate(records):
        try:
            items[i] = _check(
                f"record {i}", record, model, id_field, text_field, metadata_fields, "", policy
            )
        except InvalidInput:
            continue
    ids = list(dict.fromkeys(it.id for it in items.values()))
    stored = {r.id: stored_hash(r.metadata) for r in collection.backend.get(ids)}
    return [i in items and stored.get(items[i].id) != items[i].hash for i in range(len(records))]


def _vectors(collection: Collection, items: list[_Item]) -> Vectors:
    """The items' vectors: the ones given, the others encoded in one call."""
    missing = [it for it in items if it.vector is None]
    if len(missing) == len(items):
        return collection.encode([it.text for it in items])
    out = np.empty((len(items), collection.info.dimension), dtype=np.float32)
    encoded = iter(collection.encode([it.text for it in missing]))
    for row, it in enumerate(items):
        out[row] = it.vector if it.vector is not None else next(encoded)
    return out


SYNC_SCAN_BATCH = 1000


def _sync(collection: Collection, tag: str, seen: set[str], report: IngestReport) -> None:
    """Delete (or, in a dry run, count) the tag's records this run did not see."""
    gone = [
        r.id
        for batch in collection.backend.scan(SYNC_SCAN_BATCH, with_vectors=False)
        for r in batch
        if r.metadata.get(SOURCE_KEY) == tag and r.id not in seen
    ]
    report.deleted = len(gone)
    if not report.dry_run:
        for start in range(0, len(gone), SYNC_SCAN_BATCH):
            collection.backend.delete(gone[start : start + SYNC_SCAN_BATCH])
