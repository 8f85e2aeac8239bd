"""Documents stored whole against whole-text records, on long real documents; re-index costs.

The labeled set is benchmarks/long_docs.py: --n manual pages of this machine (median about
17,000 characters), each with one query, a sentence from its last 40%. With the bundled
all-MiniLM-L6-v2 (it reads 256 tokens):

* quality, per store (--stores): document recall@10 and MRR@10 for the pages stored as
  whole-text records (truncated by the model) and as documents (``upsert_documents``, queries
  with ``group_by="document"``), dense and hybrid search;
* cost: the chunker's time over all pages against the time ``upsert_documents`` took (encoding
  the same chunks), and a re-upsert with a tenth of the pages edited in one paragraph: chunks
  encoded against the chunks whose text changed;
* scale: a grouped top 10 against an ungrouped one at --chunks records (random 384-d vectors,
  ten chunks to a document, precomputed), medians of --queries.

Stores: numpy, qdrant (local mode), chroma (a `chroma run` server started here), pinecone (the
loopback stand-in of integration_tests), pgvector (a PostgreSQL server started here); Chroma
and Pinecone refuse hybrid search.
Usage: HF_HUB_OFFLINE=1 python benchmarks/bench_documents.py [--n 250]
       [--stores numpy,qdrant,chroma,pinecone,pgvector] [--chunks 1000000] [--queries 100]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.long_docs import LongDoc, long_docs  # noqa: E402
from integration_tests.pinecone_server import pinecone_server  # noqa: E402
from integration_tests.postgres_server import postgres_server  # noqa: E402
from integration_tests.servers import chroma_server  # noqa: E402
from vecstore import CapabilityError, Collection, InvalidInput, load_settings  # noqa: E402
from vecstore.records import RecordBatch  # noqa: E402
from vecstore.reserved import DOCUMENT_KEY  # noqa: E402

K = 10


def metrics(ranked: list[list[str]], wanted: list[str]) -> tuple[float, float]:
    """(recall@10, MRR@10) of one relevant id per query."""
    hits = [r[:K].index(w) + 1 if w in r[:K] else 0 for r, w in zip(ranked, wanted, strict=True)]
    return sum(h > 0 for h in hits) / len(hits), sum(1 / h for h in hits if h) / len(hits)


SERVERS: dict[str, Any] = {}
"""Addresses of the servers started for the stores asked for (Chroma, the Pinecone stand-in)."""


def settings(store: str, where: Path) -> Any:
    if store == "numpy":
        return load_settings(numpy={"path": str(where / "numpy")})
    if store == "chroma":
        host, port = SERVERS["chroma"]
        return load_settings(backend="chroma", chroma={"host": host, "port": port})
    if store == "pinecone":
        return load_settings(
            backend="pinecone", pinecone={"host": SERVERS["pinecone"], "api_key": "local"}
        )
    if store == "pgvector":
        return load_settings(backend="pgvector", pgvector={"dsn": SERVERS["pgvector"]})
    return load_settings(backend="qdrant", qdrant={"path": str(where / "qdrant")})


def ranked(col: Collection, docs: list[LongDoc], **options: Any) -> list[list[str]] | None:
    """Each query's ranked ids (documents when grouped); None where the store refuses."""
    try:
        return [
            [h.document_id or h.id for h in col.query(d.query, top_k=K, **options)] for d in docs
        ]
    except CapabilityError:
        return None


def row(store: str, stored: str, search: str, found: list[list[str]] | None, ids: list[str]) -> str:
    if found is None:
        return f"| {store} | {stored} | {search} | refused | |"
    r, m = metrics(found, ids)
    return f"| {store} | {stored} | {search} | {r:.3f} | {m:.3f} |"


