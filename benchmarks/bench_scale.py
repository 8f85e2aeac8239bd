"""The NumPy store at scale: load, commit, open, memory, search, filters, get, delete, disk.

    python benchmarks/bench_scale.py --n 1000000            # CI-sized, about 3 minutes here
    python benchmarks/bench_scale.py --n 10000000 --dir /big  # once, where the disk has room

The corpus: ``--n`` random unit vectors of 384 dimensions (seeded, made batch by batch), each
with a ~25-character text and three metadata fields (``price`` a float, ``cat`` one of 50
strings, ``year`` an int), loaded in batches of ``--batch`` through ``Collection.upsert`` with
the vectors given (the path of a user with precomputed embeddings). Every ratio is measured
side by side in one run against raw NumPy on the same data:

* load: against ``np.save`` of the vectors plus one orjson dump of the records, both fsynced;
* per-batch commit time, the median of the first and of the last ten batches;
* open: a new process opens the collection and counts it (the store only, imports excluded);
* memory beyond the vector pages, in that process after every query below: RSS growth less
  the resident pages of the vector files, per record;
* unfiltered top 10 against ``np.max`` over the fp32 matrix (the floor of any fp32 scan), with
  the result compared to the fp32 scan's;
* filtered top 10 (a price range and a category: 0.2% of records) and ``count(where)``
  against the raw mask-and-matmul over float64/int32 columns;
* ``get`` of 1,000 ids; ``delete`` of 10,000 ids; disk use.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import timed  # noqa: E402

DIM = 384
CATS = [f"cat-{i:02d}" for i in range(50)]
FILTER = {"cat": "cat-07", "price": {"$gte": 100.0, "$lt": 150.0}}  # 2% x 10%
NAME = "scale"


def batch(b: int, size: int) -> tuple[np.ndarray, list[str], list[str], list[dict[str, Any]]]:
    """Batch ``b``: vectors, ids, texts, metadata (the same on every call)."""
    rng = np.random.default_rng(1_000 + b)
    v = rng.standard_normal((size, DIM), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    first = b * size
    ids = [f"doc-{first + i:09d}" for i in range(size)]
    texts = [f"product {first + i:09d} in a box" for i in range(size)]
    price = rng.uniform(0, 500, size).round(2)
    cat = rng.integers(0, 50, size)
    year = rng.integers(1990, 2026, size)
    metas = [
        {"price": float(p), "cat": CATS[c], "year": int(y)}
        for p, c, y in zip(price.tolist(), cat.tolist(), year.tolist(), strict=True)
    ]
    return v, ids, texts, metas


def raw_write(directory: Path, n: int, size: int) -> float:
    """Seconds to write the vectors as one .npy and the records as one orjson file, fsynced."""
    directory.mkdir(parents=True, exist_ok=True)
    parts = [batch(b, size) for b in range(n // size)] if n <= 2_000_000 else None
    start = time.perf_counter()
    with open(directory / "vectors.npy", "wb") as fh:
        header = {"descr": "<f4", "fortran_order": False, "shape": (n, DIM)}
        np.lib.format.write_array_header_1_0(fh, header)
        records = []
        for b in range(n // size):
            if parts is not None:
                v, ids, texts, metas = parts[b]
            else:  # too large to hold: made as written (not counted)
                pause = time.perf_counter()
                v, ids, texts, metas = batch(b, size)
                start += time.perf_counter() - pause
            fh.write(v.data)
            records.extend(zip(ids, texts, metas, strict=True))
        fh.flush()
        os.fsync(fh.fileno())
    with open(directory / "records.json", "wb") as fh:
        fh.write(orjson.dumps(records))
        fh.flush()
        os.fsync(fh.fileno())
    return time.perf_counter() - start


def load(store: Path, n: int, size: int) -> tuple[float, list[float], int]:
    """Load through Collection.upsert; total seconds, per-batch seconds, peak RSS (kB)."""
    import resource

    from vecstore import Collection, HashEncoder, load_settings
    from vecstore.adapters.numpy import NumpyBackend

    col = Collection(
        NAME,
        backend=NumpyBackend(NAME, path=store),
        encoder=HashEncoder(DIM),  # never called: the vectors are given
        settings=load_settings(),
    )
    per_batch = []
    for b in range(n // size):
        v, ids, texts, metas = batch(b, size)
        start = time.perf_counter()
        col.upsert(texts, ids=ids, metadata=metas, vectors=v)
        per_batch.append(time.perf_counter() - start)
    col.close()
    return sum(per_batch), per_batch, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


READER = textwrap.dedent("""
    import json, sys, time, statistics
    import numpy as np
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from vecstore.adapters.numpy import NumpyBackend
    from vecstore.filters import parse
    from vecstore.records import CollectionInfo

    def status(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    def mapped(suffixes):
        total, inside = 0, False
        for line in open("/proc/self/smaps"):
            head = line.split()
            if "-" in head[0] and len(head) >= 5:
                inside = len(head) >= 6 and head[-1].endswith(suffixes)
            elif inside and head[0] == "Rss:":
                total += int(head[1]) * 1024
        return total
    def med(fn, r):
        fn()
        times = []
        for _ in range(r):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    base, base_anon = status("VmRSS:"), status("RssAnon:")
    t = time.perf_counter()
    store = NumpyBackend({name!r}, path={path!r})
    store.open(CollectionInfo({name!r}, "hash:{dim}", {dim}), create=False)
    n = store.count()
    opened = time.perf_counter() - t
    r = {repeats}
    rng = np.random.default_rng(7)
    queries = rng.standard_normal((r + 1, {dim}), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    where = parse({where!r})
    out = {{"open_s": opened, "count": n, "segments": len(store.segments)}}
    def search(q): return store.query(q[None], 10, None)
    times, same = [], True
    for q in queries:
        store.compact = False
        exact = [(h.id, h.score) for h in search(q)[0]]
        store.compact = True
        t = time.perf_counter(); got = search(q); times.append(time.perf_counter() - t)
        same = same and [(h.id, h.score) for h in got[0]] == exact
    out["identical"] = same
    ids = [f"doc-{{i:09d}}" for i in rng.choice(n, 1000, replace=False).tolist()]
    out["get_1000_s"] = med(lambda: store.get(ids), r)
    store.query(queries[:1], 10, where)
    store.count(where)
    out["rss_growth"] = status("VmRSS:") - base
    out["anon_growth"] = status("RssAnon:") - base_anon
    out["vector_pages"] = mapped((".f32", ".q8", ".qe"))
    out["table_pages"] = mapped((".tbl",))
    # Side by side from here: vecstore and raw NumPy over the same data, turn about.
    matrix = store._current().parts[0][1].f32  # the fp32 matrix itself (for the raw figures)
    price, cat = np.load({raw!r} + "/price.npy"), np.load({raw!r} + "/cat.npy")
    q = queries[0]
    def raw_mask():
        return (cat == 7) & (price >= 100.0) & (price < 150.0)
    def raw_filtered():
        idx = np.flatnonzero(raw_mask())
        scores = matrix[idx] @ q
        return idx[np.argpartition(-scores, 10)[:10]]
    def raw_full():
        return np.argpartition(-(matrix @ q), 10)[:10]
    def exact():
        store.compact = False
        search(q)
        store.compact = True
    cases = {{
        "top10_s": lambda: search(q),
        "floor_s": lambda: np.max(matrix),
        "top10_fp32_s": exact,
        "raw_top10_s": raw_full,
        "filtered_s": lambda: store.query(q[None], 10, where),
        "raw_filtered_s": raw_filtered,
        "count_where_s": lambda: store.count(where),
        "raw_count_s": lambda: np.count_nonzero(raw_mask()),
    }}
    times = {{name: [] for name in cases}}
    for _ in range(r + 1):
        for name, fn in cases.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
            # OpenBLAS's threads spin for a while after a product (the raw baselines use it):
            # let them go idle, or they take the next case's cores (measured: 2x slower).
            time.sleep(0.3)
    out.update({{name: statistics.median(ts[1:]) for name, ts in times.items()}})
    out["selected"] = int(np.count_nonzero(raw_mask()))
    print(json.dumps(out))
""")


OPENER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from vecstore.adapters.numpy import NumpyBackend
    from vecstore.records import CollectionInfo
    t = time.perf_counter()
    store = NumpyBackend({name!r}, path={path!r})
    store.open(CollectionInfo({name!r}, "hash:{dim}", {dim}), create=False)
    store.count()
    print(time.perf_counter() - t)
""")


def open_time(store: Path) -> tuple[float, float]:
    """(seconds to open and count, inside a new process; the process's whole wall time)."""
    script = OPENER.format(
        repo=str(Path(__file__).resolve().parents[1]), name=NAME, path=str(store), dim=DIM
    )
    wall = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stderr)
    return float(done.stdout), time.perf_counter() - wall


