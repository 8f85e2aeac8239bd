"""Filtered queries by operator family: vecstore against the raw client's own filter, same data.

--n records (the real-text vectors bench_recall.py caches, else random unit vectors) with
metadata ``topic`` (str), ``year`` (int), ``tags`` (list of str), ``nums`` (list of int) and
``rare`` (present on 1 record in 50), in a `chroma run` server and in the Pinecone stand-in
(integration_tests/pinecone_server.py), both started here. For each family, the median time of
--queries single top-10 queries through Collection.query, beside:
* the raw client with the equivalent native filter where the store has one; for ranges over
  lists, $exists and the nested filter Chroma's raw client has no general equivalent, so the
  raw filter shown is one giving the same answer on this data, as its user would write it;
* the unfiltered query (first row);
* the route a collection written before filter facts takes ("old route": the same collection
  with its facts ignored; Chroma then reads every record's metadata for numbers, ranges and
  $exists, Pinecone refuses $not around a range).
Target (issue 12): every family <= 1.2x the raw client, or <= 2x the unfiltered query where
the raw client has no equivalent.
Usage: python benchmarks/bench_filters.py [--n 100000] [--queries 5] [--skip-pinecone]
       [--skip-chroma] [--skip-old]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integration_tests.pinecone_server import pinecone_server  # noqa: E402
from integration_tests.servers import chroma_server, close_chroma_sessions  # noqa: E402
from vecstore import Collection, FilterError, HashEncoder, load_settings  # noqa: E402

K = 10
CACHE = ROOT / ".cache" / "bench" / "records-100000.npy"
TOPICS = ["astronomy", "cooking", "finance", "gardening", "health", "music", "software", "travel"]
Where = dict[str, Any] | None
# family: (vecstore filter, Chroma's native equivalent or None, Pinecone's or None)
FAMILIES: dict[str, tuple[Where, Where, Where]] = {
    "none": (None, None, None),
    "equality": ({"topic": "astronomy"}, {"topic": "astronomy"}, {"topic": "astronomy"}),
    "set": (
        {"topic": {"$in": ["astronomy", "music"]}},
        {"topic": {"$in": ["astronomy", "music"]}},
        {"topic": {"$in": ["astronomy", "music"]}},
    ),
    "number equality": ({"year": 2020}, {"year": 2020}, {"year": 2020}),
    "range, scalar": ({"year": {"$gte": 2020}}, {"year": {"$gte": 2020}}, {"year": {"$gte": 2020}}),
    # Chroma truncates 2010.5 against the int field: its exact equivalent is $lte 2010
    "range, float op": (
        {"year": {"$lt": 2010.5}},
        {"year": {"$lte": 2010}},
        {"year": {"$lt": 2010.5}},
    ),
    # Chroma's ranges skip lists: on this data (elements <= 96) the raw client has to list them
    "range, list": (
        {"nums": {"$gt": 90}},
        {"$or": [{"nums": {"$contains": v}} for v in range(91, 97)]},
        None,
    ),
    # Chroma has no $exists: on this data "rare" is only ever True
    "$exists": ({"rare": {"$exists": True}}, {"rare": True}, {"rare": {"$exists": True}}),
    "negation": (
        {"topic": {"$ne": "astronomy"}},
        {"topic": {"$ne": "astronomy"}},
        {"topic": {"$ne": "astronomy"}},
    ),
    # every record has a year here, so "$lt 2020" is the raw equivalent on this data
    "$not of a range": (
        {"year": {"$not": {"$gte": 2020}}},
        {"year": {"$lt": 2020}},
        {"year": {"$lt": 2020}},
    ),
    # topic is a str and tags a list of str on every record: the raw filters on this data
    "nested $or/$not": (
        {"$or": [{"topic": "music"}, {"$not": {"tags": "t3"}}]},
        {"$or": [{"topic": "music"}, {"tags": {"$not_contains": "t3"}}]},
        {"$or": [{"topic": "music"}, {"tags": {"$nin": ["t3"]}}]},
    ),
}


def data(n: int) -> tuple[np.ndarray, list[dict[str, Any]], np.ndarray]:
    if n == 100_000 and CACHE.exists():
        matrix = np.load(CACHE)
    else:
        matrix = np.random.default_rng(0).standard_normal((n, 384)).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    metas: list[dict[str, Any]] = []
    for i in range(n):
        meta: dict[str, Any] = {
            "topic": TOPICS[i % len(TOPICS)],
            "year": 2000 + (i * 7) % 25,
            "tags": [f"t{i % 5}", f"t{(i // 5) % 5}"],
            "nums": [i % 97, (i * 3) % 89],
        }
        if i % 50 == 0:
            meta["rare"] = True
        metas.append(meta)
    return matrix, metas, matrix[::997][:64]


def median_ms(fn: Callable[[np.ndarray], object], queries: np.ndarray) -> float | str:
    times = []
    for q in queries:
        start = time.perf_counter()
        try:
            fn(q)
        except FilterError:
            return "refused"
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def fill(
    col: Collection, matrix: np.ndarray, metas: list[dict[str, Any]], vectors_only: bool
) -> None:
    for s in range(0, len(matrix), 1000):
        part = metas[s : s + 1000]
        if vectors_only:  # Pinecone holds lists of strings only
            part = [{k: v for k, v in m.items() if k != "nums"} for m in part]
        col.upsert(
            None,
            ids=[str(i) for i in range(s, s + len(part))],
            vectors=matrix[s : s + 1000],
            metadata=part,
        )


Row = tuple[str, Any, Any, Any]


def table(title: str, rows: list[Row]) -> None:
    print(title)
    print(
        f"{'family':>18} | {'vecstore ms':>11} | {'raw ms':>8} | {'ratio':>7} | "
        f"{'old route ms':>12}"
    )
    base = rows[0][1]
    for family, ours, raw, old in rows:
        if isinstance(ours, float) and isinstance(raw, float):
            ratio = f"{ours / raw:.2f}x"
        elif isinstance(ours, float) and isinstance(base, float):
            ratio = f"{ours / base:.2f}xU"  # against the unfiltered query: no raw equivalent
        else:
            ratio = "-"
        show = [f"{v:.2f}" if isinstance(v, float) else str(v) for v in (ours, raw, old)]
        print(f"{family:>18} | {show[0]:>11} | {show[1]:>8} | {ratio:>7} | {show[2]:>12}")
    print("(xU: against vecstore's unfiltered query, where the raw client has no equivalent)")


def old_route(col: Collection, fn: Callable[[np.ndarray], object], queries: np.ndarray) -> Any:
    """The same queries as a collection written before filter facts answers them."""
    store: Any = col.store
    store._facts = False
    try:
        return median_ms(fn, queries)
    finally:
        store._facts = True


def family_rows(
    col: Collection,
    raw_query: Callable[[np.ndarray, Where], object],
    column: int,
    queries: np.ndarray,
    old: bool,
    skip: str | None = None,
) -> list[Row]:
    """Each family through vecstore, the raw client (its filter in FAMILIES' ``column``) and
    the old route; families whose filter mentions ``skip`` are left out (n/a)."""
    rows: list[Row] = []
    for family, filters in FAMILIES.items():
        ours, native = filters[0], filters[column]
        if skip is not None and ours is not None and skip in str(ours):
            rows.append((family, "n/a", "-", "-"))
            continue
        mine = median_ms(lambda q, w=ours: col.query(q, top_k=K, where=w), queries)
        before = (
            old_route(col, lambda q, w=ours: col.query(q, top_k=K, where=w), queries)
            if old
            else "-"
        )
        theirs: Any = "-"
        if native is not None or ours is None:
            theirs = median_ms(lambda q, w=native: raw_query(q, w), queries)
        rows.append((family, mine, theirs, before))
    return rows


def chroma_part(
    matrix: np.ndarray, metas: list[dict[str, Any]], queries: np.ndarray, old: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp, chroma_server(Path(tmp)) as (host, port):
        s = load_settings(backend="chroma", chroma={"host": host, "port": port})
        col = Collection("filters", encoder=HashEncoder(matrix.shape[1]), settings=s)
        fill(col, matrix, metas, vectors_only=False)
        raw = col.store.col  # type: ignore[attr-defined]
        rows = family_rows(
            col,
            lambda q, w: raw.query(
                query_embeddings=[q],
                n_results=K,
                where=w,
                include=["documents", "metadatas", "distances"],
            ),
            1,
            queries,
            old,
        )
        where, native = FAMILIES["range, scalar"][:2]
        rows.append(
            (
                "count, range",
                median_ms(lambda q: col.count(where), queries[:3]),
                median_ms(lambda q: len(raw.get(where=native, include=[])["ids"]), queries[:3]),
                old_route(col, lambda q: col.count(where), queries[:3]) if old else "-",
            )
        )
        col.close()
        close_chroma_sessions()
    table(f"Chroma server, {len(matrix)} records, median of {len(queries)} queries", rows)


def pinecone_part(
    matrix: np.ndarray, metas: list[dict[str, Any]], queries: np.ndarray, old: bool
) -> None:
    import pinecone

    with pinecone_server(matrix.shape[1]) as (host, _):
        s = load_settings(backend="pinecone", pinecone={"host": host, "api_key": "bench"})
        col = Collection("filters", encoder=HashEncoder(matrix.shape[1]), settings=s)
        fill(col, matrix, metas, vectors_only=True)
        index = pinecone.Pinecone(api_key="bench").Index(host=host)
        rows = family_rows(
            col,
            lambda q, w: index.query(
                vector=q.tolist(), top_k=K, filter=w, include_metadata=True, namespace="filters"
            ),
            2,
            queries,
            old,
            skip="nums",  # no number lists in Pinecone
        )
        col.close()
    table(f"Pinecone stand-in, {len(matrix)} records, median of {len(queries)} queries", rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--skip-pinecone", action="store_true")
    parser.add_argument("--skip-chroma", action="store_true")
    parser.add_argument("--skip-old", action="store_true", help="leave out the old-route column")
    args = parser.parse_args()
    matrix, metas, queries = data(args.n)
    queries = queries[: args.queries]
    if not args.skip_chroma:
        chroma_part(matrix, metas, queries, not args.skip_old)
        print(flush=True)
    if not args.skip_pinecone:
        pinecone_part(matrix, metas, queries, not args.skip_old)


if __name__ == "__main__":
    main()
