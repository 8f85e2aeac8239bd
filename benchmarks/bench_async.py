"""Concurrent queries through Collection.aquery against the raw client's own threads, one run.

Chroma server (`chroma run`, started here), --n vectors of dimension 384: the same --queries
query vectors (top 10, no filter) answered (1) one after another through Collection.query,
(2) all at once through asyncio.gather of Collection.aquery, (3) one after another by the raw
chromadb client, (4) by the raw client from a 16-thread pool. Then the NumPy store with
--numpy-n vectors: plain sequential Collection.query against asyncio.gather of aquery.
Rounds are interleaved (each round runs every variant once, the order rotating); medians.
Target: vecstore concurrent >= 0.9x the raw threaded throughput, and on NumPy >= 0.9x its
own sequential throughput (nothing in vecstore serialises queries).
Usage: python benchmarks/bench_async.py [--n 20000] [--numpy-n 100000] [--queries 64]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import timed  # noqa: E402

from integration_tests.servers import chroma_server, close_chroma_sessions  # noqa: E402
from vecstore import Collection, HashEncoder, load_settings  # noqa: E402
from vecstore.adapters.numpy import NumpyBackend  # noqa: E402

DIM = 384
K = 10
RAW_THREADS = 16


def unit_rows(n: int, seed: int) -> np.ndarray:
    m = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def fill(col: Collection, n: int) -> None:
    step = 5000
    for s in range(0, n, step):
        rows = unit_rows(min(step, n - s), s + 1)
        ids = [f"d{s + i}" for i in range(len(rows))]
        col.upsert(
            None, ids=ids, vectors=rows, metadata=[{"g": (s + i) % 7} for i in range(len(rows))]
        )


def gathered(col: Collection, queries: np.ndarray) -> Callable[[], object]:
    async def run() -> None:
        await asyncio.gather(*(col.aquery(q, top_k=K) for q in queries))

    return lambda: asyncio.run(run())


def rounds(variants: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(timed(variants[name]))
    return {name: statistics.median(t) for name, t in times.items()}


def table(title: str, n_queries: int, medians: dict[str, float]) -> None:
    print(title)
    print(f"{'variant':>34} | {'median s':>9} | {'queries/s':>9}")
    for name, t in medians.items():
        print(f"{name:>34} | {t:9.4f} | {n_queries / t:9.1f}")


def chroma_part(n: int, queries: np.ndarray, repeats: int) -> None:
    import chromadb

    with tempfile.TemporaryDirectory() as tmp, chroma_server(Path(tmp)) as (host, port):
        settings = load_settings(backend="chroma", chroma={"host": host, "port": port})
        col = Collection("bench-async", encoder=HashEncoder(DIM), settings=settings)
        fill(col, n)
        raw = chromadb.HttpClient(
            host=host, port=port, settings=chromadb.Settings(anonymized_telemetry=False)
        ).get_collection("bench-async")

        def raw_one(q: np.ndarray) -> object:
            return raw.query(
                query_embeddings=[q], n_results=K, include=["documents", "metadatas", "distances"]
            )

        pool = ThreadPoolExecutor(RAW_THREADS)
        medians = rounds(
            {
                "vecstore query, sequential": lambda: [col.query(q, top_k=K) for q in queries],
                "vecstore aquery, asyncio.gather": gathered(col, queries),
                "raw chromadb, sequential": lambda: [raw_one(q) for q in queries],
                f"raw chromadb, {RAW_THREADS}-thread pool": lambda: list(
                    pool.map(raw_one, queries)
                ),
            },
            repeats,
        )
        pool.shutdown()
        col.close()
        close_chroma_sessions()
    table(
        f"Chroma server, {n} vectors x {DIM}, {len(queries)} queries (top {K})",
        len(queries),
        medians,
    )
    ours = medians["vecstore aquery, asyncio.gather"]
    theirs = medians[f"raw chromadb, {RAW_THREADS}-thread pool"]
    gain = medians["raw chromadb, sequential"] / theirs
    print(
        f"vecstore concurrent / raw threaded throughput: {theirs / ours:.2f}x (target >= 0.90); "
        f"raw gains {gain:.2f}x from threads"
    )


def numpy_part(n: int, queries: np.ndarray, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        col = Collection(
            "bench-async", backend=NumpyBackend("bench-async", path=tmp), encoder=HashEncoder(DIM)
        )
        fill(col, n)
        medians = rounds(
            {
                "vecstore query, sequential": lambda: [col.query(q, top_k=K) for q in queries],
                "vecstore aquery, asyncio.gather": gathered(col, queries),
            },
            repeats,
        )
        col.close()
    table(
        f"NumPy store, {n} vectors x {DIM}, {len(queries)} queries (top {K})", len(queries), medians
    )
    ratio = medians["vecstore query, sequential"] / medians["vecstore aquery, asyncio.gather"]
    print(f"concurrent / sequential throughput: {ratio:.2f}x (target >= 0.90)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--numpy-n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    queries = unit_rows(args.queries, 999)
    chroma_part(args.n, queries, args.repeats)
    print()
    numpy_part(args.numpy_n, queries, args.repeats)


if __name__ == "__main__":
    main()
