"""The ETL pipeline: stream records from dicts or a file into a collection, doing only what changed.

* Streaming: records are read lazily (:mod:`vecstore.jobs.sources`), :data:`INGEST_WINDOW` at
  a time; at most the window being encoded, one queued and one being written are in memory.
* Work proportional to change (:mod:`vecstore.jobs.plan`): ids are deterministic (given, or
  derived from the text) and each stored record carries a hash of what decides its vector and
  one of its metadata (:mod:`vecstore.hashing`). Per window the stored hashes are read back
  (no vectors); a record whose text changed is encoded, one whose metadata alone changed is
  rewritten with its stored vector (never encoded), an unchanged one is left alone. The model
  is loaded by the first text to encode, so a run that encodes nothing never loads it.
* Fast: one sorted pass of the encoder per window while a writer thread writes the previous
  window (:mod:`vecstore.jobs.writer`).
* Fault-tolerant: store calls are retried on transient errors (:mod:`vecstore.retry`). A record
  that is bad (unparseable line, missing or invalid field) or that the store refuses goes to
  the dead letters (and the JSONL file ``dead_letter``, when given) with its place in the
  source and the reason; the rest of the run goes on. A run killed at any point is resumed by
  running it again.
* ``dry_run``: read, check and compare with the store, but encode and write nothing.
* ``sync`` with a ``source_tag``: once the whole source went in, the records carrying the tag
  that the source no longer has are deleted (selected by the store's own filtered scan). That
  step is skipped (``sync_skipped``, with ``sync_skipped_reason``, and a warning logged) when
  any record failed (a record that failed may still be in the source, and its stored version
  must not go), or when it would delete more than ``max_delete`` records (a truncated source
  must not empty the collection): then nothing is deleted.
* A run without a source tag keeps the tag stored records carry (:func:`vecstore.jobs.plan.plan`).

A later record with the same id as an earlier one of the same window replaces it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vecstore import validation
from vecstore.errors import InvalidInput, VecstoreError
from vecstore.filters import Compare
from vecstore.jobs.base import Target
from vecstore.jobs.fields import FieldMap
from vecstore.jobs.plan import Item, Plan, Rules, check_record, plan
from vecstore.jobs.report import IngestReport
from vecstore.jobs.sources import read_source, windows
from vecstore.jobs.writer import DeadLetters, Job, Progress, Watch, Writer
from vecstore.records import RecordBatch, Vectors
from vecstore.reserved import SOURCE_KEY
from vecstore.st_encoder import TRUNCATION_SUMMED
from vecstore.telemetry import Scope, Span

log = logging.getLogger(__name__)
INGEST_WINDOW = 4096
REPORTED = ("read", "encoded", "written", "unchanged", "metadata_only", "failed", "deleted")
"""The report's counts that the ``vecstore.ingest`` span and the last log line carry."""
SYNC_BATCH = 1000


def _rules(target: Target, fields: FieldMap) -> Rules:
    return Rules(fields, target.info.model, target.info.dimension, target.metadata_policy)


def _checked(
    chunk: list[tuple[str, Any]], rules: Rules, dead: DeadLetters | None
) -> dict[str, Item]:
    items: dict[str, Item] = {}
    for where, record in chunk:
        try:
            item = check_record(where, record, rules)
        except InvalidInput as exc:
            if dead is not None:
                dead.add(where, str(exc).replace(f"record {where!r}, ", ""), record)
            continue
        items.pop(item.id, None)  # a later record with the same id replaces it
        items[item.id] = item
    return items


