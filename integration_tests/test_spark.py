"""Spark ingest on ``local[2,4]`` (2 cores, 4 attempts a task): exactly once under task retries."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration_tests.distributed_cases import (  # noqa: F401 - fixtures
    N,
    assert_tasks_failed,
    check_stored_exactly,
    failing_writes,
    source,
    store,
    unique,
)
from vecstore import ConfigError, open_collection

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (vecstore[spark])")
# PySpark 4.3 warns that it does not fully support pandas 3; vecstore's paths use Arrow.
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support:FutureWarning")
if shutil.which("java") is None:
    pytest.skip("no java on PATH: Spark needs a JVM", allow_module_level=True)

from pyspark.sql import SparkSession  # noqa: E402

from vecstore.integrations.spark import _dotted, ingest, register  # noqa: E402


@pytest.fixture(scope="module")
def spark(failing_writes: Any) -> Iterator[SparkSession]:  # noqa: F811
    # Every Python process Spark starts (workers, the data source's planner) needs vecstore.
    mp = pytest.MonkeyPatch()
    mp.setenv("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2,4]")  # local[2] would never retry a task
        .appName("vecstore-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    register(session)
    yield session
    session.stop()
    mp.undo()


def test_ingest_is_exact_under_task_retries_and_reruns(
    spark: SparkSession,
    store: dict[str, Any],  # noqa: F811
    failing_writes: Path,  # noqa: F811
) -> None:
    name = unique("spark")
    records = source()
    report = ingest(spark.createDataFrame(records), collection=name, **store)
    check_stored_exactly(name, store, records, report)
    assert_tasks_failed(failing_writes, name)
    # Encoded upstream by mapInArrow, counted by the write tasks that stored the vectors: a
    # failed attempt's rows are skipped (unchanged) on retry, so what was written was encoded.
    assert report.encoded == report.written and report.carried == 0
    again = ingest(spark.createDataFrame(records), collection=name, **store)
    check_stored_exactly(name, store, records, again)
    assert (again.written, again.unchanged, again.encoded) == (0, N, 0)
    edition = source(edition=2)
    third = ingest(spark.createDataFrame(edition), collection=name, **store)
    check_stored_exactly(name, store, edition, third)
    assert third.written == third.encoded == N // 10
    if store["backend"] != "numpy":
        return  # each store's metadata rewrite is in the conformance kit; the engine path once
    # Metadata alone changes (a fifth of the years): rewritten, never encoded.
    repriced = [{**r, "year": r["year"] + 100} if i % 5 == 0 else r for i, r in enumerate(edition)]
    fourth = ingest(spark.createDataFrame(repriced), collection=name, **store)
    check_stored_exactly(name, store, repriced, fourth)
    assert (fourth.encoded, fourth.metadata_only, fourth.written) == (0, N // 5, N // 5)


def test_format_writes_with_options_and_reports(
    spark: SparkSession,
    store: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    name = unique("fmt")
    records = source(3000)
    writer = (
        spark.createDataFrame(records)
        .write.format("vecstore")
        .mode("append")
        .option("collection", name)
        .option("id_field", "id")
        .option("text_field", "text")
        .option("metadata_fields", "topic,year")
        .option("report_path", str(tmp_path / "report.json"))
    )
    for key, value in _dotted(store):
        writer = writer.option(key, value)
    writer.save()  # rows without a vector column: encoded in the write tasks
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["read"] == 3000 and report["written"] + report["unchanged"] == 3000
    assert report["encoded"] == report["written"]
    with open_collection(name, create=False, **store) as col:
        assert col.count() == 3000


def test_streaming_writes_each_micro_batch(spark: SparkSession, tmp_path: Path) -> None:
    overrides: dict[str, Any] = {
        "backend": "numpy",
        "model": "hash:32",
        "numpy": {"path": str(tmp_path / "store")},
    }
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for part in range(3):
        lines = [json.dumps(r) for r in source(900)[part * 300 : (part + 1) * 300]]
        (inbox / f"part-{part}.json").write_text("\n".join(lines))
    stream = spark.readStream.schema("id string, text string, topic string, year long").json(
        str(inbox)
    )
    writer = (
        stream.writeStream.format("vecstore")
        .option("collection", "stream")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
    )
    for key, value in _dotted(overrides):
        writer = writer.option(key, value)
    writer.start().awaitTermination(120)
    with open_collection("stream", create=False, **overrides) as col:
        assert col.count() == 900


def test_overwrite_and_missing_collection_are_refused(spark: SparkSession) -> None:
    df = spark.createDataFrame(source(3))
    with pytest.raises(Exception, match="append"):
        df.write.format("vecstore").mode("overwrite").option("collection", "x").save()
    with pytest.raises(Exception, match="collection"):
        df.write.format("vecstore").mode("append").save()
    from vecstore.integrations.spark import spec_from_options

    with pytest.raises(ConfigError):
        spec_from_options({})
    spec = spec_from_options({"Collection": "c", "chroma.host": "h", "id_field": ""})
    assert spec.overrides == {"chroma": {"host": "h"}} and spec.fields.id_field is None


def test_documents_are_chunked_in_the_write_tasks(spark: SparkSession, tmp_path: Path) -> None:
    from vecstore.integrations.spark import ingest as spark_ingest

    overrides: dict[str, Any] = {"model": "hash:16", "numpy": {"path": str(tmp_path)}}
    texts = {
        f"doc{d}": "\n\n".join(f"Document {d}, paragraph {i}: " + "words " * 60 for i in range(20))
        for d in range(6)
    }
    df = spark.createDataFrame([{"id": k, "text": v} for k, v in texts.items()])
    report = spark_ingest(df, collection="docs", documents=True, **overrides)
    assert report.documents == 6 and report.failed == 0 and report.chunks > 6
    with open_collection("docs", create=False, **overrides) as col:
        assert col.count() == report.chunks
        assert all(col.get_document(k).text == v for k, v in texts.items())  # type: ignore[union-attr]
