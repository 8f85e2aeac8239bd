"""Exact search in the NumPy store vs the memory-bandwidth floor and faiss IndexFlatIP.

For each N: N random unit vectors (dim 384) are written to a NumPy store in a temporary
directory and opened memory-mapped, as a user would. Then, in one run, side by side:

* floor: ``np.max(M)``, one pass over the matrix (the least any exact search must read);
* vecstore: ``NumpyBackend.query`` (filter-free), one query and a batch of 100, top 10;
* faiss: ``IndexFlatIP`` over the same vectors, when faiss-cpu is installed.

Times are medians of several repeats. Usage:
    python benchmarks/bench_search.py [--sizes 100000,1000000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from timing import median_time

from vecstore.adapters.numpy import NumpyBackend
from vecstore.records import CollectionInfo, RecordBatch

DIM = 384
K = 10
BATCH = 100


def build(path: Path, n: int, rng: np.random.Generator) -> NumpyBackend:
    backend = NumpyBackend("bench", path=path)
    backend.open(CollectionInfo("bench", "random", DIM))
    m = rng.standard_normal((n, DIM), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    ids = [str(i) for i in range(n)]
    backend.upsert(RecordBatch(ids, m, [None] * n, [{} for _ in ids]))
    del m
    backend.close()
    reopened = NumpyBackend("bench", path=path)
    reopened.open(CollectionInfo("bench", "random", DIM))
    return reopened


def measure(n: int, rng: np.random.Generator, repeats: int, faiss: Any) -> tuple[Any, ...]:
    """One row of the table: every timing for N vectors, side by side."""
    with tempfile.TemporaryDirectory() as tmp:
        backend = build(Path(tmp), n, rng)
        ((_, maps),) = backend._current().parts  # noqa: SLF001 - the mapped fp32 matrix
        matrix = maps.f32
        q1 = matrix[rng.integers(n)][None, :].copy()
        qb = np.ascontiguousarray(matrix[rng.integers(0, n, BATCH)])
        few = max(3, repeats // 2)
        floor = median_time(lambda: np.max(matrix), repeats, warm=True)
        ours1 = median_time(lambda: backend.query(q1, K, None), repeats, warm=True)
        oursb = median_time(lambda: backend.query(qb, K, None), few, warm=True)
        f1 = fb = agree = float("nan")
        if faiss is not None:
            index = faiss.IndexFlatIP(DIM)
            index.add(np.ascontiguousarray(matrix))
            f1 = median_time(lambda: index.search(q1, K), repeats, warm=True)
            fb = median_time(lambda: index.search(qb, K), few, warm=True)
            # Exact search must agree with faiss on the ids.
            _, fid = index.search(qb, K)
            ours = backend.query(qb, K, None)
            agree = float(
                np.mean(
                    [
                        [h.id for h in hits] == [str(i) for i in fid[q]]
                        for q, hits in enumerate(ours)
                    ]
                )
            )
        backend.close()
    return n, floor, ours1, f1, oursb / BATCH, fb / BATCH, agree


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    try:
        import faiss
    except ImportError:
        faiss = None
    rng = np.random.default_rng(0)
    rows = [measure(int(s), rng, args.repeats, faiss) for s in args.sizes.split(",")]
    print(f"exact top-{K} search, dim {DIM}, float32, times in ms (medians)")
    head = (
        "N",
        "floor",
        "ours 1q",
        "faiss 1q",
        "1q/floor",
        "1q/faiss",
        "ours/q b100",
        "faiss/q b100",
        "b100/faiss",
        "same ids",
    )
    print(" | ".join(f"{h:>12}" for h in head))
    for n, floor, o1, f1, ob, fb, agree in rows:
        vals = (
            f"{n:,}",
            f"{floor * 1e3:.1f}",
            f"{o1 * 1e3:.1f}",
            f"{f1 * 1e3:.1f}",
            f"{o1 / floor:.2f}x",
            f"{o1 / f1:.2f}x",
            f"{ob * 1e3:.2f}",
            f"{fb * 1e3:.2f}",
            f"{ob / fb:.2f}x",
            f"{agree:.0%}",
        )
        print(" | ".join(f"{v:>12}" for v in vals))


if __name__ == "__main__":
    main()
