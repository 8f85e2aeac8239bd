"""The nightly job, as cron runs it: `vecstore ingest --sync` in a new process, four nights.

A catalogue of --n short product descriptions (price, stock, category) goes into a fresh NumPy
store with the bundled model; the next night a fifth of the products change price (metadata
only); the night after, nothing changes; the last night a twentieth of the products are gone
from the catalogue. Each night is the CLI in a new process (``--quiet --json --source-tag
catalogue --sync``, where the code has them), timed from the outside: process start, imports,
model load (if any) and the work; ``deleted`` counts what the sync removed.
Target: the metadata-only night encodes nothing and takes <= 5% of the first night's wall time.
With --base DIR (a checkout of an older vecstore, e.g. ``git worktree add /tmp/base <rev>``)
the same three nights also run on that code, in a store of its own, side by side.
Usage: HF_HUB_OFFLINE=1 python benchmarks/bench_nightly.py [--n 20000] [--base /tmp/base]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ADJECTIVES = "compact sturdy lightweight cordless stainless ergonomic foldable waterproof".split()
PRODUCTS = "kettle drill backpack lamp blender tent jacket chair speaker mixer".split()
USES = "camping kitchens workshops offices travel gardens studios".split()
CATEGORIES = ["home", "outdoor", "tools", "audio", "kitchen"]


def catalogue(n: int, night: int, dropped: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(7)
    rows = []
    for i in range(n):
        words = (rng.choice(ADJECTIVES), rng.choice(ADJECTIVES), rng.choice(PRODUCTS))
        use, code = rng.choice(USES), rng.randrange(100, 999)
        text = f"{words[0].title()} {words[1]} {words[2]} for {use}, model {code}-{i}"
        price = round(5 + (i * 37 % 500) + 0.99, 2)
        if night >= 1 and i % 5 == 0:  # a fifth of the catalogue is repriced
            price = round(price * 0.9, 2)
        rows.append(
            {
                "id": f"sku-{i}",
                "text": text,
                "price": price,
                "stock": i % 40,
                "category": CATEGORIES[i % 5],
            }
        )
    return rows[: n - dropped]


def night(code: Path, data: Path, store: Path) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(code), "VECSTORE_NUMPY__PATH": str(store)}
    env.pop("VECSTORE_MODEL", None)
    argv = [sys.executable, "-c", "import sys; from vecstore.cli import main; sys.exit(main())"]
    argv += ["ingest", str(data), "--collection", "catalogue", "--json"]
    quiet = subprocess.run(
        [*argv, "--help"], capture_output=True, text=True, env=env, cwd=store.parent
    )
    if "--quiet" in quiet.stdout:
        argv.append("--quiet")
    if "--sync" in quiet.stdout:
        argv += ["--source-tag", "catalogue", "--sync"]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=store.parent)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed ({code}): {proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--base", type=Path, help="an older checkout to run side by side")
    args = parser.parse_args()
    codes = [("this tree", ROOT)] + ([("base", args.base.resolve())] if args.base else [])
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for n in range(4):
            path = Path(tmp) / f"night{n}.jsonl"
            rows = catalogue(args.n, min(n, 1), args.n // 20 if n == 3 else 0)
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
            files.append(path)
        print(
            f"{args.n} products; nights: first load, a fifth repriced, nothing changed, a "
            "twentieth dropped"
        )
        print(
            "| code | night | wall s | vs first | encoded | metadata only | unchanged | written "
            "| deleted |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for label, code in codes:
            store = Path(tmp) / label.replace(" ", "-") / "store"
            store.mkdir(parents=True)
            first = None
            nights = ("first", "repriced", "unchanged", "dropped")
            for name, path in zip(nights, files, strict=True):
                wall, report = night(code, path, store)
                first = first or wall
                print(
                    f"| {label} | {name} | {wall:.2f} | {wall / first:.3f} | {report['encoded']} | "
                    f"{report.get('metadata_only', '-')} | {report['unchanged']} | "
                    f"{report['written']} | {report.get('deleted', '-')} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
