"""Time of ``import vecstore`` in fresh interpreters (median), beside ``import numpy``.

Usage: python benchmarks/bench_import.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

SNIPPET = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"


def median_import(module: str, repeats: int) -> float:
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", SNIPPET.format(mod=module)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(repeats)
    ]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    numpy_s = median_import("numpy", args.repeats)
    ours = median_import("vecstore", args.repeats)
    heavy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, vecstore; print(sorted(m for m in sys.modules if m in "
            "{'torch', 'sentence_transformers', 'chromadb', 'qdrant_client', 'pinecone', "
            "'pydantic_settings'}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"import time, medians of {args.repeats} fresh interpreters")
    print(f"{'import numpy s':>15} | {'import vecstore s':>17} | heavy modules loaded")
    print(f"{numpy_s:>15.3f} | {ours:>17.3f} | {heavy}")


if __name__ == "__main__":
    main()
