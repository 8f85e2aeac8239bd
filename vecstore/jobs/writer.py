"""Writing a run's windows: a writer thread beside the encoder, and the dead-letter file.

The writer takes whole records to upsert and metadata-only rewrites, one window at a time,
while the next window is encoded. A record the store refuses (an error naming it, or found by
halving the batch) goes to the dead letters and the rest is written; a transient error whose
retries are spent stops the run (a re-run resumes where it stopped).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from vecstore import telemetry
from vecstore.errors import VecstoreError
from vecstore.jobs.base import Target
from vecstore.jobs.report import MAX_FAILURES_KEPT, Failure, IngestReport
from vecstore.jobs.sources import Unreadable
from vecstore.records import Metadata, RecordBatch

Progress = Callable[[int], None]
"""Called with the number of records just handled (written, unchanged or failed)."""
Watch = Callable[[IngestReport], None]
"""Called with the live report whenever it moves (an encoded batch, a write, a failure)."""


class DeadLetters:
    """Failures: counted, the first ones kept for the report, all appended to a JSONL file."""

    def __init__(self, report: IngestReport, path: str | Path | None) -> None:
        self.report = report
        self.path = Path(path) if path is not None else None
        self._fh: IO[bytes] | None = None
        self._lock = threading.Lock()

    def add(self, where: str, reason: str, record: Any = None) -> None:
        """Count and keep one failure."""
        with self._lock:
            self.report.failed += 1
            self.report.done += 1
            if len(self.report.failures) < MAX_FAILURES_KEPT:
                self.report.failures.append(Failure(where, reason))
            if self.path is None:
                return
            if self._fh is None:
                self._fh = self.path.open("ab")
            raw = record.raw.decode(errors="replace") if isinstance(record, Unreadable) else record
            line = {"where": where, "reason": reason, "record": raw}
            self._fh.write(orjson.dumps(line, default=str) + b"\n")
            self._fh.flush()

    def close(self) -> None:
        """Close the file, if one was opened."""
        if self._fh is not None:
            self._fh.close()


@dataclass(frozen=True, slots=True)
class Job:
    """Records to write: whole (``batch``) or their metadata only (``metadata``)."""

    ids: list[str]
    places: list[str]
    batch: RecordBatch | None = None
    metadata: Sequence[Metadata] = ()
    given: frozenset[str] = frozenset()  # ids of the batch stored with the vector they carried

    def take(self, rows: list[int]) -> Job:
        """The job for these rows only."""
        batch = self.batch
        part = None
        if batch is not None:
            part = RecordBatch(
                [batch.ids[r] for r in rows],
                batch.vectors[rows],
                [batch.texts[r] for r in rows],
                [batch.metadata[r] for r in rows],
            )
        metadata = [self.metadata[r] for r in rows] if self.metadata else ()
        ids = [self.ids[r] for r in rows]
        return Job(ids, [self.places[r] for r in rows], part, metadata, self.given & set(ids))

    def run(self, target: Target) -> None:
        """Write it in one backend call."""
        if self.batch is not None:
            target.backend.upsert(self.batch)
        else:
            target.backend.update_metadata(self.ids, self.metadata)


class Writer:
    """A thread writing jobs while the next window is encoded; isolates refused records."""

    def __init__(
        self,
        target: Target,
        report: IngestReport,
        dead: DeadLetters,
        progress: Progress | None,
        watch: Watch | None,
    ) -> None:
        self.target, self.report, self.dead = target, report, dead
        self.progress, self.watch = progress, watch
        self.queue: queue.Queue[Job | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.context = telemetry.current()  # the run's trace: its writes are its spans' children
        self.thread = threading.Thread(target=self._run, name="vecstore-writer", daemon=True)
        self.thread.start()

    def put(self, job: Job) -> None:
        """Queue a job (waits while one is queued already)."""
        if self.error is not None:
            raise self.error
        self.queue.put(job)

    def finish(self) -> None:
        """Wait for the last write; raise the writer's error, if any."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        with telemetry.within(self.context):
            self._drain()

    def _drain(self) -> None:
        while (job := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain: the run is failing
            try:
                self._write(job)
            except BaseException as exc:  # handed to the reading thread
                self.error = exc

    def _handled(self, n: int) -> None:
        if self.progress is not None:
            self.progress(n)
        if self.watch is not None:
            self.watch(self.report)

    def _write(self, job: Job) -> None:
        try:
            job.run(self.target)
        except VecstoreError as exc:
            if exc.transient:
                raise  # retries are spent: stop; a re-run resumes where this one stopped
            self._isolate(job, exc)
            return
        self.report.written += len(job.ids)
        if job.batch is None:
            self.report.metadata_only += len(job.ids)
        self.report.done += len(job.ids) if job.batch is None else len(job.given)
        self._handled(len(job.ids))

    def _isolate(self, job: Job, exc: VecstoreError) -> None:
        """Find the records the store refuses: drop the one an error names, else halve."""
        named = getattr(exc, "record", None)
        if named in job.ids:
            i = job.ids.index(named)
            self.dead.add(job.places[i], str(exc))
            keep = [j for j in range(len(job.ids)) if j != i]
        elif len(job.ids) == 1:
            self.dead.add(job.places[0], str(exc))
            keep = []
        else:
            half = len(job.ids) // 2
            for part in (range(half), range(half, len(job.ids))):
                self._write(job.take(list(part)))
            return
        if keep:
            self._write(job.take(keep))
        self._handled(1)
