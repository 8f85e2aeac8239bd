"""LangChain's own standard vector store suite, on every backend mode, and what lies past it."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "langchain_core", reason="langchain-core is not installed (vecstore[langchain])"
)
pytest.importorskip("langchain_tests", reason="langchain-tests is not installed (the dev extra)")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import DeterministicFakeEmbedding  # noqa: E402
from langchain_core.structured_query import (  # noqa: E402
    Comparator,
    Comparison,
    Operation,
    Operator,
    StructuredQuery,
)
from langchain_tests.integration_tests import VectorStoreIntegrationTests  # noqa: E402

from integration_tests import framework_backends  # noqa: E402
from integration_tests.conftest import postgres_for  # noqa: E402
from integration_tests.framework_backends import MODES, backend_overrides  # noqa: E402
from vecstore import FilterError, HashEncoder  # noqa: E402
from vecstore.integrations.langchain import (  # noqa: E402
    VecstoreEmbeddings,
    VecstoreTranslator,
    VecstoreVectorStore,
)

EMBEDDING_SIZE = 6  # langchain-tests' DeterministicFakeEmbedding


chroma = framework_backends.chroma  # one definition; each module starts its own server
pinecone = framework_backends.pinecone_fixture(EMBEDDING_SIZE)


@pytest.fixture(params=MODES)
def overrides(
    request: pytest.FixtureRequest, tmp_path: Path, chroma: tuple[str, int], pinecone: str
) -> dict[str, Any]:
    postgres = postgres_for(request, request.param)
    return backend_overrides(request.param, tmp_path, chroma, pinecone, postgres)


class TestStandardSuite(VectorStoreIntegrationTests):
    """langchain-tests 1.1.9, sync and async, unchanged, on each backend mode."""

    @pytest.fixture
    def vectorstore(self, overrides: dict[str, Any]) -> Iterator[VecstoreVectorStore]:  # type: ignore[override]
        store = VecstoreVectorStore.from_config(
            collection=f"lc-{uuid.uuid4().hex[:8]}",
            embedding=self.get_embeddings(),
            embedding_name="deterministic-fake-6",
            **overrides,
        )
        try:
            yield store
        finally:
            store.delete()
            store.collection.close()


def fake_store(overrides: dict[str, Any]) -> VecstoreVectorStore:
    return VecstoreVectorStore.from_config(
        collection=f"lc-{uuid.uuid4().hex[:8]}",
        embedding=DeterministicFakeEmbedding(size=EMBEDDING_SIZE),
        embedding_name="deterministic-fake-6",
        **overrides,
    )


def test_langchain_shaped_metadata_round_trips(overrides: dict[str, Any]) -> None:
    store = fake_store(overrides)
    metadata = {
        "source": {"file": "report.pdf", "page": 4},
        "created": dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC),
        "tags": [],
        "author": None,
        "title": "Q1",
    }
    (rid,) = store.add_documents([Document(page_content="quarterly report", metadata=metadata)])
    (doc,) = store.get_by_ids([rid])
    assert doc.metadata == {
        "source__file": "report.pdf",
        "source__page": 4,
        "created": "2024-03-01T09:30:00+00:00",
        "title": "Q1",
    }
    assert store.similarity_search("quarterly report", k=1, filter={"source__page": 4})[0].id == rid
    store.collection.close()


def test_scores_relevance_mmr_and_retrievers(overrides: dict[str, Any]) -> None:
    store = fake_store(overrides)
    texts = ["alpha", "beta", "gamma", "delta", "alpha"]
    ids = store.add_texts(texts, metadatas=[{"n": i} for i in range(5)])
    assert len(set(ids)) == 5  # the same text twice: two documents, as in LangChain's stores
    scored = store.similarity_search_with_score("alpha", k=5)
    scores = [s for _, s in scored]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0, abs=1e-5)
    relevance = [s for _, s in store.similarity_search_with_relevance_scores("alpha", k=5)]
    assert relevance == sorted(relevance, reverse=True) and all(0 <= r <= 1 for r in relevance)
    mmr = store.max_marginal_relevance_search("alpha", k=2, fetch_k=5, lambda_mult=0.1)
    assert len(mmr) == 2 and [d.page_content for d in mmr].count("alpha") == 1  # diverse
    for kind, kwargs in (
        ("similarity", {"k": 2}),
        ("mmr", {"k": 2, "fetch_k": 5}),
        ("similarity_score_threshold", {"score_threshold": 0.99, "k": 5}),
    ):
        found = store.as_retriever(search_type=kind, search_kwargs=kwargs).invoke("alpha")
        assert found and found[0].page_content == "alpha", kind
    assert store.similarity_search("alpha", k=0) == []
    filtered = store.similarity_search("alpha", k=5, filter={"n": {"$gte": 3}})
    assert {d.metadata["n"] for d in filtered} == {3, 4}
    store.collection.close()


def test_mmr_by_vector_is_langchains_own_selection(overrides: dict[str, Any]) -> None:
    """Near-duplicate candidates, where float rounding would tip near-ties the other way:
    both MMR calls choose what LangChain's maximal_marginal_relevance chooses over the same
    candidates' stored vectors, for the query as the store searched with it (vecstore's unit
    float32 vector: a query scaled otherwise rounds differently in LangChain's float32 cosine)."""
    import numpy as np
    from langchain_core.vectorstores.utils import maximal_marginal_relevance

    from vecstore.validation import query_vector

    store = fake_store(overrides)
    rng = np.random.default_rng(3)
    base = rng.standard_normal((8, EMBEDDING_SIZE))
    vectors = np.concatenate([base + 1e-4 * rng.standard_normal(base.shape) for _ in range(8)])
    ids = [f"d{i}" for i in range(len(vectors))]
    store.collection.upsert(ids, ids=ids, vectors=vectors)
    for trial in range(100):
        query = (base[trial % 8] + 0.3 * rng.standard_normal(EMBEDDING_SIZE)).tolist()
        hits = store.collection.query(np.asarray(query), top_k=20, with_vectors=True)
        vectors_of = [h.vector.tolist() for h in hits if h.vector is not None]
        unit = query_vector(query, EMBEDDING_SIZE)[0]
        want = [hits[i].id for i in maximal_marginal_relevance(unit, vectors_of, 0.5, 5)]
        got = store.max_marginal_relevance_search_by_vector(query, k=5, fetch_k=20)
        assert [d.id for d in got] == want, trial
        again = asyncio.run(store.amax_marginal_relevance_search_by_vector(query, k=5, fetch_k=20))
        assert [d.id for d in again] == want, trial
    store.collection.close()


