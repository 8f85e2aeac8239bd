"""What an ingest run did: the report, its failures, and reports merged across tasks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

MAX_FAILURES_KEPT = 1000
"""Failures listed in the report (all are counted, and all go to the dead-letter file)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A record that could not be ingested: where it was in the source, and why."""

    where: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did.

    Of the records read, ``unchanged`` ones are left alone; ``changed`` ones (new, or changed
    text or metadata) are written (``written``): ``encoded`` counts texts encoded,
    ``metadata_only`` records rewritten with their stored vector because only their metadata
    changed. ``carried`` counts records that came with a vector of their own (``vector_field``,
    encoded upstream), written or not. ``failed`` counts records refused (by the checks or the
    store), each with its place in ``failures``. ``done`` is for progress: records the run is
    through with so far (an encoded record counts once encoded, before it is written).
    """

    read: int = 0
    unchanged: int = 0
    changed: int = 0  # new or changed records found (what a dry run would write)
    encoded: int = 0  # records whose text was encoded
    carried: int = 0  # records that came with a vector of their own (vector_field)
    metadata_only: int = 0  # text unchanged, metadata changed: rewritten with the stored vector
    written: int = 0
    failed: int = 0
    deleted: int = 0  # sync: records of the source tag that the source no longer has; documents:
    # chunks the documents no longer have
    documents: int = 0  # documents=True: documents stored (as ``chunks`` chunk records)
    chunks: int = 0
    truncated: int = 0  # texts longer than the model reads (cut: documents=True stores them whole)
    sync_skipped: bool = False  # sync: nothing deleted (why: sync_skipped_reason)
    sync_skipped_reason: str = ""
    duration_s: float = 0.0
    dry_run: bool = False
    done: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def encoded_per_s(self) -> float:
        """Records encoded per second of the run (skipped records do not count)."""
        return self.encoded / self.duration_s if self.duration_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values."""
        out = asdict(self)
        out["encoded_per_s"] = round(self.encoded_per_s, 1)
        out["failures"] = [asdict(f) for f in self.failures]
        return out


def merge(reports: Iterable[IngestReport]) -> IngestReport:
    """One report for a whole distributed job: counts summed, failures up to the usual cap."""
    total = IngestReport()
    for part in reports:
        for f in fields(IngestReport):
            value = getattr(part, f.name)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(total, f.name, getattr(total, f.name) + value)
        total.sync_skipped |= part.sync_skipped
        total.sync_skipped_reason = total.sync_skipped_reason or part.sync_skipped_reason
        room = MAX_FAILURES_KEPT - len(total.failures)
        total.failures.extend(part.failures[: max(room, 0)])
    return total


def report_from_dict(data: Mapping[str, Any]) -> IngestReport:
    """The report :meth:`IngestReport.as_dict` made (for reports sent between processes)."""
    known = {f.name for f in fields(IngestReport)}
    values = {k: v for k, v in data.items() if k in known and k != "failures"}
    failures = [Failure(**f) for f in data.get("failures", [])]
    return IngestReport(**values, failures=failures)
