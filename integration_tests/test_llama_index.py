"""The LlamaIndex vector store: the same contract on every backend mode, and the real model."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "llama_index.core", reason="llama-index-core is not installed (vecstore[llama-index])"
)

from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    FilterCondition,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from integration_tests import framework_backends  # noqa: E402
from integration_tests.conftest import postgres_for  # noqa: E402
from integration_tests.framework_backends import MODES, backend_overrides  # noqa: E402
from vecstore import FilterError, HashEncoder  # noqa: E402
from vecstore.integrations.llama_index import (  # noqa: E402
    VecstoreEmbedding,
    VecstoreVectorStore,
)

DIM = 16
EMBED = VecstoreEmbedding(HashEncoder(DIM))


chroma = framework_backends.chroma  # one definition; each module starts its own server
pinecone = framework_backends.pinecone_fixture(DIM)


@pytest.fixture(params=MODES)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, chroma: tuple[str, int], pinecone: str
) -> Iterator[VecstoreVectorStore]:
    postgres = postgres_for(request, request.param)
    overrides = backend_overrides(request.param, tmp_path, chroma, pinecone, postgres)
    s = VecstoreVectorStore.from_config(
        collection=f"li-{uuid.uuid4().hex[:8]}", model=f"hash:{DIM}", **overrides
    )
    yield s
    s.client.close()


def node(i: int, doc: str, **metadata: Any) -> TextNode:
    return TextNode(
        id_=f"n{i}",
        text=f"node {i} about {metadata.get('topic', 'things')}",
        metadata=metadata,
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)},
    )


NODES = [
    node(0, "doc-a", topic="cats", year=2020, tags=["pets", "fur"]),
    node(1, "doc-a", topic="dogs", year=2021, tags=["pets"]),
    node(2, "doc-b", topic="stocks", year=2022, tags=["money"], note=""),
    node(3, "doc-b", topic="bonds", year=2019, nested={"desk": "rates"}),
    node(4, "doc-c", topic="cats", year=2023),
]


def query(text: str, k: int = 5, **kwargs: Any) -> VectorStoreQuery:
    return VectorStoreQuery(
        query_embedding=EMBED.get_query_embedding(text), similarity_top_k=k, **kwargs
    )


def filters(*items: MetadataFilter | MetadataFilters, condition: str = "and") -> MetadataFilters:
    return MetadataFilters(filters=list(items), condition=FilterCondition(condition))


def test_add_query_and_nodes_come_back_whole(store: VecstoreVectorStore) -> None:
    assert store.add(NODES) == [n.node_id for n in NODES]
    result = store.query(query("node 0 about cats"))
    assert result.ids is not None and result.ids[0] == "n0"
    first = result.nodes[0]
    assert first.get_content() == NODES[0].get_content()
    assert first.metadata == NODES[0].metadata and first.ref_doc_id == "doc-a"
    assert result.similarities == sorted(result.similarities or [], reverse=True)
    (bonds,) = store.get_nodes(["n3"])
    assert bonds.metadata == {"topic": "bonds", "year": 2019, "nested": {"desk": "rates"}}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (filters(MetadataFilter(key="topic", value="cats")), {"n0", "n4"}),
        (filters(MetadataFilter(key="topic", value="cats", operator="!=")), {"n1", "n2", "n3"}),
        (filters(MetadataFilter(key="year", value=2021, operator=">=")), {"n1", "n2", "n4"}),
        (filters(MetadataFilter(key="year", value=2021, operator="<")), {"n0", "n3"}),
        (
            filters(MetadataFilter(key="topic", value=["dogs", "bonds"], operator="in")),
            {"n1", "n3"},
        ),
        (
            filters(MetadataFilter(key="topic", value=["cats"], operator="nin")),
            {"n1", "n2", "n3"},
        ),
        (filters(MetadataFilter(key="tags", value=["money", "fur"], operator="any")), {"n0", "n2"}),
        (filters(MetadataFilter(key="tags", value=["pets", "fur"], operator="all")), {"n0"}),
        (filters(MetadataFilter(key="tags", value="pets", operator="contains")), {"n0", "n1"}),
        (
            filters(MetadataFilter(key="note", value=None, operator="is_empty")),
            {"n0", "n1", "n2", "n3", "n4"},
        ),
        (filters(MetadataFilter(key="tags", value=None, operator="is_empty")), {"n3", "n4"}),
        (filters(MetadataFilter(key="nested__desk", value="rates")), {"n3"}),
        (
            filters(
                MetadataFilter(key="topic", value="cats"),
                MetadataFilter(key="year", value=2022, operator=">="),
                condition="or",
            ),
            {"n0", "n2", "n4"},
        ),
        (
            filters(
                MetadataFilter(key="topic", value="cats"),
                MetadataFilter(key="year", value=2022, operator=">="),
                condition="not",
            ),
            {"n1", "n3"},
        ),
        (
            filters(
                MetadataFilter(key="year", value=2020, operator=">"),
                filters(
                    MetadataFilter(key="topic", value="dogs"),
                    MetadataFilter(key="topic", value="cats"),
                    condition="or",
                ),
            ),
            {"n1", "n4"},
        ),
    ],
)
def test_filters_mean_what_llama_index_means(
    store: VecstoreVectorStore, flt: MetadataFilters, expected: set[str]
) -> None:
    store.add(NODES)
    assert {n.node_id for n in store.get_nodes(filters=flt)} == expected
    try:
        found = set(store.query(query("node", k=10, filters=flt)).ids or [])
    except FilterError as exc:  # Pinecone's documented refusal of $not around a range
        assert store.client.backend_name == "pinecone" and "$not around" in str(exc), exc
        return
    assert found == expected


def test_text_match_is_refused_not_dropped(store: VecstoreVectorStore) -> None:
    store.add(NODES)
    for op in ("text_match", "text_match_insensitive"):
        flt = filters(MetadataFilter(key="topic", value="ca", operator=op))
        with pytest.raises(FilterError, match="no exact vecstore meaning"):
            store.query(query("node", filters=flt))
    with pytest.raises(FilterError, match="mode"):
        store.query(query("node", mode=VectorStoreQueryMode.SEMANTIC_HYBRID))
    with pytest.raises(FilterError, match="query_str"):
        store.query(query("node", mode=VectorStoreQueryMode.HYBRID))


def test_sparse_and_hybrid_modes_are_the_collections_own(store: VecstoreVectorStore) -> None:
    from vecstore.errors import CapabilityError

    store.add(NODES)
    col = store.client
    for mode, search, alpha in (("sparse", "keyword", None), ("hybrid", "hybrid", 0.3)):
        asked = query("node", mode=VectorStoreQueryMode(mode), query_str="node", alpha=alpha)
        if col.backend.abilities.keyword is None:
            with pytest.raises(CapabilityError):
                store.query(asked)
            continue
        weights = None if alpha is None else (alpha / 0.7, 1.0)  # scaled: the larger is 1
        want = col.query("node", top_k=5, search=search, weights=weights)
        got = store.query(asked)
        assert got.ids == [h.id for h in want] and got.similarities == [h.score for h in want]
        assert asyncio.run(store.aquery(asked)).ids == got.ids


def test_mmr_doc_ids_and_deletes(store: VecstoreVectorStore) -> None:
    store.add(NODES)
    mmr = store.query(
        query("node 0 about cats", k=2, mode=VectorStoreQueryMode.MMR, mmr_threshold=0.5)
    )
    assert mmr.ids is not None and len(mmr.ids) == 2 and mmr.ids[0] == "n0"
    only_b = store.query(query("node", k=10, doc_ids=["doc-b"]))
    assert set(only_b.ids or []) == {"n2", "n3"}
    store.delete("doc-a")
    assert store.client.count() == 3
    store.delete_nodes(["n2", "n4"], filters=filters(MetadataFilter(key="topic", value="cats")))
    assert {n.node_id for n in store.get_nodes(["n2", "n3", "n4"])} == {"n2", "n3"}
    store.delete_nodes(["n2"])
    store.clear()
    assert store.client.count() == 0 and store.query(query("node")).ids == []


def test_async_variants(store: VecstoreVectorStore) -> None:
    async def run() -> None:
        await asyncio.gather(*(store.async_add([n]) for n in NODES))
        results = await asyncio.gather(*(store.aquery(query(f"node {i}", k=1)) for i in range(5)))
        assert [r.ids for r in results] == [[f"n{i}"] for i in range(5)]
        assert len(await store.aget_nodes(["n0", "n1"])) == 2
        await store.adelete("doc-c")
        await store.adelete_nodes(["n0"])
        assert store.client.count() == 3
        await store.aclear()
        assert await store.client.acount() == 0

    asyncio.run(run())


def test_index_retrieves_offline_with_the_bundled_model(tmp_path: Path) -> None:
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.schema import Document

    embed = VecstoreEmbedding.from_config()
    store = VecstoreVectorStore.from_config(
        collection="li-real", backend="numpy", numpy={"path": str(tmp_path)}
    )
    index = VectorStoreIndex.from_documents(
        [
            Document(text="A man is eating a piece of bread.", id_="bread"),
            Document(text="The new movie is awesome.", id_="movie"),
        ],
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed,
    )
    again = VectorStoreIndex.from_vector_store(store, embed_model=embed)
    (best, _) = again.as_retriever(similarity_top_k=2).retrieve("A man is eating food.")
    assert best.node.ref_doc_id == "bread" and best.score > 0.5
    assert index is not None
    store.client.close()


def test_the_frameworks_example_runs_offline(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    example = Path(__file__).resolve().parents[1] / "examples" / "frameworks.py"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, str(example)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "LangChain: 240 documents" in out.stdout and "LlamaIndex: 240 nodes" in out.stdout
    assert out.stdout.count("astronomy-29") == 3  # first for both retrievers, and the scores


def test_documents_vecstore_chunked_are_nodes_with_their_source(tmp_path: Path) -> None:
    from llama_index.core.schema import NodeRelationship
    from llama_index.core.vector_stores.types import VectorStoreQuery

    store = VecstoreVectorStore.from_config(
        collection="docs", model="hash:16", numpy={"path": str(tmp_path)}
    )
    col = store.client
    text = "\n\n".join(f"Paragraph {i} about topic {i % 3} and more words." for i in range(200))
    col.upsert_documents([text, "Another short document."], ids=["long", "short"])
    found = store.query(
        VectorStoreQuery(
            query_str="topic 1",
            query_embedding=list(col.encode_query("topic 1")[0]),
            similarity_top_k=3,
            doc_ids=["long"],
        )
    )
    assert found.nodes and all(
        n.relationships[NodeRelationship.SOURCE].node_id == "long" for n in found.nodes
    )
    assert all(n.ref_doc_id == "long" for n in found.nodes)
    store.delete("long")
    assert col.count() == 1 and col.get_document("long") is None
    col.close()