def test_concurrent_async_adds_and_searches_lose_nothing(overrides: dict[str, Any]) -> None:
    store = fake_store(overrides)

    async def run() -> list[list[str]]:
        adds = [
            store.aadd_documents(
                [Document(page_content=f"doc {i} {j}", metadata={"batch": i}) for j in range(3)]
            )
            for i in range(20)
        ]
        searches = [store.asimilarity_search(f"doc {i} 0", k=2) for i in range(20)]
        results = await asyncio.gather(*adds, *searches)
        return [r for r in results[:20]]  # type: ignore[misc]

    added = asyncio.run(run())
    ids = [i for batch in added for i in batch]
    assert len(set(ids)) == 60
    assert store.collection.count() == 60
    assert len(store.get_by_ids(ids)) == 60
    store.collection.close()


def test_vecstore_embeddings_both_sides_and_back(tmp_path: Path) -> None:
    emb = VecstoreEmbeddings(HashEncoder(16))
    assert len(emb.embed_query("hello")) == 16 and len(emb.embed_documents(["a", "b"])) == 2
    store = VecstoreVectorStore.from_texts(
        ["hello world", "other text"],
        emb,
        collection="back",
        backend="numpy",
        numpy={"path": str(tmp_path)},
    )
    assert store.collection.info.model == "hash:16"  # a vecstore encoder is used as itself
    assert store.similarity_search("hello world", k=1)[0].page_content == "hello world"
    store.collection.close()


def test_structured_queries_translate_exactly_or_refuse() -> None:
    translator = VecstoreTranslator()
    flt = Operation(
        operator=Operator.AND,
        arguments=[
            Comparison(comparator=Comparator.GTE, attribute="year", value=2020),
            Operation(
                operator=Operator.NOT,
                arguments=[Comparison(comparator=Comparator.IN, attribute="lang", value=["de"])],
            ),
        ],
    )
    query, kwargs = translator.visit_structured_query(StructuredQuery(query="q", filter=flt))
    assert (query, kwargs) == (
        "q",
        {"filter": {"$and": [{"year": {"$gte": 2020}}, {"$not": {"lang": {"$in": ["de"]}}}]}},
    )
    assert translator.visit_structured_query(StructuredQuery(query="q", filter=None)) == ("q", {})
    for comparator in (Comparator.CONTAIN, Comparator.LIKE):
        with pytest.raises(FilterError, match="no exact vecstore meaning"):
            Comparison(comparator=comparator, attribute="t", value="x").accept(translator)


def test_mmr_by_vector_picks_what_langchains_in_memory_store_picks(
    overrides: dict[str, Any],
) -> None:
    """The case found in use: MMR over exact near-ties (the query is one stored text's vector).

    A query vector and the stored vector it equals must stay bit for bit equal after vecstore
    makes them unit, or rounding noise decides the ties that LangChain breaks by order.
    """
    from langchain_core.vectorstores import InMemoryVectorStore

    embedding = DeterministicFakeEmbedding(size=EMBEDDING_SIZE)
    texts = ["foo", "foo bar", "bar", "baz", "qux", "foo baz"]
    ids = [str(i) for i in range(1, 7)]
    theirs = InMemoryVectorStore(embedding)
    theirs.add_texts(texts, ids=ids)
    ours = fake_store(overrides)
    ours.add_texts(texts, ids=ids)
    query = embedding.embed_query("foo")
    want = [d.id for d in theirs.max_marginal_relevance_search_by_vector(query, k=3, fetch_k=6)]
    assert want == ["1", "2", "3"]
    got = ours.max_marginal_relevance_search_by_vector(query, k=3, fetch_k=6)
    assert [d.id for d in got] == want
    assert [d.id for d in ours.max_marginal_relevance_search("foo", k=3, fetch_k=6)] == want
    ours.collection.close()


def test_a_document_id_deletes_its_chunks(tmp_path: Path) -> None:
    store = VecstoreVectorStore.from_config(
        collection="docs",
        embedding=DeterministicFakeEmbedding(size=EMBEDDING_SIZE),
        embedding_name="deterministic-fake-6",
        numpy={"path": str(tmp_path)},
    )
    text = "\n\n".join(f"Paragraph {i} of a long document, with words." for i in range(300))
    store.collection.upsert_documents([text], ids=["manual"])
    store.add_texts(["a record of its own"], ids=["own"])
    hits = store.similarity_search("Paragraph 7", k=3)
    assert all(h.id and h.id.startswith("manual#") for h in hits if h.id != "own")
    store.delete(["manual"])
    assert [d.id for d in store.get_by_ids(["own"])] == ["own"]
    assert store.collection.count() == 1
    store.collection.close()