def quality(store: str, docs: list[LongDoc], where: Path) -> list[str]:
    rows = []
    ids = [d.id for d in docs]
    wanted = ids
    with Collection("whole", settings=settings(store, where)) as col:
        try:
            col.upsert([d.text for d in docs], ids=ids)
        except InvalidInput as exc:  # Pinecone: a whole page is over its 40 KB per vector
            rows.append(f"| {store} | whole-text records | all | refused: {exc} | |")
        else:
            for search in ("dense", "hybrid"):
                found = ranked(col, docs, search=search)
                rows.append(row(store, "whole-text records", search, found, wanted))
        truncated = getattr(col.encoder, "truncated_total", 0)
    with Collection("docs", settings=settings(store, where)) as col:
        chunker = col.chunker()
        started = time.perf_counter()
        for d in docs:
            chunker.pieces(d.text)
        chunking = time.perf_counter() - started
        started = time.perf_counter()
        report = col.upsert_documents([d.text for d in docs], ids=ids)
        stored = time.perf_counter() - started
        for search in ("dense", "hybrid"):
            found = ranked(col, docs, search=search, group_by="document")
            rows.append(row(store, f"documents ({report.chunks} chunks)", search, found, wanted))
        rows.append(
            f"| {store} | (cost) | chunking {chunking:.1f} s of upsert_documents {stored:.1f} s "
            f"= {chunking / (stored - chunking):.3f}x the rest | {truncated} of {len(docs)} "
            "pages truncated as records | |"
        )
        if store == "numpy":
            rows.append(reindex(col, docs))
    return rows


def reindex(col: Collection, docs: list[LongDoc]) -> str:
    """A tenth of the pages edited in one paragraph: chunks encoded vs chunks changed."""
    before = {r.id for batch in col.scan() for r in batch}
    texts = [d.text for d in docs]
    edited = 0
    for i in range(0, len(texts), 10):
        paragraphs = texts[i].split("\n\n")
        middle = len(paragraphs) // 2
        paragraphs[middle] = paragraphs[middle] + " This sentence was added in an edit."
        texts[i] = "\n\n".join(paragraphs)
        edited += 1
    report = col.upsert_documents(texts, ids=[d.id for d in docs])
    after = {r.id for batch in col.scan() for r in batch}
    changed = len(after - before)
    return (
        f"| numpy | (re-index: {edited} pages edited in one paragraph) | | encoded "
        f"{report.encoded}, chunks whose text changed {changed}, ratio "
        f"{report.encoded / max(changed, 1):.2f}; metadata rewritten {report.metadata_only}, "
        f"deleted {report.deleted}, of {report.chunks} | |"
    )


def scale(n: int, queries: int, where: Path) -> list[str]:
    rng = np.random.default_rng(3)
    with Collection("scale", settings=settings("numpy", where), encoder="hash:384") as col:
        for start in range(0, n, 50_000):
            rows = min(50_000, n - start)
            vectors = rng.standard_normal((rows, 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            ids = [f"c{i}" for i in range(start, start + rows)]
            metas = [{DOCUMENT_KEY: f"d{i // 10}"} for i in range(start, start + rows)]
            col.write(RecordBatch(ids, vectors, [None] * rows, metas))
        probes = rng.standard_normal((queries, 384)).astype(np.float32)
        col.query(probes[0], top_k=K)
        plain, grouped = [], []
        for q in probes:  # taking turns
            started = time.perf_counter()
            col.query(q, top_k=K)
            plain.append(time.perf_counter() - started)
            started = time.perf_counter()
            found = col.query(q, top_k=K, group_by="document")
            grouped.append(time.perf_counter() - started)
            assert len({h.document_id for h in found}) == K
    p, g = statistics.median(plain) * 1000, statistics.median(grouped) * 1000
    return [
        f"| numpy, {n} chunks | top 10: {p:.2f} ms; grouped top 10: {g:.2f} ms | {g / p:.2f}x |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=250)
    parser.add_argument("--stores", default="numpy,qdrant")
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    docs = long_docs(args.n)
    lengths = sorted(len(d.text) for d in docs)
    print(f"{len(docs)} manual pages, median {lengths[len(lengths) // 2]} characters")
    print("| store | stored as | search | doc recall@10 | MRR@10 |")
    print("|---|---|---|---|---|")
    stores = args.stores.split(",")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if "chroma" in stores:
            SERVERS["chroma"] = stack.enter_context(chroma_server(Path(tmp)))
        if "pinecone" in stores:
            SERVERS["pinecone"] = stack.enter_context(pinecone_server(384))[0]
        if "pgvector" in stores:
            SERVERS["pgvector"] = stack.enter_context(postgres_server(Path(tmp))).dsn
        for store in stores:
            for row in quality(store, docs, Path(tmp)):
                print(row, flush=True)
        if args.chunks:
            print("| scale | | |")
            for row in scale(args.chunks, args.queries, Path(tmp)):
                print(row, flush=True)


if __name__ == "__main__":
    main()
