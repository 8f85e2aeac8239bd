"""Each read command in a new process, as a script calls it: wall time, before and after.

Builds NumPy collections of --sizes records (precomputed random unit 384-d vectors, a short text
and three metadata fields, recorded with the bundled model's name, loaded in upserts of 10,000),
then times `vecstore count`, `get` (one id), `info` and a query by vector (a short Python
program), each in a fresh interpreter, --repeats times; medians. With --base DIR (an older
checkout) the same commands run on that code over the same stores, side by side.
Usage: HF_HUB_OFFLINE=1 python benchmarks/bench_cli.py [--sizes 10000,1000000] [--repeats 5]
       [--base /tmp/base]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vecstore import Collection, load_settings  # noqa: E402
from vecstore.adapters.numpy import NumpyBackend  # noqa: E402

BATCH = 10_000
DIM = 384
QUERY = (
    "import numpy as np, vecstore\n"
    "col = vecstore.open_collection('{name}')\n"
    "print(len(col.query(np.ones({dim}, 'float32'), top_k=10)))\n"
)


def build(store: Path, name: str, n: int) -> float:
    started = time.perf_counter()
    col = Collection(name, backend=NumpyBackend(name, path=store), settings=load_settings())
    rng = np.random.default_rng(1)
    for start in range(0, n, BATCH):
        rows = min(BATCH, n - start)
        vectors = rng.standard_normal((rows, DIM)).astype(np.float32)
        ids = [f"r{i}" for i in range(start, start + rows)]
        texts = [f"record number {i} of the set" for i in range(start, start + rows)]
        metas = [
            {"x": float(i % 997) / 7, "cat": f"c{i % 50}", "n": i}
            for i in range(start, start + rows)
        ]
        col.upsert(texts, ids=ids, metadata=metas, vectors=vectors)
    col.close()
    return time.perf_counter() - started


def timed(code: Path, store: Path, argv: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(code), "VECSTORE_NUMPY__PATH": str(store)}
    env.pop("VECSTORE_MODEL", None)
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=store.parent)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({code}): {proc.stderr[-1500:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--base", type=Path, help="an older checkout to time side by side")
    args = parser.parse_args()
    codes = [("this tree", ROOT)] + ([("base", args.base.resolve())] if args.base else [])
    cli = [sys.executable, "-c", "import sys; from vecstore.cli import main; sys.exit(main())"]
    print("| records | command | " + " | ".join(f"{label} s" for label, _ in codes) + " |")
    print("|---|---|" + "---|" * len(codes))
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        for n in (int(s) for s in args.sizes.split(",")):
            name = f"c{n}"
            built = build(store, name, n)
            print(f"| {n} | (build: {n // BATCH} upserts) | {built:.1f} |", flush=True)
            commands = {
                "count": [*cli, "count", "--collection", name],
                "get": [*cli, "get", "r1", "--collection", name],
                "info": [*cli, "info", "--collection", name],
                "query by vector": [sys.executable, "-c", QUERY.format(name=name, dim=DIM)],
            }
            for command, argv in commands.items():
                cells = []
                for _, code in codes:
                    walls = [timed(code, store, argv) for _ in range(args.repeats)]
                    cells.append(f"{statistics.median(walls):.2f}")
                print(f"| {n} | {command} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
