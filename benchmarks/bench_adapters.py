"""Each adapter against its raw client doing the same upserts and queries, in the same run.

Qdrant local mode (in memory), a Chroma server (`chroma run`, started here) and the Pinecone
stand-in server (integration_tests/pinecone_server.py, started here), N records of dimension
384 with metadata and text. Upsert: the same records in the same request sizes; the raw side
does only what a careful user of that client must (vectors to lists, payload dicts). Query:
the same query vectors one at a time, top 10, no filter. Also the adapter's own per-record
conversion cost (building its request bodies), timed alone, beside the part of it that is
``ndarray.tolist()``, which the raw clients need as much (their APIs take Python floats).
Medians of --repeats, interleaved, alternating which side goes first.
Usage: python benchmarks/bench_adapters.py [--n 2000] [--queries 50] [--repeats 5]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import timed  # noqa: E402

from integration_tests.pinecone_server import pinecone_server  # noqa: E402
from integration_tests.servers import chroma_server, close_chroma_sessions  # noqa: E402
from vecstore import Collection, HashEncoder, load_settings  # noqa: E402
from vecstore.adapters.common import ID_KEY, TEXT_KEY, uuid_id  # noqa: E402
from vecstore.records import RecordBatch  # noqa: E402

DIM = 384
K = 10


def timed_pair(
    ours: Callable[[], object], raw: Callable[[], object], raw_first: bool
) -> tuple[float, float]:
    """Time both, in the order given, returning (ours, raw)."""
    if raw_first:
        r = timed(raw)
        return timed(ours), r
    o = timed(ours)
    return o, timed(raw)


def make_batch(n: int) -> RecordBatch:
    rng = np.random.default_rng(0)
    m = rng.standard_normal((n, DIM)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    ids = [f"doc-{i}" for i in range(n)]
    texts = [f"record {i} about topic {i % 7}" for i in range(n)]
    metas: list[dict[str, Any]] = [
        {"topic": f"t{i % 7}", "year": 2000 + i % 25, "tags": ["a", f"b{i % 3}"]} for i in range(n)
    ]
    return RecordBatch(ids, m, texts, metas)  # type: ignore[arg-type]


class Case:
    """One backend: fresh adapter and raw targets per repeat."""

    name = ""
    request = 0  # records per request, the same on both sides

    def adapter(self) -> Collection:
        raise NotImplementedError

    def raw_upsert(self, batch: RecordBatch) -> Callable[[], object]:
        raise NotImplementedError

    def raw_query(self, vector: np.ndarray) -> object:
        raise NotImplementedError

    def convert(self, col: Collection, batch: RecordBatch) -> object:
        raise NotImplementedError


class QdrantCase(Case):
    name, request = "qdrant local", 512

    def __init__(self) -> None:
        from qdrant_client import QdrantClient, models

        self.models = models
        self.client = QdrantClient(location=":memory:")
        self.raw_name = ""

    def adapter(self) -> Collection:
        from vecstore.adapters.qdrant import QdrantBackend

        name = f"a{uuid.uuid4().hex[:8]}"
        return Collection(
            name, backend=QdrantBackend(name, client=self.client), encoder=HashEncoder(DIM)
        )

    def raw_upsert(self, batch: RecordBatch) -> Callable[[], object]:
        m = self.models
        self.raw_name = f"r{uuid.uuid4().hex[:8]}"
        self.client.create_collection(
            self.raw_name, vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE)
        )

        def run() -> None:
            for s in range(0, len(batch), self.request):
                ids = batch.ids[s : s + self.request]
                self.client.upsert(
                    self.raw_name,
                    wait=True,
                    points=m.Batch(
                        ids=[uuid_id(i) for i in ids],
                        vectors=batch.vectors[s : s + self.request].tolist(),
                        payloads=[
                            {**batch.metadata[s + j], ID_KEY: i, TEXT_KEY: batch.texts[s + j]}
                            for j, i in enumerate(ids)
                        ],
                    ),
                )

        return run

    def raw_query(self, vector: np.ndarray) -> object:
        return self.client.query_points(self.raw_name, query=vector, limit=K).points

    def convert(self, col: Collection, batch: RecordBatch) -> object:
        return col.store._points(batch)  # type: ignore[attr-defined]


class ChromaCase(Case):
    name = "chroma server"

    def __init__(self, host: str, port: int) -> None:
        import chromadb

        self.host, self.port = host, port
        self.client = chromadb.HttpClient(
            host=host, port=port, settings=chromadb.Settings(anonymized_telemetry=False)
        )
        self.request = self.client.get_max_batch_size()
        self.raw: Any = None

    def adapter(self) -> Collection:
        s = load_settings(backend="chroma", chroma={"host": self.host, "port": self.port})
        return Collection(f"a{uuid.uuid4().hex[:8]}", encoder=HashEncoder(DIM), settings=s)

    def raw_upsert(self, batch: RecordBatch) -> Callable[[], object]:
        self.raw = self.client.create_collection(
            f"r{uuid.uuid4().hex[:8]}",
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
        )

        def run() -> None:
            for s in range(0, len(batch), self.request):
                self.raw.upsert(
                    ids=batch.ids[s : s + self.request],
                    embeddings=batch.vectors[s : s + self.request],
                    documents=batch.texts[s : s + self.request],
                    metadatas=batch.metadata[s : s + self.request],
                )

        return run

    def raw_query(self, vector: np.ndarray) -> object:
        return self.raw.query(
            query_embeddings=[vector], n_results=K, include=["documents", "metadatas", "distances"]
        )

    def convert(self, col: Collection, batch: RecordBatch) -> object:
        return [dict(m) for m in batch.metadata]


class PineconeCase(Case):
    name, request = "pinecone server", 200

    def __init__(self, host: str) -> None:
        import pinecone

        self.host = host
        self.index = pinecone.Index(host=host, api_key="bench")
        self.ns = ""

    def adapter(self) -> Collection:
        s = load_settings(backend="pinecone", pinecone={"host": self.host, "api_key": "bench"})
        return Collection(f"a{uuid.uuid4().hex[:8]}", encoder=HashEncoder(DIM), settings=s)

    def raw_upsert(self, batch: RecordBatch) -> Callable[[], object]:
        self.ns = f"r{uuid.uuid4().hex[:8]}"
        rows = batch.vectors

        def run() -> None:
            for s in range(0, len(batch), self.request):
                self.index.upsert(
                    namespace=self.ns,
                    show_progress=False,
                    vectors=[
                        {
                            "id": batch.ids[s + j],
                            "values": v,
                            "metadata": {
                                **batch.metadata[s + j],
                                ID_KEY: batch.ids[s + j],
                                TEXT_KEY: batch.texts[s + j],
                            },
                        }
                        for j, v in enumerate(rows[s : s + self.request].tolist())
                    ],
                )

        return run

    def raw_query(self, vector: np.ndarray) -> object:
        return self.index.query(
            vector=vector.tolist(), top_k=K, namespace=self.ns, include_metadata=True
        )

    def convert(self, col: Collection, batch: RecordBatch) -> object:
        backend: Any = col.store
        rows = batch.vectors.tolist()
        return [
            backend._vector(i, v, t, m)
            for i, v, t, m in zip(batch.ids, rows, batch.texts, batch.metadata, strict=True)
        ]


def measure(
    case: Case, batch: RecordBatch, queries: list[list[float]], repeats: int
) -> tuple[float, ...]:
    up_a, up_r, q_a, q_r, conv, tolist = [], [], [], [], [], []
    arrays = [q[None, :] for q in queries]  # the adapter takes (1, d) float32 arrays
    for rep in range(repeats):
        col = case.adapter()
        raw = case.raw_upsert(batch)
        gc.collect()
        if rep % 2:  # alternate which side goes first, against drift and warm-up effects
            up_r.append(timed(raw))
            up_a.append(timed(lambda col=col: col.write(batch)))
        else:
            up_a.append(timed(lambda col=col: col.write(batch)))
            up_r.append(timed(raw))
        ours = timed_pair(
            lambda col=col: [col.backend.query(a, K, None) for a in arrays],
            lambda: [case.raw_query(q) for q in queries],
            rep % 2 == 1,
        )
        q_a.append(ours[0])
        q_r.append(ours[1])
        conv.append(timed(lambda col=col: case.convert(col, batch)))
        tolist.append(timed(batch.vectors.tolist))
        col.close()
    med = statistics.median
    n_q = len(queries)
    return med(up_a), med(up_r), med(q_a) / n_q, med(q_r) / n_q, med(conv), med(tolist)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    batch = make_batch(args.n)
    queries = make_batch(args.queries).vectors
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        chroma_server(Path(tmp)) as (host, port),
        pinecone_server(DIM) as (pc_host, _),
    ):
        for case in (QdrantCase(), ChromaCase(host, port), PineconeCase(pc_host)):
            rows.append((case.name, *measure(case, batch, queries, args.repeats)))
        close_chroma_sessions()
    print(
        f"adapter vs raw client, {args.n} records x {DIM}, {args.queries} queries (top {K}), "
        f"medians of {args.repeats}"
    )
    head = (
        "backend",
        "upsert s",
        "raw s",
        "ratio",
        "query ms",
        "raw ms",
        "diff ms",
        "convert us/rec",
        "tolist us/rec",
    )
    print(" | ".join(f"{h:>15}" for h in head))
    for name, ua, ur, qa, qr, conv, tl in rows:
        vals = (
            name,
            f"{ua:.3f}",
            f"{ur:.3f}",
            f"{ua / ur:.2f}x",
            f"{qa * 1e3:.2f}",
            f"{qr * 1e3:.2f}",
            f"{(qa - qr) * 1e3:+.2f}",
            f"{conv / args.n * 1e6:.1f}",
            f"{tl / args.n * 1e6:.1f}",
        )
        print(" | ".join(f"{v:>15}" for v in vals))


if __name__ == "__main__":
    main()
