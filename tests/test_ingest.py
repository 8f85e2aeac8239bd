"""The ETL pipeline: streaming windows, unchanged records skipped, dead letters, dry runs."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vecstore import Collection, HashEncoder, InvalidInput
from vecstore.jobs.fields import FieldMap
from vecstore.jobs.ingest import ingest
from vecstore.records import Vectors


class CountingEncoder(HashEncoder):
    """Counts what it encodes, to prove what a re-run does not do."""

    def __init__(self, dimension: int) -> None:
        super().__init__(dimension)
        self.encoded = 0

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.encoded += len(texts)
        return super().encode(texts)


def records(n: int, version: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {
            "id": i,
            "text": f"record number {i} v{version if i % 10 == 0 else 0}",
            "group": i % 3,
            "skip": "x",
        }


@pytest.fixture
def counted(tmp_path: Path) -> Iterator[tuple[Collection, CountingEncoder]]:
    from vecstore.adapters.numpy import NumpyBackend

    enc = CountingEncoder(32)
    col = Collection("t", backend=NumpyBackend("t", path=tmp_path), encoder=enc)
    yield col, enc
    col.close()


def test_windows_and_report(counted: tuple[Collection, CountingEncoder]) -> None:
    col, _ = counted
    seen: list[int] = []
    fields = FieldMap.of(metadata_fields=["group"])
    report = ingest(col, records(25), fields, progress=seen.append, window=10)
    assert (report.read, report.changed, report.encoded, report.written, report.failed) == (
        25,
        25,
        25,
        25,
        0,
    )
    assert sum(seen) == 25
    assert col.count() == 25 and col.count({"group": 0}) == 9
    assert col.get(["7"])[0].metadata == {"group": 1}


def test_unchanged_records_are_not_encoded_or_written_again(
    counted: tuple[Collection, CountingEncoder],
) -> None:
    col, enc = counted
    col.ingest(records(100))
    assert enc.encoded == 100
    again = col.ingest(records(100))
    assert (again.unchanged, again.encoded, again.written) == (100, 0, 0)
    assert enc.encoded == 100
    changed = col.ingest(records(100, version=1))  # every tenth text changed
    assert (changed.unchanged, changed.encoded, changed.written) == (90, 10, 10)
    assert col.get(["10"])[0].text == "record number 10 v1" and col.count() == 100
    meta_only = col.ingest([{"id": 5, "text": "record number 5 v0", "group": 99, "skip": "x"}])
    assert (meta_only.written, meta_only.metadata_only, meta_only.encoded) == (1, 1, 0)
    assert col.get(["5"])[0].metadata["group"] == 99 and enc.encoded == 110


def priced(n: int, night: int) -> Iterator[dict[str, Any]]:
    """A catalogue whose prices change nightly for every fifth product; texts never do."""
    for i in range(n):
        yield {
            "id": f"p{i}",
            "text": f"product {i} description",
            "price": 10 * i + night * (i % 5 == 0),
        }


def test_metadata_only_changes_are_rewritten_not_encoded(
    counted: tuple[Collection, CountingEncoder],
) -> None:
    col, enc = counted
    first = col.ingest(priced(100, 0))
    before = {r.id: r.vector for r in col.get([f"p{i}" for i in range(100)], with_vectors=True)}
    assert (first.encoded, enc.encoded) == (100, 100)
    night = col.ingest(priced(100, 1))
    assert (night.unchanged, night.metadata_only, night.encoded, night.written) == (80, 20, 0, 20)
    assert enc.encoded == 100  # nothing encoded again
    after = col.get([f"p{i}" for i in range(100)], with_vectors=True)
    assert all(np.array_equal(r.vector, before[r.id]) for r in after)  # the stored vectors kept
    assert col.get(["p5"])[0].metadata == {"price": 51} and col.count({"price": 51}) == 1
    again = col.ingest(priced(100, 1))
    assert (again.unchanged, again.metadata_only, again.encoded) == (100, 0, 0)
    # a new field everywhere: a rewrite of every record, still no encoding
    added = col.ingest({**r, "stock": 3} for r in priced(100, 1))
    assert (added.metadata_only, added.encoded, enc.encoded) == (100, 0, 100)


def test_text_and_metadata_changed_at_once_is_encoded_once(
    counted: tuple[Collection, CountingEncoder],
) -> None:
    col, enc = counted
    col.ingest(priced(10, 0))
    rows = list(priced(10, 0))
    rows[3] = {**rows[3], "text": "a new description", "price": 1000}
    report = col.ingest(rows)
    assert (report.encoded, report.metadata_only, report.written, enc.encoded) == (1, 0, 1, 11)
    (rec,) = col.get(["p3"])
    assert (rec.text, rec.metadata) == ("a new description", {"price": 1000})


def test_records_written_before_the_split_hashes(
    counted: tuple[Collection, CountingEncoder],
) -> None:
    """An old record carries one hash of everything: matched, else compared by its text."""
    from vecstore.hashing import legacy_hash
    from vecstore.records import RecordBatch
    from vecstore.reserved import HASH_KEY

    col, enc = counted
    rows = list(priced(6, 0))
    texts = [r["text"] for r in rows]
    metas = [{"price": r["price"]} for r in rows]
    old = [
        {**m, HASH_KEY: legacy_hash(col.info.model, t, m, None)}
        for t, m in zip(texts, metas, strict=True)
    ]
    col.backend.upsert(RecordBatch([r["id"] for r in rows], col.encode(texts), texts, old))
    enc.encoded = 0
    rows[1] = {**rows[1], "price": 77}  # metadata only
    rows[2] = {**rows[2], "text": "changed text"}  # text
    report = col.ingest(rows)
    assert (report.unchanged, report.metadata_only, report.encoded) == (4, 1, 1)
    assert enc.encoded == 1 and col.get(["p1"])[0].metadata == {"price": 77}
    assert col.ingest(rows).unchanged == 6  # now written in the new form


def test_watch_sees_every_encoded_batch(counted: tuple[Collection, CountingEncoder]) -> None:
    from vecstore.batches import ENCODE_STEP

    col, _ = counted
    seen: list[int] = []
    n = 2 * ENCODE_STEP + 10
    report = col.ingest(records(n), watch=lambda r: seen.append(r.encoded))
    encoded_steps = sorted(set(seen))
    assert encoded_steps[:4] == [0, ENCODE_STEP, 2 * ENCODE_STEP, n] and report.encoded == n
    assert report.done == n and report.encoded_per_s > 0


def test_sorted_encoding_gives_the_same_vectors(col: Collection) -> None:
    texts = [("word " * (i % 13 + 1)) + str(i) for i in range(600)]
    np.testing.assert_array_equal(col.encode(texts), col.encode(texts, progress=lambda n: None))


def test_tsv_and_csv_with_a_byte_order_mark(col: Collection, tmp_path: Path) -> None:
    tsv = tmp_path / "rows.tsv"
    tsv.write_text("id\ttext\tlang\nt1\thello there\ten\n", encoding="utf-8")
    bom = tmp_path / "excel.csv"
    bom.write_text("id,text,lang\nc1,saved by a spreadsheet,de\n", encoding="utf-8-sig")
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_text('{"id": "j1", "text": "json with a mark"}\n', encoding="utf-8-sig")
    for path in (tsv, bom, jsonl):
        report = col.ingest(path)
        assert (report.written, report.failed) == (1, 0), report.failures
    assert [r.metadata for r in col.get(["t1", "c1", "j1"])] == [{"lang": "en"}, {"lang": "de"}, {}]


def test_derived_ids_when_no_id_field(col: Collection) -> None:
    col.ingest([{"text": "alpha"}, {"text": "beta"}], id_field=None)
    report = col.ingest([{"text": "alpha"}, {"text": "beta"}], id_field=None)
    assert report.unchanged == 2 and col.count() == 2


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"id": "x"}, "field 'text': missing"),
        ({"id": "x", "text": None}, "field 'text': text must be a str"),
        ({"id": "x", "text": "  "}, "empty or whitespace"),
        ({"text": "no id"}, "field 'id'"),
        ({"id": 1.5, "text": "float id"}, "field 'id'"),
        (["not", "a", "dict"], "expected an object"),
        ({"id": "x", "text": "t", "meta": {"nested": 1}}, "metadata.meta"),
    ],
)
def test_bad_records_are_dead_lettered_and_the_rest_ingested(
    col: Collection, tmp_path: Path, bad: Any, reason: str
) -> None:
    dead = tmp_path / "dead.jsonl"
    source = [{"id": "a", "text": "fine"}, bad, {"id": "b", "text": "fine too"}]
    report = col.ingest(source, dead_letter=dead)
    assert (report.written, report.failed) == (2, 1)
    assert report.failures[0].where == "record 1" and reason in report.failures[0].reason
    (line,) = [json.loads(x) for x in dead.read_text().splitlines()]
    assert line["where"] == "record 1" and reason in line["reason"] and line["record"] == bad
    assert col.count() == 2


def test_malformed_jsonl_line_is_reported_by_line_number(col: Collection, tmp_path: Path) -> None:
    src = tmp_path / "data.jsonl"
    src.write_text('{"id": "a", "text": "one"}\n{"id": \n\n{"id": "c", "text": "three"}\n')
    dead = tmp_path / "dead.jsonl"
    report = col.ingest(src, dead_letter=dead)
    assert (report.read, report.written, report.failed) == (3, 2, 1)
    entry = json.loads(dead.read_text())
    assert entry["where"] == "line 2" and "not valid JSON" in entry["reason"]
    assert entry["record"].startswith('{"id":')


@pytest.mark.parametrize("name", ["missing.jsonl", "data.txt"])
def test_unreadable_source_fails_before_any_write(
    col: Collection, tmp_path: Path, name: str
) -> None:
    if name.endswith(".txt"):
        (tmp_path / name).write_text("x")
    with pytest.raises(InvalidInput, match="no such file|unknown file type"):
        col.ingest(tmp_path / name)
    assert col.count() == 0


def test_dry_run_plans_without_writing(counted: tuple[Collection, CountingEncoder]) -> None:
    col, enc = counted
    col.ingest(records(20))
    plan = col.ingest(records(30, version=1), dry_run=True)
    assert (plan.dry_run, plan.unchanged, plan.changed, plan.encoded, plan.written) == (
        True,
        18,
        12,
        0,
        0,
    )
    assert col.count() == 20 and enc.encoded == 20


def test_same_id_twice_in_a_window_keeps_the_last(col: Collection) -> None:
    report = col.ingest([{"id": "a", "text": "first"}, {"id": "a", "text": "second"}])
    assert report.written == 1 and col.get(["a"])[0].text == "second"


def test_store_refusal_isolates_the_record(tmp_path: Path) -> None:
    """A permanent store error naming one record dead-letters it; its window still lands."""
    from vecstore.errors import InvalidInput as Refused

    class Picky:
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.capabilities = inner.capabilities

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def upsert(self, batch: Any) -> None:
            for rid in batch.ids:
                if rid.startswith("bad"):
                    raise Refused("the store refuses it", record=rid, field="metadata")
            self.inner.upsert(batch)

    from vecstore.adapters.numpy import NumpyBackend

    col = Collection(
        "p",
        backend=Picky(NumpyBackend("p", path=tmp_path)),  # type: ignore[arg-type]
        encoder=HashEncoder(16),
    )
    source = [
        {"id": f"{'bad' if i in (3, 7) else 'ok'}{i}", "text": f"text {i}"} for i in range(10)
    ]
    report = col.ingest(source)
    assert (report.written, report.failed) == (8, 2)
    assert sorted(f.where for f in report.failures) == ["record 3", "record 7"]
    assert col.count() == 8
    col.close()


def test_parquet_source_and_key_function(col: Collection, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
    import pyarrow as pa

    table = pa.table(
        {"key": ["a", "b", "c"], "body": ["one text", "two text", "three text"], "n": [1, 2, 3]}
    )
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path)
    report = col.ingest(
        path, id_field=lambda r: f"k-{r['key']}", text_field="body", metadata_fields=["n"]
    )
    assert report.written == 3
    assert [(r.id, r.metadata) for r in col.get(["k-a", "k-c"])] == [
        ("k-a", {"n": 1}),
        ("k-c", {"n": 3}),
    ]


def test_damaged_parquet_fails_before_any_write(col: Collection, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        col.ingest(path)
    assert col.count() == 0


def test_sync_deletes_what_the_source_no_longer_has(col: Collection) -> None:
    col.upsert(["owned by nobody"], ids=["other"])
    first = [{"id": str(i), "text": f"row {i}"} for i in range(6)]
    col.ingest(first, source_tag="feed-a", sync=True)
    col.ingest([{"id": "b1", "text": "feed b"}], source_tag="feed-b", sync=True)
    plan = col.ingest(first[:4], source_tag="feed-a", sync=True, dry_run=True)
    assert plan.deleted == 2 and col.count() == 8
    report = col.ingest(first[:4], source_tag="feed-a", sync=True)
    assert (report.unchanged, report.deleted) == (4, 2)
    assert sorted(r.id for r in col.get(["0", "4", "5", "b1", "other"])) == ["0", "b1", "other"]


def test_sync_is_skipped_when_records_fail(col: Collection) -> None:
    col.ingest([{"id": "a", "text": "one"}, {"id": "b", "text": "two"}], source_tag="t", sync=True)
    report = col.ingest(
        [{"id": "a", "text": "one"}, {"id": "b", "text": ""}], source_tag="t", sync=True
    )
    assert report.sync_skipped and report.deleted == 0 and col.count() == 2
    with pytest.raises(InvalidInput, match="source_tag"):
        col.ingest([], sync=True)


@pytest.mark.parametrize("source", [None, {"id": 1, "text": "one record"}, 42])
def test_source_that_is_not_records_is_refused(col: Collection, source: Any) -> None:
    with pytest.raises(InvalidInput, match="source must be a path or an iterable of dicts"):
        col.ingest(source)
    assert col.count() == 0


def test_vectors_given_upstream_are_stored_not_encoded(
    counted: tuple[Collection, CountingEncoder],
) -> None:
    from vecstore.jobs.ingest import to_encode

    col, enc = counted
    rows = list(records(30))
    assert to_encode(col, rows) == [True] * 30
    given = HashEncoder(32).encode([r["text"] for r in rows[:20]])
    for row, vector in zip(rows[:20], given, strict=False):
        row["vector"] = vector.tolist()
    rows[5]["vector"] = [0.0] * 32  # no direction: refused, named
    report = col.ingest(rows, vector_field="vector")
    assert (report.written, report.encoded, report.failed) == (29, 10, 1)
    assert enc.encoded == 10
    assert "'5'" in report.failures[0].reason and "vector" in report.failures[0].reason
    stored = col.get(["3"], with_vectors=True)[0]
    assert stored.vector is not None and abs(float(stored.vector @ given[3]) - 1) < 1e-6
    assert "vector" not in stored.metadata  # the vector column is no metadata
    assert to_encode(col, [r for r in records(30)]) == [i == 5 for i in range(30)]


def test_task_reports_merge_and_travel_as_plain_values() -> None:
    from vecstore.jobs.report import Failure, IngestReport, merge, report_from_dict
    from vecstore.jobs.sources import windows

    a = IngestReport(read=3, written=2, failed=1, failures=[Failure("record 1", "bad")])
    b = IngestReport(read=4, unchanged=4)
    total = merge([report_from_dict(a.as_dict()), report_from_dict(b.as_dict())])
    assert (total.read, total.written, total.unchanged, total.failed) == (7, 2, 4, 1)
    assert total.failures == [Failure("record 1", "bad")]
    assert [len(w) for w in windows(range(7), 3)] == [3, 3, 1]


def test_write_tasks_use_one_torch_thread_unless_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vecstore.integrations.partitions import WriteSpec, cached_encoder

    spec = WriteSpec("c", overrides={"model": "hash:8"})
    assert spec.settings().threads == 1
    monkeypatch.setenv("VECSTORE_THREADS", "3")
    assert spec.settings().threads == 3
    assert cached_encoder(spec.settings()) is cached_encoder(spec.settings())


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_max_delete_is_a_count(col: Collection, bad: object) -> None:
    with pytest.raises(InvalidInput, match="max_delete must be an int >= 0"):
        col.ingest([{"id": "a", "text": "a"}], source_tag="s", sync=True, max_delete=bad)  # type: ignore
    assert col.count() == 0  # refused before anything was read or written


def test_max_delete_leaves_everything_when_over(col: Collection) -> None:
    rows = [{"id": f"r{i}", "text": f"text {i}"} for i in range(6)]
    col.ingest(rows, source_tag="s", sync=True)
    report = col.ingest(rows[:1], source_tag="s", sync=True, max_delete=4)
    assert report.sync_skipped and report.deleted == 0 and col.count() == 6
    assert "over max_delete (4)" in report.sync_skipped_reason
    report = col.ingest(rows[:1], source_tag="s", sync=True, max_delete=5)
    assert not report.sync_skipped and report.deleted == 5 and col.count() == 1


def test_an_ingest_from_python_shows_progress_as_the_cli_does(
    col: Collection, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"id": f"r{i}", "text": f"text {i}"} for i in range(5)]
    col.ingest(rows)
    err = capsys.readouterr().err
    assert err.startswith("ingest: 5/5 records (100%), 5 encoded at") and err.count("\n") == 1
    col.ingest(rows, quiet=True)
    assert capsys.readouterr().err == ""
