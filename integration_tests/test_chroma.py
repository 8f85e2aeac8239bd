"""The shared contract on Chroma: a real `chroma run` server, and the embedded client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration_tests.servers import chroma_server, free_port
from vecstore import (
    BackendUnavailable,
    Collection,
    HashEncoder,
    InvalidName,
    Settings,
    load_settings,
)
from vecstore.testing.concurrency import ReopenCollection
from vecstore.testing.conformance import (
    DIM,
    FILTER_CASES,
    FILTER_RECORDS,
    BackendContract,
    MakeCollection,
)
from vecstore.testing.congruence import check_congruence, congruence_cases

pytest.importorskip("chromadb", reason="chromadb is not installed (vecstore[chroma])")

from vecstore.adapters.chroma import ChromaBackend  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with chroma_server(tmp_path_factory.mktemp("chroma")) as address:
        yield address


@pytest.fixture(autouse=True)
def no_reference_route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Collections vecstore creates answer every filter natively: the reference route (reading
    every record's metadata) is for collections written before filter facts, and fails here."""
    if "old_form" in request.node.name:
        return

    def refuse(self: ChromaBackend, where: Any) -> list[str]:
        raise AssertionError(f"the reference route ran for {where}")

    monkeypatch.setattr(ChromaBackend, "_matching_ids", refuse)


def server_collection(address: tuple[str, int], name: str, **overrides: Any) -> Collection:
    s = load_settings(
        backend="chroma", chroma={"host": address[0], "port": address[1]}, **overrides
    )
    return Collection(name, encoder=HashEncoder(DIM), settings=s)


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


class TestChromaServerContract(BackendContract):
    @pytest.fixture
    def make_collection(self, server: tuple[str, int]) -> MakeCollection:
        return lambda name: server_collection(server, unique(name))

    @pytest.fixture
    def reopen_collection(self, server: tuple[str, int]) -> ReopenCollection:
        def reopen(col: Collection) -> Collection:
            col.close()
            return server_collection(server, col.name)

        return reopen


class TestChromaEmbeddedContract(BackendContract):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return load_settings(backend="chroma", chroma={"path": str(tmp_path / "chroma")})

    @pytest.fixture
    def make_collection(self, settings: Settings) -> MakeCollection:
        return lambda name: Collection(name, encoder=HashEncoder(DIM), settings=settings)


@congruence_cases(60, max_records=15)
def test_server_congruent_with_numpy_reference(
    server: tuple[str, int],
    tmp_path_factory: pytest.TempPathFactory,
    metas: list[dict[str, Any]],
    where: dict[str, Any],
    seed: int,
) -> None:
    other = server_collection(server, unique("cong"))
    check_congruence(other, metas, where, seed, tmp_path_factory.mktemp("ref"))


@pytest.mark.parametrize("name", ["ab", "-abc", "abc-", "a..b", "192.168.1.1", "a/b", "x" * 513])
def test_names_chroma_refuses(tmp_path: Path, name: str) -> None:
    s = load_settings(backend="chroma", chroma={"path": str(tmp_path / "c")})
    with pytest.raises(InvalidName):
        Collection(name, encoder=HashEncoder(DIM), settings=s)


def test_server_down_is_reported_within_the_retry_deadline() -> None:
    import time

    started = time.monotonic()
    settings = load_settings(
        backend="chroma",
        chroma={"host": "127.0.0.1", "port": free_port()},
        retry={"deadline_s": 3, "backoff_max_s": 0.5},
    )
    with pytest.raises(BackendUnavailable):
        Collection("nobody-home", encoder=HashEncoder(DIM), settings=settings)
    assert 3 <= time.monotonic() - started < 15


def test_max_batch_size_is_read_at_run_time(server: tuple[str, int]) -> None:
    col = server_collection(server, unique("big"))
    backend = col.store
    assert isinstance(backend, ChromaBackend) and backend.max_batch > 1000
    n = backend.max_batch + 25
    col.upsert(
        None,
        ids=[f"r{i}" for i in range(n)],
        vectors=HashEncoder(DIM).encode([f"t{i}" for i in range(n)]),
    )
    assert col.count() == n


def test_new_collections_search_broadly(tmp_path: Path) -> None:
    """Chroma's default ef_search (100) missed 11% of true top-10 neighbours at 100,000 real-text
    vectors; vecstore creates collections with chroma.ef_search (600; see bench_recall.py)."""
    s = load_settings(backend="chroma", chroma={"path": str(tmp_path / "c")})
    col = Collection("broad", encoder=HashEncoder(DIM), settings=s)
    assert col.store.col.configuration["hnsw"]["ef_search"] == 600  # type: ignore[attr-defined]
    col.close()
    s = load_settings(backend="chroma", chroma={"path": str(tmp_path / "d"), "ef_search": 150})
    col = Collection("narrow", encoder=HashEncoder(DIM), settings=s)
    assert col.store.col.configuration["hnsw"]["ef_search"] == 150  # type: ignore[attr-defined]
    col.close()