class _Run:
    """One ingest run's state: the report, the dead letters, the writer."""

    def __init__(
        self,
        target: Target,
        report: IngestReport,
        dead: DeadLetters,
        tag: str,
        progress: Progress | None,
        watch: Watch | None,
        documents: bool = False,
    ) -> None:
        self.target, self.report, self.dead, self.tag = target, report, dead, tag
        self.progress, self.watch = progress, watch
        self.writer = (
            None if report.dry_run or documents else Writer(target, report, dead, progress, watch)
        )

    def moved(self) -> None:
        if self.watch is not None:
            self.watch(self.report)

    def window(self, items: dict[str, Item]) -> None:
        found = self.target.backend.get(list(items))  # hashes only: no vectors
        todo = plan(list(items.values()), found, self.target.info.model, self.tag)
        self.report.unchanged += todo.unchanged
        self.report.done += todo.unchanged
        self.report.changed += len(todo.write) + len(todo.metadata)
        self.report.carried += sum(it.vector is not None for it in items.values())
        if self.progress is not None and todo.unchanged:
            self.progress(todo.unchanged)
        self.moved()
        if self.writer is None:
            return
        if todo.metadata:
            self.writer.put(
                Job(
                    [it.id for it in todo.metadata],
                    [it.where for it in todo.metadata],
                    metadata=[it.stored_metadata() for it in todo.metadata],
                )
            )
        if todo.write:
            self.writer.put(self._write_job(todo))

    def documents(self, items: dict[str, Item]) -> None:
        """Store a window's records as documents (chunks); refused ones go to the dead letters."""
        report = self.report
        report.documents += len(items)
        if report.dry_run or not items:
            report.done += len(items)
            return
        try:
            self._documents(list(items.values()))
        except VecstoreError as exc:
            if exc.transient:
                raise
            for item in items.values():  # one at a time: find the ones refused
                try:
                    self._documents([item])
                except VecstoreError as alone:
                    if alone.transient:
                        raise
                    self.dead.add(item.where, str(alone))
        self.moved()

    def _documents(self, items: list[Item]) -> None:
        from vecstore.jobs.documents import upsert_documents

        target, report = self.target, self.report
        got = upsert_documents(
            target,
            target.chunker(),
            [it.text for it in items],
            [it.id for it in items],
            [it.metadata for it in items],
            policy=target.metadata_policy,
            max_chars=target.chunking.max_chars,
        )
        report.chunks += got.chunks
        report.encoded += got.encoded
        report.metadata_only += got.metadata_only
        report.written += got.encoded + got.metadata_only
        report.unchanged += got.unchanged
        report.changed += got.encoded + got.metadata_only
        report.deleted += got.deleted
        report.done += len(items)
        if self.progress is not None:
            self.progress(len(items))

    def _encoded(self, n: int) -> None:
        self.report.encoded += n
        self.report.done += n
        self.moved()

    def _write_job(self, todo: Plan) -> Job:
        items = todo.write
        vectors = _vectors(self.target, items, todo.to_encode, self._encoded)
        batch = RecordBatch(
            [it.id for it in items],
            vectors,
            [it.text for it in items],
            [it.stored_metadata() for it in items],
        )
        given = frozenset(it.id for it in items if it.vector is not None)
        return Job(batch.ids, [it.where for it in items], batch, given=given)


def _vectors(target: Target, items: list[Item], missing: list[Item], encoded: Progress) -> Vectors:
    """The items' vectors: the ones given, the others encoded in one sorted pass."""
    fresh = target.encode([it.text for it in missing], progress=encoded) if missing else None
    if len(missing) == len(items):
        assert fresh is not None
        return fresh
    out = np.empty((len(items), target.info.dimension), dtype=np.float32)
    rows = iter(fresh if fresh is not None else ())
    for row, it in enumerate(items):
        out[row] = it.vector if it.vector is not None else next(rows)
    return out


def ingest(
    target: Target,
    source: Iterable[dict[str, Any]] | str | Path,
    fields: FieldMap | None = None,
    *,
    progress: Progress | None = None,
    watch: Watch | None = None,
    window: int = INGEST_WINDOW,
    dead_letter: str | Path | None = None,
    dry_run: bool = False,
    source_tag: str | None = None,
    sync: bool = False,
    max_delete: int | None = None,
    documents: bool = False,
) -> IngestReport:
    """Stream ``source`` into ``target``; return the run report (see the module doc).

    ``progress`` is called with the number of records handled (written, unchanged, failed);
    ``watch`` with the live report after every encoded batch and every write.
    """
    fields = fields or FieldMap()
    if sync and not source_tag:
        raise InvalidInput(
            "sync needs a source_tag naming the records this source owns", field="source_tag"
        )
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise InvalidInput(f"window must be an int >= 1, got {window!r}", field="window")
    if max_delete is not None and (
        isinstance(max_delete, bool) or not isinstance(max_delete, int) or max_delete < 0
    ):
        raise InvalidInput(
            f"max_delete must be an int >= 0, got {max_delete!r}", field="max_delete"
        )
    if documents and (sync or source_tag):
        raise InvalidInput(
            "documents=True takes no source_tag or sync yet: delete documents a source dropped "
            "with delete_documents",
            field="documents",
        )
    tag = source_tag or ""
    validation.check_unicode(tag, None, "source_tag")
    scope = target.backend.scope or Scope("unknown", target.name)
    options = _Options(
        progress, watch, window, dead_letter, dry_run, tag, sync, max_delete, documents
    )
    with scope.span("ingest", {"vecstore.dry_run": dry_run, "vecstore.sync": sync}) as span:
        summed = TRUNCATION_SUMMED.set(True)  # the run warns once, at its end
        try:
            report = _stream(target, source, fields, options, span)
        finally:
            TRUNCATION_SUMMED.reset(summed)
    scope.count("vecstore.records.failed", report.failed, "ingest")
    return report


