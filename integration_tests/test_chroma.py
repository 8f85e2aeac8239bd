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
from vecstore.testing.conformance import DIM, BackendContract, MakeCollection
from vecstore.testing.congruence import check_congruence, congruence_cases

pytest.importorskip("chromadb", reason="chromadb is not installed (vecstore[chroma])")

from vecstore.adapters.chroma import ChromaBackend  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with chroma_server(tmp_path_factory.mktemp("chroma")) as address:
        yield address


def server_collection(address: tuple[str, int], name: str) -> Collection:
    s = load_settings(backend="chroma", chroma={"host": address[0], "port": address[1]})
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


def test_server_down_is_backend_unavailable_quickly() -> None:
    import time

    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        server_collection(("127.0.0.1", free_port()), "nobody-home")
    assert time.monotonic() - started < 30


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
