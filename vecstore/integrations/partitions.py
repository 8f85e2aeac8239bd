"""One partition of a distributed ingest, the same on Ray Data and Spark: rows in, a report out.

Engines run a failed task again (Ray with ``retry_exceptions``, Spark up to
``spark.task.maxFailures``), a job may be killed and run again, and a partition may be written
twice. Each record still ends up stored once, with its latest content, because a task is
:func:`vecstore.ingest.ingest` over its rows: ids come from the rows (given, or derived from the
text), upserts replace by id, and each stored record carries a content hash, so a task run
again skips, without encoding, every row an earlier attempt wrote. Nothing is staged: there is
no file of a failed attempt to clean up, whatever the engine's abort callbacks do.

The NumPy store admits one writer at a time: tasks in several processes take turns through the
store's own writer lock (a write holds it for one batch; see the README for the measurement).

A task opens the collection from the settings it carries (:class:`WriteSpec`: names and plain
overrides, never a live client or lock) and keeps one encoder per worker process
(:func:`cached_encoder`), with one torch thread unless ``threads`` is configured: several
encoders on one machine each using every core ran 3.7x slower than one thread each.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vecstore.config import Settings, load_settings
from vecstore.encoders import Encoder, encoder_from_name
from vecstore.ingest import MAX_FAILURES_KEPT, Failure, IngestReport, to_encode

if TYPE_CHECKING:
    from vecstore.collection import Collection

FAILPOINT_ENV = "VECSTORE_FAILPOINT_WRITE"
"""Test hook: ``<rows>:<dir>`` makes each write task fail once, after handling ``rows`` rows
(a marker per task in ``dir`` lets its next attempt pass). Never set in production."""

_ENCODERS: dict[tuple[Any, ...], Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class WriteSpec:
    """What a write task needs, as plain picklable values."""

    collection: str
    id_field: str | None = "id"
    text_field: str = "text"
    metadata_fields: tuple[str, ...] | None = None
    vector_field: str = "vector"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """Settings overrides, as for :func:`vecstore.open_collection`; the rest comes from the
    worker's environment and ``vecstore.toml``."""

    @classmethod
    def of(
        cls,
        collection: str,
        *,
        id_field: str | None = "id",
        text_field: str = "text",
        metadata_fields: Sequence[str] | None = None,
        vector_field: str = "vector",
        **overrides: Any,
    ) -> WriteSpec:
        """The spec of the engines' keyword arguments (``overrides`` as for open_collection)."""
        fields_ = tuple(metadata_fields) if metadata_fields is not None else None
        return cls(collection, id_field, text_field, fields_, vector_field, overrides)

    def settings(self) -> Settings:
        """The task's settings: one torch thread per encoder unless ``threads`` is set."""
        settings = load_settings(**dict(self.overrides))
        if settings.threads is None:
            settings = settings.model_copy(update={"threads": 1})
        return settings

    def open(self, settings: Settings | None = None) -> Collection:
        """The collection, with this process's cached encoder (``settings``: already loaded)."""
        from vecstore.collection import Collection

        settings = settings or self.settings()
        return Collection(self.collection, settings=settings, encoder=cached_encoder(settings))


def cached_encoder(settings: Settings) -> Encoder:
    """One encoder per process and configuration (engines reuse their worker processes)."""
    key = (
        settings.model,
        settings.device,
        settings.precision,
        settings.threads,
        settings.query_prompt,
        settings.document_prompt,
    )
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = encoder_from_name(settings.model, settings)
        return _ENCODERS[key]


def plain(row: Mapping[str, Any], keep: str | None = None) -> dict[str, Any]:
    """A row with engine types made plain: numpy scalars to Python, arrays to lists.

    ``keep``: a column left as it is (the vector: an array is what it becomes anyway).
    """
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == keep:
            out[key] = value
        elif isinstance(value, np.generic):
            out[key] = value.item()
        elif isinstance(value, np.ndarray):
            out[key] = value.tolist()
        else:
            out[key] = value
    return out


def encode_rows(col: Collection, spec: WriteSpec, rows: list[dict[str, Any]]) -> list[Any]:
    """Vectors for the rows a write would encode (new or changed), None for the others."""
    needed = to_encode(
        col,
        rows,
        id_field=spec.id_field,
        text_field=spec.text_field,
        metadata_fields=spec.metadata_fields,
    )
    texts = [r[spec.text_field] for r, n in zip(rows, needed, strict=True) if n]
    vectors = iter(col.encode(texts)) if texts else iter(())
    return [next(vectors).tolist() if n else None for n in needed]


def write_rows(spec: WriteSpec, rows: Iterable[Mapping[str, Any]], task: str) -> IngestReport:
    """Ingest one partition's rows (encoding the rows without a vector); return its report.

    ``task`` names the partition within the job, the same on every attempt (for the failpoint).
    """
    settings = spec.settings()
    fail = _Failpoint.from_env(f"{spec.collection}-{task}")
    with spec.open(settings) as col:
        return col.ingest(
            (plain(r, spec.vector_field) for r in rows),
            id_field=spec.id_field,
            text_field=spec.text_field,
            metadata_fields=list(spec.metadata_fields) if spec.metadata_fields else None,
            vector_field=spec.vector_field,
            window=settings.distributed.window,
            progress=fail.count if fail is not None else None,
        )


def merge(reports: Iterable[IngestReport]) -> IngestReport:
    """One report for the whole job: counts summed, failures listed up to the usual cap."""
    total = IngestReport()
    for part in reports:
        for f in fields(IngestReport):
            value = getattr(part, f.name)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(total, f.name, getattr(total, f.name) + value)
        room = MAX_FAILURES_KEPT - len(total.failures)
        total.failures.extend(part.failures[: max(room, 0)])
    return total


def report_from_dict(data: Mapping[str, Any]) -> IngestReport:
    """The report :meth:`IngestReport.as_dict` made (for reports sent between processes)."""
    known = {f.name for f in fields(IngestReport)}
    values = {k: v for k, v in data.items() if k in known and k != "failures"}
    failures = [Failure(**f) for f in data.get("failures", [])]
    return IngestReport(**values, failures=failures)


def windows(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``rows`` in lists of at most ``size``."""
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class FailpointError(RuntimeError):
    """The injected failure of :data:`FAILPOINT_ENV` (tests only)."""


@dataclass(slots=True)
class _Failpoint:
    after: int
    marker: Path
    seen: int = 0

    @classmethod
    def from_env(cls, task: str) -> _Failpoint | None:
        raw = os.environ.get(FAILPOINT_ENV)
        if not raw:
            return None
        rows, _, folder = raw.partition(":")
        marker = Path(folder) / f"{task}.failed"
        return None if marker.exists() else cls(int(rows), marker)

    def count(self, handled: int) -> None:
        self.seen += handled
        if self.seen >= self.after and not self.marker.exists():
            self.marker.touch()
            raise FailpointError(f"injected failure after {self.seen} rows ({FAILPOINT_ENV})")
