"""Recall@10 of Chroma's HNSW index against exact search, on real-text vectors, by ef_search.

--n texts of two or three sample-corpus sentences (distinct combinations), encoded once with
the bundled model (default precision) and cached under .cache/bench/; --queries other
combinations as queries. The exact answer is a brute-force float64 top 10 over the same unit
vectors (what the NumPy store returns). The collection goes into a `chroma run` server (started
here) through vecstore, once per ef_search (`chroma.ef_search`, fixed when a collection is
created: changing it later with `collection.modify` made no difference to recall here).
Filters (all native: strings on the user's key, numbers on the filter facts): none, a string
equality ({"topic": ...}, about 1/8 of the records), a year range (about 1/5) and one year
(1/25).
Query time: median of single queries through Collection.query.
Usage: HF_HUB_OFFLINE=1 python benchmarks/bench_recall.py [--n 100000] [--queries 200]
       [--ef 100,400,600]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integration_tests.servers import chroma_server, close_chroma_sessions  # noqa: E402
from vecstore import Collection, HashEncoder, SentenceTransformerEncoder, load_settings  # noqa: E402

CORPUS = ROOT / "examples" / "corpus.jsonl"
CACHE = ROOT / ".cache" / "bench"
K = 10
EF_SEARCH = (100, 400, 600)  # 100 is Chroma's own default, 600 vecstore's
FILTERS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "topic": {"topic": "astronomy"},
    "year >= 2020": {"year": {"$gte": 2020}},
    "year == 2003": {"year": 2003},
}


def combos(n: int, skip: int = 0) -> list[tuple[str, dict[str, Any]]]:
    base = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    out: list[tuple[str, dict[str, Any]]] = []
    pairs = itertools.permutations(range(len(base)), 2)
    triples = itertools.permutations(range(len(base)), 3)
    for i, parts in enumerate(itertools.chain(pairs, triples)):
        if i < skip:
            continue
        if len(out) == n:
            break
        text = " ".join(base[p]["text"] for p in parts)
        out.append((text, {"topic": base[parts[0]]["topic"], "year": 2000 + (i * 7) % 25}))
    return out


def encoded(records: list[tuple[str, dict[str, Any]]], tag: str) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{tag}-{len(records)}.npy"
    if path.exists():
        return np.load(path)
    start = time.perf_counter()
    vectors = SentenceTransformerEncoder().encode([t for t, _ in records])
    print(f"encoded {len(records)} texts in {time.perf_counter() - start:.0f}s", flush=True)
    np.save(path, vectors)
    return vectors


def exact(matrix: np.ndarray, queries: np.ndarray, mask: np.ndarray | None) -> list[set[int]]:
    scores = queries.astype(np.float64) @ matrix.astype(np.float64).T
    if mask is not None:
        scores[:, ~mask] = -np.inf
    return [set(np.argsort(-row)[:K].tolist()) for row in scores]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", default=",".join(map(str, EF_SEARCH)), help="ef_search values")
    args = parser.parse_args()
    records = combos(args.n)
    queries_records = combos(args.queries, skip=args.n)
    matrix = encoded(records, "records")
    queries = encoded(queries_records, "queries")
    metas = [m for _, m in records]
    masks = {
        "none": None,
        "topic": np.array([m["topic"] == "astronomy" for m in metas]),
        "year >= 2020": np.array([m["year"] >= 2020 for m in metas]),
        "year == 2003": np.array([m["year"] == 2003 for m in metas]),
    }
    truth = {name: exact(matrix, queries, mask) for name, mask in masks.items()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp, chroma_server(Path(tmp)) as (host, port):
        for ef in map(int, args.ef.split(",")):
            settings = load_settings(
                backend="chroma", chroma={"host": host, "port": port, "ef_search": ef}
            )
            col = Collection(
                f"recall-{ef}", encoder=HashEncoder(matrix.shape[1]), settings=settings
            )
            start = time.perf_counter()
            for s in range(0, len(records), 5000):
                col.upsert(
                    None,
                    ids=[str(i) for i in range(s, min(s + 5000, len(records)))],
                    vectors=matrix[s : s + 5000],
                    metadata=metas[s : s + 5000],
                )
            print(f"ef_search {ef}: inserted {len(records)} in {time.perf_counter() - start:.0f}s")
            for name, where in FILTERS.items():
                found, times = [], []
                for q in queries:
                    t = time.perf_counter()
                    hits = col.query(q, top_k=K, where=where)
                    times.append(time.perf_counter() - t)
                    found.append({int(h.id) for h in hits})
                recall = np.mean(
                    [len(f & t) / K for f, t in zip(found, truth[name][: len(found)], strict=True)]
                )
                median_ms = statistics.median(times) * 1e3
                rows.append((ef, name, len(queries), recall, median_ms))
            col.close()
        close_chroma_sessions()
    print(
        f"Chroma HNSW recall@{K} vs exact, {len(records)} real-text vectors, {len(queries)} queries"
    )
    print(
        f"{'ef_search':>9} | {'filter':>30} | {'queries':>7} | {'recall@10':>9} | {'median ms':>9}"
    )
    for ef, name, n, recall, ms in rows:
        print(f"{ef!s:>9} | {name:>30} | {n:>7} | {recall:9.4f} | {ms:9.2f}")


if __name__ == "__main__":
    main()
