"""similar_pairs vs one plain ``E @ E.T`` + argmax, same run; and 100k records' time and memory.

Random unit vectors (dim 384) in a NumPy store, opened memory-mapped. Medians of --repeats.
Peak memory is what ``similar_pairs`` allocates beyond the vectors (tracemalloc sees numpy's
allocations; the memory-mapped vectors are not allocations), and the process RSS growth.
Usage: python benchmarks/bench_pairs.py [--n 10000] [--big 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil
from timing import median_time

from vecstore import Collection, HashEncoder
from vecstore.adapters.numpy import NumpyBackend
from vecstore.records import CollectionInfo, RecordBatch

DIM = 384


def store(path: Path, n: int, seed: int) -> Collection:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, DIM), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    backend = NumpyBackend("pairs", path=path)
    backend.open(CollectionInfo("pairs", "hash:384", DIM))
    backend.upsert(RecordBatch([f"r{i}" for i in range(n)], m, [None] * n, [{} for _ in range(n)]))
    backend.close()
    return Collection("pairs", backend=NumpyBackend("pairs", path=path), encoder=HashEncoder(DIM))


def plain(matrix: np.ndarray) -> tuple[int, int]:
    scores = matrix @ matrix.T
    np.fill_diagonal(scores, -np.inf)
    i, j = np.unravel_index(np.argmax(scores), scores.shape)
    return int(i), int(j)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        col = store(Path(tmp), args.n, 0)
        _, matrix = col.store.matrix()  # type: ignore[attr-defined]
        dense = np.ascontiguousarray(matrix)
        best = plain(dense)
        pair = col.similar_pairs(1)[0]
        assert {pair.a, pair.b} == {f"r{best[0]}", f"r{best[1]}"}, "same best pair"
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(args.repeats):  # interleaved, against drift on a shared machine
            theirs.append(median_time(lambda: plain(dense), 1))
            ours.append(median_time(lambda: col.similar_pairs(1), 1))
        col.close()
    t_plain, t_ours = statistics.median(theirs), statistics.median(ours)
    print(
        f"most similar pair among {args.n:,} random unit vectors (dim {DIM}), medians of "
        f"{args.repeats}"
    )
    print(f"{'E @ E.T + argmax s':>19} | {'similar_pairs(top=1) s':>22} | {'ratio':>6}")
    print(f"{t_plain:>19.3f} | {t_ours:>22.3f} | {t_ours / t_plain:>5.2f}x")

    with tempfile.TemporaryDirectory() as tmp:
        col = store(Path(tmp), args.big, 1)
        vectors_mb = args.big * DIM * 4 / 2**20
        proc = psutil.Process()
        rss_before = proc.memory_info().rss
        tracemalloc.start()
        start = time.perf_counter()
        pairs = col.similar_pairs(10)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_growth = (proc.memory_info().rss - rss_before) / 2**20
        col.close()
    print(f"\n{args.big:,} records, top 10 pairs (best {pairs[0].score:.4f})")
    print(f"{'seconds':>8} | {'vectors MiB':>11} | {'peak alloc MiB':>14} | {'RSS growth MiB':>14}")
    print(f"{elapsed:>8.1f} | {vectors_mb:>11.0f} | {peak / 2**20:>14.0f} | {rss_growth:>14.0f}")


if __name__ == "__main__":
    main()
