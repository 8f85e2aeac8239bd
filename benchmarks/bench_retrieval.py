"""Retrieval quality and latency of dense, keyword, hybrid and MMR search, per store.

The labeled set is real text nobody on this project wrote (:mod:`real_text`): docstrings of
Python's standard library, SciPy and pandas, read with ``ast`` from the installed files. Each
docstring's body (paragraphs after the first) is a document; its first paragraph (the summary)
is a query whose one relevant document is that body. Rebuild offline: the same Python
(3.11.7 here), SciPy and pandas (the versions printed) give the same set. Queries: --queries
of them, evenly spaced over the list. Needs the ``bench`` extra (bm25s).

Quality: recall@10, MRR@10 and nDCG@10 (one relevant document: 1/log2(1 + rank)) per mode and
store, all through ``vecstore.retrieval.run`` (what ``Collection.query`` runs after encoding the
query; query vectors are encoded once, in batches). The bm25s library ranks the same tokens
(the analyser's) with the same k1 and b (``method="lucene"``, its corpus's true mean length) as
the reference for keyword search. Stores: the NumPy store, Qdrant's local mode, and the
Pinecone stand-in (``integration_tests/pinecone_server.py``), which refuses keyword search
(README, Known limits).

Latency (--latency-n records, default 100,000, on the NumPy store): the documents repeated
with distinct ids and random unit vectors, single queries, median of --repeats per mode;
the encoder's time is left out.
Usage: HF_HUB_OFFLINE=1 python benchmarks/bench_retrieval.py [--queries 600]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import real_text  # noqa: E402
from integration_tests.pinecone_server import pinecone_server  # noqa: E402
from vecstore import (  # noqa: E402
    Collection,
    HashEncoder,
    SentenceTransformerEncoder,
    keywords,
    load_settings,  # noqa: E402
)
from vecstore.adapters.numpy import NumpyBackend  # noqa: E402
from vecstore.errors import CapabilityError  # noqa: E402
from vecstore.rerank import Rerankers  # noqa: E402
from vecstore.retrieval import plan, run  # noqa: E402

K = 10
CACHE = ROOT / ".cache" / "bench_retrieval"
MODES: dict[str, dict[str, Any]] = {
    "dense": {},
    "keyword": {"search": "keyword"},
    "hybrid": {"search": "hybrid"},
    "mmr 0.5": {"mmr": 0.5},
}


def labeled() -> tuple[list[str], list[tuple[str, int]]]:
    """Documents, and (query, index of its relevant document)."""
    import pandas
    import scipy

    docs: list[str] = []
    where: dict[str, int] = {}
    queries = []
    found = real_text.pairs()
    for package in (scipy, pandas):
        found += real_text.pairs(root=Path(package.__file__).parent)
    for summary, body in found:
        if body not in where:
            where[body] = len(docs)
            docs.append(body)
        queries.append((summary, where[body]))
    print(
        f"labeled set: {len(docs)} documents, {len(queries)} queries "
        f"(python {sys.version.split()[0]}, scipy {scipy.__version__}, pandas {pandas.__version__})"
    )
    return docs, queries


def metrics(ranks: list[int | None]) -> dict[str, float]:
    """recall@10, MRR@10, nDCG@10 from each query's 1-based rank of its document (None: >10)."""
    n = len(ranks)
    return {
        "recall@10": sum(r is not None for r in ranks) / n,
        "MRR@10": sum(1 / r for r in ranks if r is not None) / n,
        "nDCG@10": sum(1 / math.log2(1 + r) for r in ranks if r is not None) / n,
    }


def rank_of(ids: list[str], want: str) -> int | None:
    return ids.index(want) + 1 if want in ids[:K] else None


def show(store: str, modes: dict[str, Any]) -> None:
    for mode, m in modes.items():
        if m is None:
            print(f"{store:18} {mode:8} {'refused (CapabilityError)':>26}")
        else:
            print(
                f"{store:18} {mode:8} {m['recall@10']:9.3f} {m['MRR@10']:7.3f} {m['nDCG@10']:8.3f}"
            )
    sys.stdout.flush()


