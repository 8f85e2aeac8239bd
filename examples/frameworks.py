"""The sample corpus through LangChain and through LlamaIndex, with the bundled model, offline.

Needs the extras: pip install 'vecstore[langchain,llama-index]'. No LLM: retrieval only. Both
stores live in the local NumPy store under .vecstore/ (any backend works: configuration only).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CORPUS = Path(__file__).with_name("corpus.jsonl")
QUESTION = "how do planets and stars behave"


def records() -> list[dict[str, object]]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def langchain() -> None:
    from langchain_core.documents import Document

    from vecstore.integrations.langchain import VecstoreVectorStore

    store = VecstoreVectorStore.from_config(collection="lc-articles")
    docs = [
        Document(page_content=str(r["text"]), metadata={"topic": r["topic"], "year": r["year"]})
        for r in records()
    ]
    store.add_documents(docs, ids=[str(r["id"]) for r in records()])
    print(f"LangChain: {store.collection.count()} documents")
    retriever = store.as_retriever(search_kwargs={"k": 3, "filter": {"year": {"$gte": 2018}}})
    for doc in retriever.invoke(QUESTION):
        print(f"  {doc.id:<14} {doc.page_content}  [{doc.metadata['year']}]")
    for doc, score in store.similarity_search_with_score(QUESTION, k=2):
        print(f"  cosine {score:.4f}  {doc.id}")
    store.collection.close()


def llama_index() -> None:
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode

    from vecstore.integrations.llama_index import VecstoreEmbedding, VecstoreVectorStore

    store = VecstoreVectorStore.from_config(collection="li-articles")
    store.add(
        [
            TextNode(id_=str(r["id"]), text=str(r["text"]), metadata={"topic": r["topic"]})
            for r in records()
        ]
    )
    print(f"LlamaIndex: {store.client.count()} nodes")
    index = VectorStoreIndex.from_vector_store(store, embed_model=VecstoreEmbedding.from_config())
    for found in index.as_retriever(similarity_top_k=3).retrieve(QUESTION):
        print(f"  {found.score:.4f}  {found.node.node_id:<14} {found.node.get_content()}")
    store.client.close()


def main() -> int:
    print(f"question: {QUESTION!r}\n")
    langchain()
    print()
    llama_index()
    return 0


if __name__ == "__main__":
    sys.exit(main())