def write_old_form(address: tuple[str, int], name: str, records: dict[str, dict[str, Any]]) -> None:
    """Write a collection as vecstore did before filter facts: plain metadata, no form marker."""
    import chromadb

    client = chromadb.HttpClient(
        host=address[0], port=address[1], settings=chromadb.Settings(anonymized_telemetry=False)
    )
    try:
        col = client.create_collection(
            name,
            embedding_function=None,
            metadata={"vecstore_model": HashEncoder(DIM).name, "vecstore_dimension": DIM},
            configuration={"hnsw": {"space": "cosine"}},
        )
        ids = list(records)
        col.add(
            ids=ids,
            embeddings=HashEncoder(DIM).encode([f"text {i}" for i in ids]),
            documents=[f"text {i}" for i in ids],
            metadatas=[records[i] or None for i in ids],
        )
    finally:
        ChromaBackend._close_client(client)


def answers(col: Collection) -> list[tuple[set[str], int]]:
    return [
        ({h.id for h in col.query("text", top_k=100, where=where)}, col.count(where))
        for where, _ in FILTER_CASES
    ]


def test_old_form_collection_is_exact_before_and_after_upgrade(
    server: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique("old")
    write_old_form(server, name, FILTER_RECORDS)
    want = [(expected, len(expected)) for _, expected in FILTER_CASES]
    old = server_collection(server, name, retry={"deadline_s": 3, "backoff_max_s": 0.2})
    backend = old.store
    assert isinstance(backend, ChromaBackend) and not backend._facts
    assert answers(old) == want  # ranges, numbers and $exists by the reference route
    # An interrupted upgrade leaves the collection answering exactly, and the next run finishes.
    real_update = backend.col.update
    calls = 0

    def update_then_fail(**kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls >= 2:  # the network stays down: the store-layer retries are spent
            raise ConnectionResetError("network gone mid-upgrade")
        real_update(**kwargs)

    monkeypatch.setattr(backend.col, "update", update_then_fail)
    with pytest.raises(BackendUnavailable):
        old.upgrade(batch_size=3)
    monkeypatch.undo()
    assert answers(old) == want
    assert old.upgrade(batch_size=3) == len(FILTER_RECORDS) - 3
    assert backend._facts
    monkeypatch.setattr(ChromaBackend, "_matching_ids", no_scan)
    assert answers(old) == want
    assert [r.metadata for r in old.get(list(FILTER_RECORDS))] == list(FILTER_RECORDS.values())
    assert old.upgrade() == 0
    old.close()
    reopened = server_collection(server, name)
    assert answers(reopened) == want
    reopened.close()


def no_scan(self: ChromaBackend, where: Any) -> list[str]:
    raise AssertionError(f"the reference route ran for {where} after the upgrade")


def test_stored_facts_are_invisible_and_types_kept(server: tuple[str, int]) -> None:
    col = server_collection(server, unique("facts"))
    meta: dict[str, Any] = {"n": 3, "x": 2.0, "l": [1, 2], "s": "v", "b": True}
    col.upsert(["a"], ids=["a"], metadata=[meta])
    got = col.get(["a"])[0].metadata
    assert got == meta and type(got["n"]) is int and type(got["x"]) is float
    assert type(got["l"][0]) is int
    hit = col.query("a", where={"n": {"$gte": 3}})[0]
    assert hit.metadata == meta and type(hit.metadata["n"]) is int
    scanned = [r.metadata for batch in col.store.scan(10, False) for r in batch]
    assert [{k: v for k, v in m.items() if not k.endswith("hash")} for m in scanned] == [meta]
    # the record loses keys on replace, and its facts with them
    col.upsert(["a"], ids=["a"], metadata=[{"s": "w"}])
    assert col.count({"n": {"$exists": True}}) == 0
    assert col.count({"l": {"$gt": 0}}) == 0
    raw = col.store.col.get(ids=["a"], include=["metadatas"])["metadatas"][0]  # type: ignore[attr-defined]
    assert sorted(raw) == [
        "_vecstore__form",
        "_vecstore__t_s",
        "_vecstore_mhash",
        "_vecstore_vhash",
        "s",
    ]
    col.close()


def test_the_store_lists_its_vecstore_collections(server: tuple[str, int]) -> None:
    a, b = unique("lista"), unique("listb")
    for name, n in ((a, 2), (b, 3)):
        col = server_collection(server, name)
        col.upsert([f"text {i}" for i in range(n)])
        col.close()
    col = server_collection(server, a)
    catalog = col.backend.abilities.catalog
    assert catalog is not None
    found = {c.name: c for c in catalog.collections()}
    col.close()
    assert (found[a].count, found[b].count) == (2, 3)
    assert (found[a].model, found[a].dimension) == (f"hash:{DIM}", DIM)
