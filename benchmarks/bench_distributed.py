"""The same ingest three ways: one process, Ray Data, Spark; wall time and memory of the tree.

--n real texts (sample-corpus sentences in distinct pairs and triples, as bench_recall.py
builds them) with the bundled model into a fresh NumPy store, each variant in a process of its
own (so model loads and engine start-up are counted, as a job would see them):

* ``ingest``: ``Collection.ingest`` in one process (encoder threads: torch's default);
* ``ray``: ``vecstore.integrations.ray.ingest`` on ``ray.init(num_cpus=2)``, 2 encoder actors
  of 1 torch thread each;
* ``spark``: ``vecstore.integrations.spark.ingest`` on ``local[2]``, 1 torch thread per worker.

Peak memory is the largest sum of RSS over the variant's process and all its children (Ray's
raylet and workers, Spark's JVM and Python workers), sampled every 0.2 s. The per-worker rate
is records/s divided by the workers encoding (1 process for ``ingest``, 2 for the engines);
what N machines would give is that rate times N times the workers per machine, when the
store keeps up. Each variant runs --rounds times; medians are shown.
Last, the NumPy store's one-writer rule as write tasks meet it: n precomputed rows written by one
process, against two processes writing half each, taking turns through the store's file lock.
Usage: HF_HUB_OFFLINE=1 python benchmarks/bench_distributed.py [--n 10000] [--rounds 3]
       [--only ingest,ray,spark] [--turns-only]   (needs psutil: pip install -e '.[bench]')
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {"ingest": 1, "ray": 2, "spark": 2}  # variant: workers encoding


def records(n: int) -> list[dict[str, Any]]:
    from benchmarks.bench_recall import combos

    return [{"id": f"r{i}", "text": t, **m} for i, (t, m) in enumerate(combos(n))]


def run_variant(variant: str, n: int, store: str) -> None:
    """Child process: one ingest, then print its figures as JSON."""
    os.environ["VECSTORE_NUMPY__PATH"] = store
    rows = records(n)
    started = time.perf_counter()
    if variant == "ingest":
        from vecstore import open_collection

        with open_collection("bench") as col:
            report = col.ingest(rows)
    elif variant == "ray":
        import ray

        from vecstore.integrations.ray import ingest

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        report = ingest(ray.data.from_items(rows), collection="bench", threads=1)
        ray.shutdown()
    else:
        from pyspark.sql import SparkSession

        os.environ["PYSPARK_PYTHON"] = sys.executable  # Spark's Python processes need vecstore

        from vecstore.integrations.spark import ingest

        spark = (
            SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
        ).getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        report = ingest(spark.createDataFrame(rows), collection="bench", threads=1)
        spark.stop()
    wall = time.perf_counter() - started
    print(json.dumps({"wall_s": wall, "written": report.written, "read": report.read}))


def write_part(args: tuple[str, int, int]) -> tuple[float, float]:
    """Write rows [start, stop) of a 384-d collection in windows of 1,000; return (began, ended)
    as wall-clock times, after the imports."""
    from vecstore import HashEncoder, open_collection

    store, start, stop = args
    vectors = HashEncoder(384).encode([f"t{i}" for i in range(start, stop)])
    began = time.time()
    with open_collection("turns", model="hash:384", numpy={"path": store}) as col:
        for s in range(0, stop - start, 1000):
            ids = [f"r{i}" for i in range(start + s, min(start + s + 1000, stop))]
            col.upsert(ids, ids=ids, vectors=vectors[s : s + 1000], metadata=None)
    return began, time.time()


def numpy_turns(n: int, rounds: int) -> None:
    """The NumPy store's one-writer rule: 1 process writing n rows vs 2 taking turns."""
    from multiprocessing import get_context

    one, two = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as store:
            began, ended = write_part((store, 0, n))
            one.append(ended - began)
        with tempfile.TemporaryDirectory() as store, get_context("spawn").Pool(2) as pool:
            spans = pool.map(write_part, [(store, 0, n // 2), (store, n // 2, n)])
            two.append(max(e for _, e in spans) - min(b for b, _ in spans))
    a, b = statistics.median(one), statistics.median(two)
    print(f"NumPy store, {n} precomputed 384-d rows in windows of 1,000 (medians of {rounds}):")
    print(f"  1 writer: {a:.2f} s; 2 processes taking turns through the file lock: {b:.2f} s")


def tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(variant: str, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as store:
        cmd = [sys.executable, __file__, "--child", variant, "--n", str(n), "--store", store]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss(proc.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = proc.communicate()
        done.set()
        sampler.join()
        if proc.returncode != 0:
            raise SystemExit(f"{variant} failed with {proc.returncode}")
        figures: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        figures["peak_gb"] = peak / 1e9
        return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child")
    parser.add_argument("--store")
    parser.add_argument("--only", help="comma-separated variants (default: all)")
    parser.add_argument("--turns-only", action="store_true", help="only the NumPy writer table")
    args = parser.parse_args()
    if args.child:
        run_variant(args.child, args.n, args.store)
        return
    if args.turns_only:
        numpy_turns(args.n, max(args.rounds, 3))
        return
    chosen = args.only.split(",") if args.only else list(VARIANTS)
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in chosen}
    for _ in range(args.rounds):  # interleaved, so drift on a shared machine hits all alike
        for variant in chosen:
            results[variant].append(measure(variant, args.n))
    print(f"{args.n} real texts, bundled model, NumPy store; medians of {args.rounds} rounds")
    print(
        f"{'variant':>8} | {'wall s':>7} | {'x first':>7} | {'rec/s':>7} | {'rec/s/worker':>12} | "
        f"{'peak GB':>7}"
    )
    base = 0.0
    for variant in chosen:
        wall = statistics.median(r["wall_s"] for r in results[variant])
        peak = statistics.median(r["peak_gb"] for r in results[variant])
        base = base or wall
        rate = args.n / wall
        per_worker = rate / VARIANTS[variant]
        print(
            f"{variant:>8} | {wall:7.1f} | {wall / base:6.2f}x | {rate:7.0f} | "
            f"{per_worker:12.0f} | {peak:7.2f}"
        )
    print("(rec/s/worker x workers per machine x N machines: what N machines would give)")
    numpy_turns(args.n, max(args.rounds, 3))


if __name__ == "__main__":
    main()
