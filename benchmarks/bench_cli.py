"""Each read command in a new process, as a script calls it: wall time and peak RSS.

Builds NumPy collections of --sizes records (precomputed random unit 384-d vectors, a short text
and three metadata fields, recorded with the bundled model's name, loaded in upserts of 10,000),
then times `vecstore count`, `get` (one id), `info`, a query by vector (a short Python program),
`vecstore query TEXT` with --search dense, keyword and hybrid, and `vecstore query --queries` over
100 real-text queries (standard-library docstring summaries), each in a fresh interpreter,
--repeats times; medians of wall time and of the process's peak RSS. One text query runs first,
untimed, so the model's ONNX graph is exported into a scratch cache (XDG_CACHE_HOME) as on any
machine after its first query. With --base DIR (an older checkout) the same commands run on that
code over the same stores, side by side ("n/a": that code has no such command).
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
RSS = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "f'\\nmaxrss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n'))\n"
)
QUERY = RSS.replace("{", "{{").replace("}", "}}") + (
    "import numpy as np, vecstore\n"
    "col = vecstore.open_collection('{name}')\n"
    "print(len(col.query(np.ones({dim}, 'float32'), top_k=10)))\n"
)
CLI = RSS + "from vecstore.cli import main\nsys.exit(main())\n"


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


def timed(code: Path, store: Path, argv: list[str]) -> tuple[float, float] | None:
    """(wall seconds, peak RSS in MB) of one run, or None when that code has no such command."""
    env = {**os.environ, "PYTHONPATH": str(code), "VECSTORE_NUMPY__PATH": str(store)}
    env["XDG_CACHE_HOME"] = str(store.parent / "xdg")
    env.pop("VECSTORE_MODEL", None)
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=store.parent)
    wall = time.perf_counter() - started
    if proc.returncode == 2 and "error:" in proc.stderr:
        return None  # the command line is not known to that code
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({code}): {proc.stderr[-1500:]}")
    rss = [line for line in proc.stderr.splitlines() if line.startswith("maxrss_kb=")]
    return wall, int(rss[-1].split("=")[1]) / 1024 if rss else float("nan")


def cell(runs: list[tuple[float, float] | None]) -> str:
    done = [r for r in runs if r is not None]
    if not done:
        return "n/a"
    wall = statistics.median(r[0] for r in done)
    return f"{wall:.2f} s, {statistics.median(r[1] for r in done):.0f} MB"


def queries_file(where: Path, n: int = 100) -> Path:
    from benchmarks.real_text import summaries

    path = where / "queries.txt"
    path.write_text("\n".join(" ".join(t.split()) for t in summaries(n)) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--base", type=Path, help="an older checkout to time side by side")
    args = parser.parse_args()
    codes = [("this tree", ROOT)] + ([("base", args.base.resolve())] if args.base else [])
    cli = [sys.executable, "-c", CLI]
    print("| records | command | " + " | ".join(f"{label}" for label, _ in codes) + " |")
    print("|---|---|" + "---|" * len(codes))
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        for n in (int(s) for s in args.sizes.split(",")):
            name = f"c{n}"
            built = build(store, name, n)
            print(f"| {n} | (build: {n // BATCH} upserts) | {built:.1f} |", flush=True)
            text = "how do I read a file line by line"
            query = [*cli, "query", text, "--collection", name, "--json"]
            for _, code in codes:  # the first text query exports the model's graph: untimed
                timed(code, store, query)
            commands = {
                "count": [*cli, "count", "--collection", name],
                "get": [*cli, "get", "r1", "--collection", name],
                "info": [*cli, "info", "--collection", name],
                "query by vector": [sys.executable, "-c", QUERY.format(name=name, dim=DIM)],
                "query dense": query,
                "query keyword": [*query, "--search", "keyword"],
                "query hybrid": [*query, "--search", "hybrid"],
                "query --queries (100)": [
                    *cli,
                    "query",
                    "--queries",
                    str(queries_file(Path(tmp))),
                    "--collection",
                    name,
                ],
            }
            for command, argv in commands.items():
                cells = [
                    cell([timed(code, store, argv) for _ in range(args.repeats)])
                    for _, code in codes
                ]
                print(f"| {n} | {command} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
