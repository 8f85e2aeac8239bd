"""OpenTelemetry spans and metrics: what each call emits, errors on spans, nothing secret.

The SDK (a test dependency) is set up once per test process (:mod:`tests.otel`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from tests import otel
from tests.conftest import make_collection
from vecstore import BackendUnavailable, Collection, HashEncoder, StoreError, load_settings
from vecstore.adapters.numpy import NumpyBackend


@pytest.fixture(autouse=True, scope="module")
def sdk() -> None:
    otel.install()


@pytest.fixture
def spans() -> Iterator[list[ReadableSpan]]:
    with otel.kept() as found:
        yield found


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


counters = otel.counters


def test_an_ingest_is_one_span_over_its_encodes_and_writes(
    store_path: Path, spans: list[ReadableSpan]
) -> None:
    col = make_collection(store_path)
    before = counters()
    rows = [{"id": f"r{i}", "text": f"text number {i}", "n": i} for i in range(30)]
    report = col.ingest(rows, window=10, quiet=True)
    (ingest,) = named(spans, "vecstore.ingest")
    attrs = dict(ingest.attributes or {})
    assert attrs["db.system.name"] == "numpy" and attrs["db.collection.name"] == "test"
    assert attrs["db.operation.name"] == "ingest"
    for name in ("read", "encoded", "written", "unchanged", "metadata_only", "failed", "deleted"):
        assert attrs[f"vecstore.records.{name}"] == getattr(report, name), name
    run = ingest.context.span_id
    children = [s for s in spans if s.parent is not None and s.parent.span_id == run]
    assert {s.name for s in children} >= {"vecstore.encode", "vecstore.upsert"}
    writes = named(spans, "vecstore.upsert")
    assert sum(dict(s.attributes or {})["vecstore.records"] for s in writes) == 30
    assert all(s.parent is not None and s.parent.span_id == run for s in writes)
    after = counters()
    assert after["vecstore.records.written"] - before.get("vecstore.records.written", 0) == 30
    assert after["vecstore.records.encoded"] - before.get("vecstore.records.encoded", 0) == 30
    col.close()


def test_a_query_span_says_how_it_searched_and_not_what(
    store_path: Path, spans: list[ReadableSpan]
) -> None:
    col = make_collection(store_path)
    col.upsert(["a private question about my salary", "other text"])
    spans.clear()
    hits = col.query("my salary", top_k=1, where={"n": {"$exists": False}}, search="hybrid")
    (query,) = named(spans, "vecstore.query")
    attrs = dict(query.attributes or {})
    assert attrs["vecstore.search"] == "hybrid" and attrs["vecstore.top_k"] == 1
    assert attrs["vecstore.filtered"] is True and attrs["vecstore.hits"] == len(hits) == 1
    assert attrs["db.operation.name"] == "query"
    assert not [v for s in spans for v in (s.attributes or {}).values() if "salary" in str(v)]
    (encode,) = named(spans, "vecstore.encode")
    assert encode.parent is not None and encode.parent.span_id == query.context.span_id
    assert "vecstore.query.duration" in counters()
    col.close()


def test_query_text_is_recorded_only_when_asked(tmp_path: Path, spans: list[ReadableSpan]) -> None:
    settings = load_settings(telemetry={"query_text": True})
    col = Collection(
        "t", backend=NumpyBackend("t", path=tmp_path), encoder=HashEncoder(8), settings=settings
    )
    col.upsert(["x y"])
    col.query("x y z", top_k=1)
    (query,) = named(spans, "vecstore.query")
    assert dict(query.attributes or {})["vecstore.query.text"] == "x y z"
    col.close()


def test_a_failing_call_ends_its_span_in_error_and_raises_the_same(
    store_path: Path, spans: list[ReadableSpan], monkeypatch: pytest.MonkeyPatch
) -> None:
    col = make_collection(store_path)
    col.upsert(["x"])
    boom = StoreError("the disk went away")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise boom

    monkeypatch.setattr(col.store, "query", broken)
    with pytest.raises(StoreError) as info:
        col.query("x", top_k=1)
    assert info.value is boom
    (query,) = named(spans, "vecstore.query")
    assert query.status.status_code is StatusCode.ERROR
    assert [e.name for e in query.events] == ["exception"]
    col.close()


def test_retries_are_events_on_the_store_call(
    store_path: Path, spans: list[ReadableSpan], monkeypatch: pytest.MonkeyPatch
) -> None:
    col = make_collection(store_path)
    real = col.store.upsert
    calls: list[int] = []

    def flaky(batch: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise BackendUnavailable("connection refused (test)")
        real(batch)

    from vecstore.retry import RetryPolicy

    monkeypatch.setattr(col.store, "upsert", flaky)
    monkeypatch.setattr(col.backend, "policy", RetryPolicy(backoff_max_s=0.01))
    before = counters().get("vecstore.retries", 0)
    col.upsert(["x"])
    (upsert,) = named(spans, "vecstore.upsert")
    (event,) = [e for e in upsert.events if e.name == "vecstore.retry"]
    assert dict(event.attributes or {}) == {
        "vecstore.retry.attempt": 1,
        "error.type": "BackendUnavailable",
    }
    assert upsert.status.status_code is not StatusCode.ERROR
    assert counters()["vecstore.retries"] - before == 1
    col.close()


def test_no_secret_in_any_span(tmp_path: Path, spans: list[ReadableSpan]) -> None:
    settings = load_settings(
        backend="qdrant", qdrant={"path": str(tmp_path / "q"), "api_key": "s3cr3t-key"}
    )
    col = Collection("secretive", encoder=HashEncoder(8), settings=settings)
    col.upsert(["a b", "c d"], metadata=[{"k": 1}, {"k": 2}])
    col.query("a", top_k=1, where={"k": 1})
    col.delete(where={"k": 2})
    col.close()
    assert {s.name for s in spans} >= {"vecstore.upsert", "vecstore.query", "vecstore.delete"}
    assert all(dict(s.attributes or {})["db.system.name"] == "qdrant" for s in spans)
    text = json.dumps([dict(s.attributes or {}) for s in spans] + [
        [dict(e.attributes or {}) for e in s.events] for s in spans
    ])
    assert "s3cr3t" not in text


def test_an_error_in_the_instrumentation_never_stops_the_job(
    store_path: Path,
    spans: list[ReadableSpan],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from vecstore import telemetry

    api = telemetry._get()
    assert api is not None

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("exporter misconfigured")

    monkeypatch.setattr(api.tracer, "start_as_current_span", broken)
    monkeypatch.setattr(telemetry, "_complained", False)
    col = make_collection(store_path)
    col.upsert(["x", "y"])
    assert [h.id for h in col.query("x", top_k=1)] and col.count() == 2
    assert caplog.text.count("telemetry left out after an error") == 1
    col.close()


def test_engine_tasks_join_the_drivers_trace(spans: list[ReadableSpan]) -> None:
    from vecstore.integrations.partitions import WriteSpec
    from vecstore.integrations.spark import spec_from_options, spec_to_options

    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("driver") as driver:
        spec = WriteSpec.of("c")
    parent = spec.trace["traceparent"].split("-")[2]
    assert parent == format(driver.get_span_context().span_id, "016x")
    again = spec_from_options(dict(spec_to_options(spec)))
    assert again.trace == spec.trace


def test_without_an_sdk_nothing_is_recorded_and_no_sdk_is_imported(tmp_path: Path) -> None:
    script = (
        "import sys, vecstore\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')]\n"
        "from vecstore import telemetry\n"
        f"col = vecstore.Collection('t', backend=vecstore.adapters.numpy.NumpyBackend('t', "
        f"path={str(tmp_path)!r}), encoder=vecstore.HashEncoder(8))\n"
        "col.upsert(['x']); col.query('x', top_k=1)\n"
        "with col.telemetry.span('query') as span:\n"
        "    assert span is telemetry._NONE\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "import vecstore.adapters.numpy\n" + script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_json_log_lines_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from vecstore.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VECSTORE_MODEL", "hash:16")
    monkeypatch.setenv("VECSTORE_NUMPY__PATH", str(tmp_path / "store"))
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "text": "alpha"}\nnot json\n')
    code = main(["ingest", str(data), "--source-tag", "s", "--sync", "--log-format", "json"])
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines()]
    assert code == 3 and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    done = [x for x in lines if x["message"].startswith("ingest finished")]
    assert done and done[0]["read"] == 2 and done[0]["failed"] == 1
    assert any(x["level"] == "WARNING" and "sync skipped" in x["message"] for x in lines)
    monkeypatch.setenv("VECSTORE_LOG_FORMAT", "json")
    assert main(["count", "--where", "{bad"]) == 1
    (error,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert error["level"] == "ERROR" and "--where is not valid JSON" in error["message"]


def test_a_write_task_s_spans_are_children_of_the_driver_s(
    tmp_path: Path, spans: list[ReadableSpan]
) -> None:
    """What a Ray or Spark write task runs (``write_rows``), given the spec made on the driver."""
    from vecstore.integrations.partitions import WriteSpec, write_rows

    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("driver") as driver:
        spec = WriteSpec.of(
            "engine", model="hash:8", numpy={"path": str(tmp_path)}, vector_field="v"
        )
    rows = [{"id": f"r{i}", "text": f"row {i}"} for i in range(5)]
    report = write_rows(spec, rows, "task-0")  # outside the driver's span, as in a worker
    assert report.written == 5
    (ingest,) = named(spans, "vecstore.ingest")
    assert ingest.context.trace_id == driver.get_span_context().trace_id
    assert ingest.parent is not None
    assert ingest.parent.span_id == driver.get_span_context().span_id