def evaluate(
    store: str, col: Collection, queries: list[tuple[str, int]], qv: np.ndarray
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rerankers = Rerankers()
    for mode, options in MODES.items():
        p = plan(K, **options)
        try:
            ranks = [
                rank_of(
                    [h.id for h in run(col.backend, p, qv[i : i + 1], q, None, rerankers, False)],
                    f"d{doc}",
                )
                for i, (q, doc) in enumerate(queries)
            ]
        except CapabilityError:
            out[mode] = None
            continue
        out[mode] = metrics(ranks)
    show(store, out)
    return out


def bm25s_reference(docs: list[str], queries: list[tuple[str, int]]) -> dict[str, float]:
    import bm25s

    model = bm25s.BM25(k1=keywords.K1, b=keywords.B, method="lucene")
    model.index([keywords.tokens(d) or ["\x00"] for d in docs], show_progress=False)
    ranks = []
    for q, doc in queries:
        toks = sorted(set(keywords.tokens(q)) & set(model.vocab_dict))
        if not toks:
            ranks.append(None)
            continue
        scores = model.get_scores(toks)
        top = [int(i) for i in np.argsort(-scores, kind="stable")[:K] if scores[i] > 0]
        ranks.append(top.index(doc) + 1 if doc in top else None)
    return metrics(ranks)


def fill(col: Collection, docs: list[str], vectors: np.ndarray) -> None:
    for lo in range(0, len(docs), 500):
        part = list(range(lo, min(lo + 500, len(docs))))
        col.upsert([docs[i] for i in part], ids=[f"d{i}" for i in part], vectors=vectors[part])


def latency(docs: list[str], n: int, repeats: int, queries: list[tuple[str, int]]) -> None:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        col = Collection(
            "lat", backend=NumpyBackend("lat", path=Path(tmp)), encoder=HashEncoder(384)
        )
        for lo in range(0, n, 10_000):
            hi = min(lo + 10_000, n)
            v = rng.standard_normal((hi - lo, 384)).astype(np.float32)
            col.upsert(
                [docs[i % len(docs)] for i in range(lo, hi)],
                ids=[f"r{i}" for i in range(lo, hi)],
                vectors=v,
            )
        qs = [queries[i * len(queries) // repeats][0] for i in range(repeats)]
        qv = rng.standard_normal((repeats, 384)).astype(np.float32)
        qv /= np.linalg.norm(qv, axis=1, keepdims=True)
        rerankers = Rerankers()
        times: dict[str, list[float]] = {m: [] for m in MODES}
        for i, q in enumerate(qs):  # modes take turns, query by query
            for mode, options in MODES.items():
                p = plan(K, **options)
                start = time.perf_counter()
                run(col.backend, p, qv[i : i + 1], q, None, rerankers, False)
                times[mode].append(time.perf_counter() - start)
        dense = statistics.median(times["dense"])
        print(f"\nlatency at {n:,} records (NumPy store, single queries, median of {repeats})")
        print(f"{'mode':10} {'ms':>8} {'vs dense':>9}")
        for mode, ts in times.items():
            med = statistics.median(ts)
            print(f"{mode:10} {med * 1e3:8.2f} {med / dense:8.2f}x")
        sizes = [seg.records.arrays() for seg in col.store.segments]  # type: ignore[attr-defined]
        index = sum(a[k].nbytes for a in sizes for k in a if k.startswith("kw."))
        texts = sum(a["texts.blob"].nbytes for a in sizes)
        print(
            f"keyword index {index / 2**20:.1f} MiB, texts {texts / 2**20:.1f} MiB, "
            f"ratio {index / texts:.2f}"
        )
        col.close()


def encoded(
    encoder: SentenceTransformerEncoder, docs: list[str], queries: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The vectors, from .cache/bench_retrieval when this model has encoded these texts before."""
    key = hashlib.blake2b(digest_size=12)
    for text in [encoder.name, *docs, "\x00", *queries]:
        key.update(text.encode() + b"\x00")
    path = CACHE / f"{key.hexdigest()}.npz"
    if path.exists():
        with np.load(path) as saved:
            print(f"vectors from {path.relative_to(ROOT)}")
            return saved["docs"], saved["queries"]
    start = time.perf_counter()
    dv = encoder.encode_documents(docs)
    qv = encoder.encode_queries(queries)
    print(f"encoded in {time.perf_counter() - start:.0f}s")
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, docs=dv, queries=qv)
    return dv, qv


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--latency-n", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    docs, all_queries = labeled()
    step = len(all_queries) / args.queries
    queries = [all_queries[int(i * step)] for i in range(args.queries)]
    encoder = SentenceTransformerEncoder()
    dv, qv = encoded(encoder, docs, [q for q, _ in queries])
    results: dict[str, dict[str, Any]] = {}
    print(f"\n{'store':18} {'mode':8} {'recall@10':>9} {'MRR@10':>7} {'nDCG@10':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        col = Collection("bench", backend=NumpyBackend("bench", path=Path(tmp)), encoder=encoder)
        fill(col, docs, dv)
        results["numpy"] = evaluate("numpy", col, queries, qv)
        col.close()
    from qdrant_client import QdrantClient

    from vecstore.adapters.qdrant import QdrantBackend

    client = QdrantClient(location=":memory:")
    col = Collection("bench", backend=QdrantBackend("bench", client=client), encoder=encoder)
    fill(col, docs, dv)
    results["qdrant local"] = evaluate("qdrant local", col, queries, qv)
    client.close()
    with pinecone_server(encoder.dimension) as (host, _):
        s = load_settings(backend="pinecone", pinecone={"host": host, "api_key": "bench"})
        col = Collection("bench", encoder=encoder, settings=s)
        fill(col, docs, dv)
        results["pinecone stand-in"] = evaluate("pinecone stand-in", col, queries, qv)
        col.close()
    ref = bm25s_reference(docs, queries)
    print(
        f"{'bm25s (lucene)':18} {'keyword':8} {ref['recall@10']:9.3f} {ref['MRR@10']:7.3f} "
        f"{ref['nDCG@10']:8.3f}"
    )
    numpy = results["numpy"]
    print(f"\nhybrid / dense MRR@10: {numpy['hybrid']['MRR@10'] / numpy['dense']['MRR@10']:.3f}")
    print(f"keyword - bm25s MRR@10: {numpy['keyword']['MRR@10'] - ref['MRR@10']:+.4f}")
    latency(docs, args.latency_n, args.repeats, all_queries)


if __name__ == "__main__":
    main()
