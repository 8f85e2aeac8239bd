"""The shared contract on Pinecone: the real SDK against the loopback data-plane server, and
against the real service when PINECONE_API_KEY and VECSTORE_PINECONE__HOST are set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from integration_tests.pinecone_server import Index, pinecone_server
from integration_tests.servers import free_port
from vecstore import (
    BackendUnavailable,
    Collection,
    FilterError,
    HashEncoder,
    IncompatibleCollection,
    InvalidInput,
    load_settings,
)
from vecstore.filters import matches, parse
from vecstore.testing.concurrency import ReopenCollection
from vecstore.testing.conformance import (
    DIM,
    FILTER_RECORDS,
    BackendContract,
    CrudContract,
    IdContract,
    MakeCollection,
    ReplaceContract,
    ScoreContract,
    holdable,
    unit,
)
from vecstore.testing.congruence import check_congruence, congruence_cases

pytest.importorskip("pinecone", reason="the pinecone SDK is not installed (vecstore[pinecone])")

from vecstore.adapters.pinecone import pinecone_id  # noqa: E402


@pytest.fixture(scope="session")
def server() -> Iterator[tuple[str, Index]]:
    with pinecone_server(DIM) as served:
        yield served


OPENED: list[Collection] = []


@pytest.fixture(autouse=True)
def close_opened() -> Iterator[None]:
    """Every collection a test opens is closed after it (each holds an HTTP client)."""
    yield
    while OPENED:
        OPENED.pop().close()


def pinecone_collection(host: str, name: str, key: str = "test-key", dim: int = DIM) -> Collection:
    s = load_settings(backend="pinecone", pinecone={"host": host, "api_key": key})
    OPENED.append(Collection(name, encoder=HashEncoder(dim), settings=s))
    return OPENED[-1]


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


class TestPineconeServerContract(BackendContract):
    @pytest.fixture
    def make_collection(self, server: tuple[str, Index]) -> MakeCollection:
        return lambda name: pinecone_collection(server[0], unique(name))

    @pytest.fixture
    def reopen_collection(self, server: tuple[str, Index]) -> ReopenCollection:
        def reopen(col: Collection) -> Collection:
            col.close()
            return pinecone_collection(server[0], col.name)

        return reopen

    LIST_ELEMENTS = (str,)  # Pinecone holds lists of strings only


@pytest.mark.skipif(
    not (os.environ.get("PINECONE_API_KEY") and os.environ.get("VECSTORE_PINECONE__HOST")),
    reason="no PINECONE_API_KEY and VECSTORE_PINECONE__HOST: the real service is not configured",
)
class TestPineconeServiceContract(CrudContract, IdContract, ReplaceContract, ScoreContract):
    @pytest.fixture
    def make_collection(self) -> MakeCollection:
        host = os.environ["VECSTORE_PINECONE__HOST"]
        key = os.environ["PINECONE_API_KEY"]
        return lambda name: pinecone_collection(host, unique(name), key)


def test_lists_of_numbers_are_refused_before_any_write(server: tuple[str, Index]) -> None:
    col = pinecone_collection(server[0], unique("lists"))
    with pytest.raises(InvalidInput) as info:
        col.upsert(["a", "b"], ids=["ok", "bad"], metadata=[{"t": ["x"]}, {"n": [1, 2]}])
    assert (info.value.record, info.value.field) == ("bad", "metadata.n")
    assert col.count() == 0


def test_oversized_metadata_and_long_ids(server: tuple[str, Index]) -> None:
    col = pinecone_collection(server[0], unique("limits"))
    with pytest.raises(InvalidInput) as info:
        col.upsert(["short", "x" * 41_000 + " words"], ids=["a", "big"])
    assert (info.value.record, info.value.field) == ("big", "text")
    assert col.count() == 0
    long_id, odd_id = "i" * 600, "naïve-ü"
    col.upsert(["long id", "odd id"], ids=[long_id, odd_id])
    assert [r.id for r in col.get([long_id, odd_id])] == [long_id, odd_id]
    assert pinecone_id(long_id) != long_id and pinecone_id(odd_id).isascii()


def test_batches_past_the_request_limits(server: tuple[str, Index]) -> None:
    host, index = server
    col = pinecone_collection(host, unique("many"))
    n = 2500  # > 1,000 vectors per request, and the texts push bodies past 2 MB
    before = index.requests
    col.upsert([f"record {i} " + "pad " * 200 for i in range(n)])
    assert col.count() == n
    assert index.requests - before >= 3


def test_not_around_a_range_is_exact(server: tuple[str, Index]) -> None:
    col = pinecone_collection(server[0], unique("notrange"))
    metas: list[dict[str, Any]] = [{"year": 1999}, {"year": 2001}, {"year": "2001"}, {"ok": True}]
    col.upsert(["a", "b", "c", "d"], ids=["a", "b", "c", "d"], metadata=metas)
    # not greater: small numbers, and every record whose year is no number or missing
    assert {h.id for h in col.query("a", where={"$not": {"year": {"$gt": 2000}}})} == {
        "a",
        "c",
        "d",
    }
    assert col.count({"year": {"$not": {"$gte": 1999}}}) == 2
    col.delete(where={"$not": {"year": {"$lt": 2000}}})
    assert [r.id for r in col.get(["a", "b", "c", "d"])] == ["a"]


def strip_facts(index: Index, namespace: str) -> None:
    """Make a namespace look written by vecstore before filter facts: its records lose them."""
    with index.lock:
        for vid, (values, meta) in list(index.space(namespace).items()):
            old = {k: v for k, v in meta.items() if not k.startswith("_vecstore__")}
            index.space(namespace)[vid] = (values, old)


def test_old_namespace_refuses_then_upgrade_answers_exactly(server: tuple[str, Index]) -> None:
    name = unique("oldform")
    col = pinecone_collection(server[0], name)
    records = FILTER_RECORDS_FOR_PINECONE
    col.upsert([f"text {i}" for i in records], ids=list(records), metadata=list(records.values()))
    col.close()
    strip_facts(server[1], name)
    old = pinecone_collection(server[0], name)
    not_range = {"$not": {"year": {"$gte": 2020}}}
    with pytest.raises(FilterError, match="vecstore upgrade"):
        old.query("text", where=not_range)
    # the rest keeps its exact answers on the old form
    assert old.count({"year": {"$gt": 2020}}) == expected_count({"year": {"$gt": 2020}})
    assert old.upgrade(batch_size=3) == len(records)
    assert old.count(not_range) == expected_count(not_range)
    assert {h.id for h in old.query("text", top_k=100, where=not_range)} == expected_ids(not_range)
    assert old.upgrade() == 0  # current now: nothing left to rewrite
    assert [r.metadata for r in old.get(list(records))] == list(records.values())
    reopened = pinecone_collection(server[0], name)  # a fresh open sees the current form
    assert reopened.count(not_range) == expected_count(not_range)


FILTER_RECORDS_FOR_PINECONE = {i: holdable(m, (str,)) for i, m in FILTER_RECORDS.items()}


def expected_ids(where: dict[str, Any]) -> set[str]:
    return {i for i, m in FILTER_RECORDS_FOR_PINECONE.items() if matches(parse(where), m)}


def expected_count(where: dict[str, Any]) -> int:
    return len(expected_ids(where))


def test_model_and_dimension_are_checked(server: tuple[str, Index]) -> None:
    name = unique("model")
    col = pinecone_collection(server[0], name)
    col.upsert(["one"])
    s = load_settings(backend="pinecone", pinecone={"host": server[0], "api_key": "k"})

    class OtherModel(HashEncoder):
        @property
        def name(self) -> str:
            return "other-model"

    with pytest.raises(IncompatibleCollection, match="hash:32"):
        Collection(name, encoder=OtherModel(DIM), settings=s)
    with pytest.raises(IncompatibleCollection, match="dimension"):
        pinecone_collection(server[0], unique("dim"), dim=16)


def test_transient_failures_are_retried_by_the_sdk(server: tuple[str, Index]) -> None:
    host, index = server
    col = pinecone_collection(host, unique("faults"))
    index.fail_rate = 0.3
    try:
        for i in range(10):
            col.upsert([f"text {i}"], ids=[f"r{i}"])
    finally:
        index.fail_rate = 0.0
    assert col.count() == 10


def test_server_down_is_backend_unavailable() -> None:
    settings = load_settings(
        backend="pinecone",
        pinecone={"host": f"http://127.0.0.1:{free_port()}", "api_key": "k"},
        retry={"deadline_s": 2, "backoff_max_s": 0.5},
    )
    with pytest.raises(BackendUnavailable):
        Collection("down", encoder=HashEncoder(DIM), settings=settings)


def test_nan_query_is_refused_before_io(server: tuple[str, Index]) -> None:
    host, index = server
    col = pinecone_collection(host, unique("nan"))
    before = index.requests
    with pytest.raises(InvalidInput):
        col.query(unit(float("nan")))
    assert index.requests == before


@congruence_cases(40, max_records=15)
def test_congruent_with_numpy_reference(
    server: tuple[str, Index],
    tmp_path_factory: pytest.TempPathFactory,
    metas: list[dict[str, Any]],
    where: dict[str, Any],
    seed: int,
) -> None:

    # Pinecone holds lists of strings only: keep the records it can hold.
    metas = [
        {k: v for k, v in m.items() if not (isinstance(v, list) and not isinstance(v[0], str))}
        for m in metas
    ]
    other = pinecone_collection(server[0], unique("cong"))
    check_congruence(other, metas, where, seed, tmp_path_factory.mktemp("ref"))


def test_ingest_dead_letters_a_record_too_large_for_pinecone(server: tuple[str, Index]) -> None:
    col = pinecone_collection(server[0], unique("ingest"))
    records = [{"id": f"r{i}", "text": f"text {i}"} for i in range(50)]
    records[17]["text"] = "word " * 9000  # 45 KB: over Pinecone's 40 KB per vector
    report = col.ingest(records)
    assert (report.written, report.failed) == (49, 1)
    assert report.failures[0].where == "record 17" and "40960" in report.failures[0].reason
    assert col.count() == 49


def test_the_index_lists_its_vecstore_namespaces() -> None:
    # An index of its own: listing reads one record per namespace, and the module's shared
    # index holds hundreds of them by now.
    with pinecone_server(DIM) as (host, _):
        a, b = unique("lista"), unique("listb")
        pinecone_collection(host, a).upsert(["one", "two"])
        pinecone_collection(host, b).upsert(["three"])
        catalog = pinecone_collection(host, a).backend.abilities.catalog
        assert catalog is not None
        found = {c.name: c for c in catalog.collections()}
        assert sorted(found) == sorted([a, b])
        assert (found[a].count, found[b].count) == (2, 1)
        assert (found[a].model, found[a].dimension) == (f"hash:{DIM}", DIM)