@dataclass(frozen=True, slots=True)
class _Options:
    progress: Progress | None
    watch: Watch | None
    window: int
    dead_letter: str | Path | None
    dry_run: bool
    tag: str
    sync: bool
    max_delete: int | None
    documents: bool


def _stream(
    target: Target,
    source: Iterable[dict[str, Any]] | str | Path,
    fields: FieldMap,
    options: _Options,
    span: Span,
) -> IngestReport:
    progress, watch, window = options.progress, options.watch, options.window
    dead_letter, dry_run, tag = options.dead_letter, options.dry_run, options.tag
    sync, max_delete = options.sync, options.max_delete
    started = time.perf_counter()
    records = read_source(source)  # a missing or unreadable file fails here, before any write
    report = IngestReport(dry_run=dry_run)
    dead = DeadLetters(report, dead_letter)
    run = _Run(target, report, dead, tag, progress, watch, options.documents)
    rules = _rules(target, fields)
    seen: set[str] = set()
    finished = False
    truncated_before = getattr(target.encoder, "truncated_total", 0)
    try:
        for chunk in windows(records, window):
            report.read += len(chunk)
            items = _checked(chunk, rules, dead)
            if sync:
                seen.update(items)  # ids only, and only when they are needed
            if options.documents:
                run.documents(items)
            else:
                run.window(items)
        finished = True
    finally:
        try:
            if run.writer is not None:
                run.writer.finish()  # wait for the last write; raises the writer's error if any
        except BaseException:
            if finished:
                raise  # otherwise the reader's own error is the one to report
        finally:
            dead.close()
    if sync:
        _sync(target, tag, seen, report, max_delete)
    report.truncated = getattr(target.encoder, "truncated_total", 0) - truncated_before
    if report.truncated:
        log.warning(
            "%d texts were longer than the model reads and were cut; ingest them with "
            "documents=True (vecstore ingest --documents) to store them whole",
            report.truncated,
        )
    report.duration_s = time.perf_counter() - started
    run.moved()
    span.set({f"vecstore.records.{name}": getattr(report, name) for name in REPORTED})
    counts = {name: getattr(report, name) for name in (*REPORTED, "duration_s")}
    said = ", ".join(f"{counts[name]} {name.replace('_', ' ')}" for name in REPORTED)
    log.info("ingest finished: %s", said, extra={"vecstore": counts})
    return report


def to_encode(
    target: Target, records: Sequence[dict[str, Any]], fields: FieldMap | None = None
) -> list[bool]:
    """For each record, whether :func:`ingest` would encode it: new, or its text changed.

    For an encoding stage upstream of ingest (Ray, Spark): a re-run encodes only what is
    missing, and a record whose metadata alone changed is not encoded. A record ingest would
    refuse is not encoded (ingest dead-letters it).
    """
    rules = _rules(target, fields or FieldMap())
    items: dict[int, Item] = {}
    for i, record in enumerate(records):
        try:
            items[i] = check_record(f"record {i}", record, rules)
        except InvalidInput:
            continue
    ids = list(dict.fromkeys(it.id for it in items.values()))
    found = target.backend.get(ids)
    todo = plan(list(items.values()), found, rules.model, "")
    write = {id(it) for it in todo.write}
    return [i in items and id(items[i]) in write for i in range(len(records))]


def _skip_sync(report: IngestReport, reason: str) -> None:
    report.sync_skipped, report.sync_skipped_reason = True, reason
    log.warning("sync skipped, nothing deleted: %s", reason)


def _sync(
    target: Target, tag: str, seen: set[str], report: IngestReport, max_delete: int | None
) -> None:
    """Delete (or, in a dry run, count) the tag's records this run did not see."""
    if report.failed:
        _skip_sync(
            report,
            f"{report.failed} record(s) failed, and a failed record may still be in the source",
        )
        return
    mine = Compare(SOURCE_KEY, "$eq", tag)
    gone = [
        r.id
        for batch in target.backend.scan(SYNC_BATCH, with_vectors=False, where=mine)
        for r in batch
        if r.id not in seen
    ]
    if max_delete is not None and len(gone) > max_delete:
        _skip_sync(
            report,
            f"it would delete {len(gone)} records of source {tag!r}, over max_delete "
            f"({max_delete}): is the source truncated?",
        )
        return
    report.deleted = len(gone)
    if not report.dry_run:
        for start in range(0, len(gone), SYNC_BATCH):
            target.backend.delete(gone[start : start + SYNC_BATCH])
