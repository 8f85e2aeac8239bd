"""Spark 4: a Python data source named ``vecstore``, each record stored exactly once.

``pip install 'vecstore[spark]'``. After :func:`register`::

    (df.write.format("vecstore")
       .option("collection", "articles")
       .option("backend", "chroma").option("chroma.host", "10.0.0.5")
       .option("id_field", "id").option("text_field", "text")
       .mode("append").save())

Options are vecstore's settings, nested keys dotted (``chroma.host``, ``numpy.path``,
``distributed.window``), plus ``collection``, ``id_field`` (empty: ids derived from the text),
``text_field``, ``metadata_fields`` (comma-separated; default: every other column),
``vector_field`` (default ``vector``) and ``report_path`` (the merged report is written there as
JSON by the job's commit). Each write task ingests its partition (encoding rows that have no
vector, skipping unchanged records by content hash) and returns its report in its commit
message; ``commit`` merges them. Streaming queries (``writeStream.format("vecstore")``) write
each micro-batch the same way. ``mode("overwrite")`` is refused: vecstore upserts by id.

:func:`encode` adds the vector column with one model per Python worker (``mapInArrow``), for
rows the collection does not hold unchanged; :func:`ingest` is the whole job in one call and
returns the merged :class:`~vecstore.IngestReport`.

Exactly once comes from ids, upserts and content hashes, not from the engine: a task that
failed after writing part of its rows and runs again skips what it wrote; Spark's ``abort``
(which may receive None for tasks still running) has nothing to undo. Spark retries a task up
to ``spark.task.maxFailures`` times (``local[N]`` never retries; use ``local[N,4]``).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vecstore.errors import ConfigError, MissingDependency
from vecstore.integrations.partitions import (
    ENGINE_VECTOR_FIELD,
    WriteSpec,
    encode_rows,
    engine_encoded,
    write_rows,
)
from vecstore.jobs.fields import FieldMap
from vecstore.jobs.report import IngestReport, merge, report_from_dict

try:
    import pyarrow as pa
    from pyspark import TaskContext
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.datasource import (
        DataSource,
        DataSourceArrowWriter,
        DataSourceStreamArrowWriter,
        WriterCommitMessage,
    )
    from pyspark.sql.types import ArrayType, FloatType, StructField, StructType
except ImportError as exc:  # pragma: no cover - exercised by the smoke install
    raise MissingDependency("pyspark", "spark") from exc

__all__ = ["VecstoreDataSource", "encode", "ingest", "register", "spec_from_options"]

log = logging.getLogger("vecstore.spark")
TRACE_OPTIONS = ("traceparent", "tracestate", "baggage")
"""The W3C trace context, as options: the tasks' spans join the driver's trace."""
OWN_OPTIONS = {
    "collection",
    "id_field",
    "text_field",
    "metadata_fields",
    "vector_field",
    "report_path",
    "path",
    "checkpointlocation",  # Spark's own, for streaming queries
    "queryname",
    *TRACE_OPTIONS,
    "documents",
}


def spec_from_options(options: Mapping[str, str]) -> WriteSpec:
    """The write spec the data source's string options describe (dotted keys nest)."""
    options = {k.lower(): v for k, v in options.items()}  # Spark hands option keys lower-cased
    collection = options.get("collection") or options.get("path")
    if not collection:
        raise ConfigError('the vecstore data source needs .option("collection", NAME)')
    overrides: dict[str, Any] = {}
    for key, value in options.items():
        if key in OWN_OPTIONS:
            continue
        *parents, leaf = key.split(".")
        node = overrides
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    listed = options.get("metadata_fields")
    fields = FieldMap(
        options.get("id_field", "id") or None,
        options.get("text_field", "text"),
        tuple(f.strip() for f in listed.split(",") if f.strip()) if listed else None,
        options.get("vector_field", ENGINE_VECTOR_FIELD),
    )
    trace = {k: options[k] for k in TRACE_OPTIONS if options.get(k)}
    documents = options.get("documents", "false").lower() == "true"
    return WriteSpec(collection, fields, overrides, trace, documents)


def spec_to_options(spec: WriteSpec) -> list[tuple[str, str]]:
    """The data source's options that describe ``spec`` (the inverse of spec_from_options)."""
    fields = spec.fields
    if not (fields.id_field is None or isinstance(fields.id_field, str)):
        raise ConfigError("the vecstore data source takes an id field name, not a function")
    options = [
        ("collection", spec.collection),
        ("id_field", fields.id_field or ""),
        ("text_field", fields.text_field),
        ("vector_field", spec.vector_field),
    ]
    if fields.metadata_fields is not None:
        options.append(("metadata_fields", ",".join(fields.metadata_fields)))
    trace = [(k, v) for k, v in spec.trace.items() if k in TRACE_OPTIONS]
    documents = [("documents", "true")] if spec.documents else []
    return options + trace + documents + list(_dotted(spec.overrides))


@dataclass
class ReportMessage(WriterCommitMessage):
    """One task's report, as plain values."""

    report: dict[str, Any]


def _task() -> str:
    ctx = TaskContext.get()
    return f"spark-{ctx.partitionId()}" if ctx is not None else "spark-driver"


def _rows(batches: Iterator[pa.RecordBatch]) -> Iterator[dict[str, Any]]:
    for batch in batches:
        yield from batch.to_pylist()


def _merged(messages: Sequence[WriterCommitMessage | None]) -> IngestReport:
    return merge(report_from_dict(m.report) for m in messages if isinstance(m, ReportMessage))


