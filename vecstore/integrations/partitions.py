"""One partition of a distributed ingest, the same on Ray Data and Spark: rows in, a report out.

Engines run a failed task again (Ray with ``retry_exceptions``, Spark up to
``spark.task.maxFailures``), a job may be killed and run again, and a partition may be written
twice. Each record still ends up stored once, with its latest content, because a task is
:func:`vecstore.jobs.ingest.ingest` over its rows: ids come from the rows (given, or derived
from the text), upserts replace by id, and each stored record carries change hashes, so a task
run again skips, without encoding, every row an earlier attempt wrote. Nothing is staged: there is
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vecstore import telemetry
from vecstore.config import Settings, load_settings
from vecstore.encoders import Encoder, encoder_from_name
from vecstore.jobs.fields import FieldMap, IdField
from vecstore.jobs.ingest import to_encode
from vecstore.jobs.report import IngestReport

if TYPE_CHECKING:
    from vecstore.collection import Collection

FAILPOINT_ENV = "VECSTORE_FAILPOINT_WRITE"
"""Test hook: ``<rows>:<dir>`` makes each write task fail once, after handling ``rows`` rows
(a marker per task in ``dir`` lets its next attempt pass). Never set in production."""

_ENCODERS: dict[tuple[Any, ...], Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


ENGINE_VECTOR_FIELD = "vector"
"""The column an engine's encoder stage fills, and its write tasks read."""


@dataclass(frozen=True, slots=True)
class WriteSpec:
    """What a write task needs, as plain picklable values."""

    collection: str
    fields: FieldMap = FieldMap(vector_field=ENGINE_VECTOR_FIELD)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """Settings overrides, as for :func:`vecstore.open_collection`; the rest comes from the
    worker's environment and ``vecstore.toml``."""
    trace: Mapping[str, str] = field(default_factory=telemetry.carrier)
    """The trace context where the spec was made (the driver): the tasks' spans join it."""
    documents: bool = False
    """Each row's text is a document: the write task chunks and encodes it (no encode stage)."""

    @classmethod
    def of(
        cls,
        collection: str,
        *,
        id_field: IdField = "id",
        text_field: str = "text",
        metadata_fields: Sequence[str] | None = None,
        vector_field: str = ENGINE_VECTOR_FIELD,
        **overrides: Any,
    ) -> WriteSpec:
        """The spec of the engines' keyword arguments (``overrides`` as for open_collection)."""
        fields = FieldMap.of(id_field, text_field, metadata_fields, vector_field)
        return cls(collection, fields, overrides)

    @property
    def vector_field(self) -> str:
        """The column holding vectors encoded upstream."""
        return self.fields.vector_field or ENGINE_VECTOR_FIELD

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
        settings.runtime,
        settings.cache_dir,
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
    """Vectors for the rows a write would encode (new, or changed text), None for the others."""
    needed = to_encode(col, rows, spec.fields)
    texts = [r[spec.fields.text_field] for r, n in zip(rows, needed, strict=True) if n]
    vectors = iter(col.encode(texts)) if texts else iter(())
    return [next(vectors).tolist() if n else None for n in needed]


def write_rows(spec: WriteSpec, rows: Iterable[Mapping[str, Any]], task: str) -> IngestReport:
    """Ingest one partition's rows (encoding the rows without a vector); return its report.

    ``task`` names the partition within the job, the same on every attempt (for the failpoint).
    """
    settings = spec.settings()
    fail = _Failpoint.from_env(f"{spec.collection}-{task}")
    with telemetry.continued(spec.trace), spec.open(settings) as col:
        return col.ingest(
            (plain(r, spec.vector_field) for r in rows),
            fields=spec.fields,
            window=settings.distributed.window,
            progress=fail.count if fail is not None else None,
            quiet=True,  # a task among many: the engine shows the job's progress
            documents=spec.documents,
        )


def engine_encoded(report: IngestReport) -> IngestReport:
    """A job's report where vecstore's own encoder stage made the vectors the rows carried.

    The write tasks see the stage's vectors as carried by the rows; the stage encoded exactly
    those (it leaves the others null), and each partition's successful write task sees each of
    its rows once, so they are counted as encoded.
    """
    report.encoded += report.carried
    report.carried = 0
    return report


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
