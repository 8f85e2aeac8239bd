"""The shared contract on Qdrant's local mode (in memory), which CI always has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vecstore import (
    BackendUnavailable,
    CapabilityError,
    Collection,
    ConfigError,
    HashEncoder,
    IncompatibleCollection,
    InvalidName,
    load_settings,
)
from vecstore.testing.conformance import DIM, BackendContract, MakeCollection
from vecstore.testing.congruence import check_congruence, congruence_cases

pytest.importorskip("qdrant_client", reason="qdrant-client is not installed (vecstore[qdrant])")

from vecstore.adapters.qdrant import QdrantBackend  # noqa: E402


@pytest.fixture
def memory_client() -> Iterator[Any]:
    from qdrant_client import QdrantClient

    client = QdrantClient(location=":memory:")
    yield client
    client.close()


class TestQdrantLocalContract(BackendContract):
    """In memory, one client handed to every collection (closing one leaves it open)."""

    @pytest.fixture
    def make_collection(self, memory_client: Any) -> MakeCollection:
        return lambda name: Collection(
            name,
            backend=QdrantBackend(name, client=memory_client),
            encoder=HashEncoder(DIM),
            settings=load_settings(),
        )


class TestQdrantPathContract(BackendContract):
    """On disk: each collection's client made by the adapter, closed and made anew on reopen."""

    @pytest.fixture
    def make_collection(self, tmp_path: Path) -> Iterator[MakeCollection]:
        opened: list[Collection] = []

        def make(name: str) -> Collection:
            s = load_settings(backend="qdrant", qdrant={"path": str(tmp_path / name)})
            opened.append(Collection(name, encoder=HashEncoder(DIM), settings=s))
            return opened[-1]

        yield make
        for col in opened:
            col.close()


@congruence_cases(60, max_records=20)
def test_congruent_with_numpy_reference(
    tmp_path_factory: pytest.TempPathFactory,
    metas: list[dict[str, Any]],
    where: dict[str, Any],
    seed: int,
) -> None:
    from qdrant_client import QdrantClient

    client = QdrantClient(location=":memory:")
    other = Collection(
        "c",
        backend=QdrantBackend("c", client=client),
        encoder=HashEncoder(DIM),
        settings=load_settings(),
    )
    try:
        check_congruence(other, metas, where, seed, tmp_path_factory.mktemp("ref"))
    finally:
        client.close()


def test_local_path_mode_persists_and_checks_the_model(tmp_path: Path) -> None:
    s = load_settings(backend="qdrant", qdrant={"path": str(tmp_path / "q")})
    col = Collection("persisted", encoder=HashEncoder(DIM), settings=s)
    col.upsert(["kept across clients"], ids=["k"], metadata=[{"n": 1}])
    col.close()
    col = Collection("persisted", encoder=HashEncoder(DIM), settings=s)
    assert col.get(["k"])[0].metadata == {"n": 1}
    col.close()
    with pytest.raises(IncompatibleCollection, match="hash:32"):
        Collection("persisted", encoder=HashEncoder(16), settings=s)


@pytest.mark.parametrize("name", ["", ".", "a/b", "x" * 256])
def test_names_qdrant_refuses(name: str) -> None:
    with pytest.raises(InvalidName):
        QdrantBackend(name)


def test_unreachable_server_is_backend_unavailable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = load_settings(
        backend="qdrant",
        qdrant={"url": f"http://127.0.0.1:{port}"},
        retry={"deadline_s": 1, "backoff_max_s": 0.2},
    )
    with pytest.raises(BackendUnavailable, match="unreachable"):
        Collection("down", encoder=HashEncoder(DIM), settings=s)


def test_the_store_lists_its_vecstore_collections(tmp_path: Path) -> None:
    s = load_settings(backend="qdrant", qdrant={"path": str(tmp_path / "q")})
    col = Collection("first", encoder=HashEncoder(DIM), settings=s)
    col.upsert(["one", "two"])
    col.close()
    col = Collection("second", encoder=HashEncoder(DIM), settings=s)
    col.upsert(["three"])
    found = col.backend.abilities.catalog.collections()
    col.close()
    assert [(c.name, c.count, c.model, c.dimension) for c in found or []] == [
        ("first", 2, f"hash:{DIM}", DIM),
        ("second", 1, f"hash:{DIM}", DIM),
    ]


def test_a_collection_made_before_keyword_search_refuses_it_naming_migrate(
    memory_client: Any,
) -> None:
    from qdrant_client import models

    memory_client.create_collection(  # as vecstore created collections before keyword search
        "old",
        vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE),
        metadata={"vecstore_model": HashEncoder(DIM).name, "vecstore_dimension": DIM},
    )
    col = Collection(
        "old", backend=QdrantBackend("old", client=memory_client), encoder=HashEncoder(DIM)
    )
    col.upsert(["a quick brown fox", "a lazy dog"], ids=["a", "b"])
    assert [h.id for h in col.query("quick fox", top_k=1)] == ["a"]
    assert [h.id for h in col.query("quick fox", top_k=1, mmr=0.5)] == ["a"]
    for search in ("keyword", "hybrid"):
        with pytest.raises(CapabilityError, match="vecstore migrate"):
            col.query("quick fox", top_k=1, search=search)


def test_nowhere_to_write_is_a_config_error_and_memory_is_asked_for_by_name() -> None:
    with pytest.raises(ConfigError, match=r"qdrant.url .* or qdrant.path"):
        Collection("nowhere", encoder=HashEncoder(DIM), settings=load_settings(backend="qdrant"))
    s = load_settings(backend="qdrant", qdrant={"path": ":memory:"})
    with Collection("asked", encoder=HashEncoder(DIM), settings=s) as col:
        col.upsert(["kept in this process"])
        assert col.count() == 1 and col.describe()["qdrant"] == ":memory:"
    assert not Path(":memory:").exists()  # not a directory of that name


def test_grouped_dense_queries_are_qdrants_own_and_keep_plain_records(
    memory_client: Any, store_path: Path
) -> None:
    from tests.conftest import make_collection
    from tests.test_documents import document

    spied: list[str] = []
    grouped_call = memory_client.query_points_groups

    def spy(*args: Any, **kwargs: Any) -> Any:
        spied.append(kwargs["group_by"])
        return grouped_call(*args, **kwargs)

    memory_client.query_points_groups = spy
    qdrant = Collection(
        "g", backend=QdrantBackend("g", client=memory_client), encoder=HashEncoder(DIM)
    )
    reference = make_collection(store_path, "g", DIM)
    for col in (qdrant, reference):
        col.upsert_documents(
            [document(d, 12) for d in range(6)],
            ids=[f"d{d}" for d in range(6)],
            metadata=[{"even": d % 2 == 0} for d in range(6)],
        )
        col.upsert(
            ["a plain record about the topic 3 and w7", "w7 w8 topic"],
            ids=["plain", "other"],
            metadata=[{"even": True}, {"even": False}],
        )
    for where in (None, {"even": True}):
        got = qdrant.query("the topic is 3 w7", top_k=5, group_by="document", where=where)
        want = reference.query("the topic is 3 w7", top_k=5, group_by="document", where=where)
        assert [(h.document_id, h.id) for h in got] == [(h.document_id, h.id) for h in want]
        assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-5)
        assert {h.document_id or h.id for h in got} >= {"plain"}
    with_vectors = qdrant.query("w7", top_k=3, group_by="document", with_vectors=True)
    assert all(h.vector is not None for h in with_vectors)
    assert spied == ["_vecstore_doc"] * 3
    reference.close()