def raw_columns(raw: Path, n: int, size: int) -> None:
    """The price and category columns as plain arrays (float64, int32 codes), for the reader."""
    price = np.empty(n)
    cat = np.empty(n, np.int32)
    for b in range(n // size):
        rng = np.random.default_rng(1_000 + b)
        rng.standard_normal((size, DIM), dtype=np.float32)
        price[b * size : (b + 1) * size] = rng.uniform(0, 500, size).round(2)
        cat[b * size : (b + 1) * size] = rng.integers(0, 50, size)
    np.save(raw / "price.npy", price)
    np.save(raw / "cat.npy", cat)


def disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/vecstore-bench-scale"))
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    n = args.n - args.n % args.batch
    shutil.rmtree(args.dir, ignore_errors=True)
    raw_dir, store = args.dir / "raw", args.dir / "store"
    print(f"{n:,} records, batches of {args.batch:,}, {os.cpu_count()} CPUs", flush=True)
    # The load first, so that the process's peak RSS is the load's own.
    load_s, per_batch, peak_kb = load(store, n, args.batch)
    raw_s = raw_write(raw_dir, n, args.batch)
    raw_bytes = disk(raw_dir)
    for name in ("vectors.npy", "records.json"):  # measured: the raw files are not needed
        (raw_dir / name).unlink()
    raw_columns(raw_dir, n, args.batch)
    script = READER.format(
        repo=str(Path(__file__).resolve().parents[1]),
        name=NAME,
        path=str(store),
        dim=DIM,
        repeats=args.repeats,
        where=FILTER,
        raw=str(raw_dir),
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stderr)
    figures = json.loads(done.stdout)
    opens = [open_time(store) for _ in range(5)]
    raw = figures
    shutil.rmtree(raw_dir)

    from vecstore.adapters.numpy import NumpyBackend
    from vecstore.records import CollectionInfo

    backend = NumpyBackend(NAME, path=store)
    backend.open(CollectionInfo(NAME, f"hash:{DIM}", DIM))
    doomed = [f"doc-{i:09d}" for i in range(0, n, max(1, n // 10_000))][:10_000]
    delete_s = timed(lambda: backend.delete(doomed))
    backend.close()

    first, last = statistics.median(per_batch[:10]), statistics.median(per_batch[-10:])
    beyond = (figures["rss_growth"] - figures["vector_pages"]) / n
    anon, tables = figures["anon_growth"] / n, figures["table_pages"] / n
    rows = [
        ("load", f"{load_s:.1f} s", f"raw write {raw_s:.1f} s", load_s / raw_s, "<= 1.5"),
        ("commit, last 10 / first 10", f"{last:.3f} / {first:.3f} s", "", last / first, "<= 1.3"),
        (
            "open, new process",
            f"{statistics.median(o[0] for o in opens) * 1e3:.0f} ms",
            f"process wall, imports included: {statistics.median(o[1] for o in opens):.2f} s",
            None,
            "<= 0.2 s (1M), 0.5 s (10M)",
        ),
        (
            "memory beyond vectors",
            f"{beyond:.0f} B/record",
            f"private {anon:.0f} B + table pages {tables:.0f} B;"
            f" load's peak RSS {peak_kb / 1e6:.2f} GB",
            None,
            "<= 200 B",
        ),
        (
            "top 10, unfiltered",
            f"{figures['top10_s'] * 1e3:.1f} ms",
            f"floor {raw['floor_s'] * 1e3:.1f} ms;"
            f" fp32 scan {figures['top10_fp32_s'] * 1e3:.1f} ms;"
            f" raw matmul {raw['raw_top10_s'] * 1e3:.1f} ms; identical {figures['identical']}",
            figures["top10_s"] / raw["floor_s"],
            "<= 0.5 x floor",
        ),
        (
            "top 10, filtered",
            f"{figures['filtered_s'] * 1e3:.2f} ms",
            f"raw {raw['raw_filtered_s'] * 1e3:.2f} ms ({raw['selected']} rows)",
            figures["filtered_s"] / raw["raw_filtered_s"],
            "<= 1.2",
        ),
        (
            "count(where)",
            f"{figures['count_where_s'] * 1e3:.2f} ms",
            f"raw {raw['raw_count_s'] * 1e3:.2f} ms",
            figures["count_where_s"] / raw["raw_count_s"],
            "<= 1.5",
        ),
        ("get 1,000 ids", f"{figures['get_1000_s'] * 1e3:.1f} ms", "", None, ""),
        ("delete 10,000 ids", f"{delete_s:.3f} s", "", None, "<= 0.2 s (1M)"),
        (
            "disk",
            f"{disk(store) / 1e9:.2f} GB",
            f"raw {raw_bytes / 1e9:.2f} GB",
            disk(store) / raw_bytes,
            "",
        ),
    ]
    print(f"segments after load: {figures['segments']}; records: {figures['count']:,}")
    print(f"| {'figure':<28} | {'vecstore':>18} | {'beside it':<60} | ratio | target |")
    print(f"|{'-' * 30}|{'-' * 20}|{'-' * 62}|-------|--------|")
    for name, ours, other, ratio, target in rows:
        shown = f"{ratio:.2f}" if ratio is not None else ""
        print(f"| {name:<28} | {ours:>18} | {other:<60} | {shown:>5} | {target} |")
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