class VecstoreWriter(DataSourceArrowWriter):
    """Batch writes: one report per task, merged by ``commit`` on the driver."""

    def __init__(self, options: Mapping[str, str]) -> None:
        self.spec = spec_from_options(options)
        self.report_path = options.get("report_path")

    def write(self, iterator: Iterator[pa.RecordBatch]) -> ReportMessage:
        return ReportMessage(write_rows(self.spec, _rows(iterator), _task()).as_dict())

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        report = _merged(messages)
        log.info("vecstore %s: %s", self.spec.collection, report.as_dict())
        if self.report_path:
            Path(self.report_path).write_text(json.dumps(report.as_dict()))

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        # Nothing to undo: what was written is whole records, and a re-run skips them.
        log.warning("vecstore %s: write aborted; run it again to finish", self.spec.collection)


class VecstoreStreamWriter(DataSourceStreamArrowWriter):
    """Streaming writes: each micro-batch as a batch write."""

    def __init__(self, options: Mapping[str, str]) -> None:
        self.spec = spec_from_options(options)

    def write(self, iterator: Iterator[pa.RecordBatch]) -> ReportMessage:
        return ReportMessage(write_rows(self.spec, _rows(iterator), _task()).as_dict())

    def commit(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:  # noqa: N803
        log.info("vecstore %s batch %d: %s", self.spec.collection, batchId, _merged(messages))

    def abort(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:  # noqa: N803
        log.warning("vecstore %s batch %d aborted", self.spec.collection, batchId)


class VecstoreDataSource(DataSource):
    """The ``vecstore`` format: writes only (read a collection through vecstore itself)."""

    @classmethod
    def name(cls) -> str:
        return "vecstore"

    def writer(self, schema: StructType, overwrite: bool) -> VecstoreWriter:
        if overwrite:
            raise ConfigError('the vecstore format upserts by id: use .mode("append")')
        spec_from_options(self.options)  # refuse bad options on the driver, before any task
        return VecstoreWriter(self.options)

    def streamWriter(self, schema: StructType, overwrite: bool) -> VecstoreStreamWriter:  # noqa: N802
        spec_from_options(self.options)
        return VecstoreStreamWriter(self.options)


def register(spark: SparkSession) -> None:
    """Make the ``vecstore`` format known to ``spark``."""
    spark.dataSource.register(VecstoreDataSource)


def encode(
    df: DataFrame,
    *,
    collection: str,
    id_field: str | None = "id",
    text_field: str = "text",
    metadata_fields: Sequence[str] | None = None,
    vector_field: str = "vector",
    **settings: Any,
) -> DataFrame:
    """``df`` with ``vector_field`` added: one model per Python worker, only what is needed.

    Rows the collection already holds unchanged get a null vector (the write skips them).
    """
    spec = WriteSpec.of(
        collection,
        id_field=id_field,
        text_field=text_field,
        metadata_fields=metadata_fields,
        vector_field=vector_field,
        **settings,
    )
    return _encode(df, spec)


def _encode(df: DataFrame, spec: WriteSpec) -> DataFrame:
    vector_field = spec.vector_field
    # A new schema: StructType.add would change df's own (cached) one in place.
    schema = StructType([*df.schema.fields, StructField(vector_field, ArrayType(FloatType()))])

    def add_vectors(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        with spec.open() as col:
            for batch in batches:  # one batch out per batch in: never over Arrow's batch size
                vectors = encode_rows(col, spec, batch.to_pylist())
                column = pa.array(vectors, type=pa.list_(pa.float32()))
                yield pa.RecordBatch.from_arrays(
                    [*batch.columns, column], names=[*batch.schema.names, vector_field]
                )

    return df.mapInArrow(add_vectors, schema)


def ingest(
    df: DataFrame,
    *,
    collection: str,
    id_field: str | None = "id",
    text_field: str = "text",
    metadata_fields: Sequence[str] | None = None,
    documents: bool = False,
    **settings: Any,
) -> IngestReport:
    """Ingest ``df``: partition by id, encode, write through the data source, merge reports.

    ``documents=True``: each row's text is a document, chunked and encoded in the write task
    (``Collection.upsert_documents``), with no encode stage.

    At most ``distributed.max_writers`` partitions are written (the store's rate limit).
    ``settings`` are overrides as for :func:`vecstore.open_collection` (nested ones as dicts).
    """
    started = time.perf_counter()
    spark = df.sparkSession
    register(spark)
    spec = WriteSpec.of(
        collection,
        id_field=id_field,
        text_field=text_field,
        metadata_fields=metadata_fields,
        **settings,
    )
    spec = replace(spec, documents=documents)
    cfg = spec.settings()
    fields = spec.fields
    key = fields.id_field if isinstance(fields.id_field, str) else fields.text_field
    parts = cfg.distributed.max_writers or spark.sparkContext.defaultParallelism
    shuffled = df.repartition(parts, key)
    encoded = shuffled if documents else _encode(shuffled, spec)
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        writer = encoded.write.format("vecstore").mode("append")
        for option, value in [*spec_to_options(spec), ("report_path", str(report_path))]:
            writer = writer.option(option, value)
        writer.save()
        report = report_from_dict(json.loads(report_path.read_text()))
    report.duration_s = time.perf_counter() - started
    return report if documents else engine_encoded(report)


def _dotted(settings: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in settings.items():
        if isinstance(value, Mapping):
            yield from _dotted(value, f"{prefix}{key}.")
        elif value is not None:
            yield f"{prefix}{key}", str(value)
