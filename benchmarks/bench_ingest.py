"""Ingest into the NumPy store vs bare ``SentenceTransformer.encode`` of the same texts.

Same run, same loaded model, alternating the two measurements; medians of --repeats runs.
The ratio is encode time / ingest time: 1.00x means ingest costs nothing beyond encoding. The
bare encode is sentence-transformers' own (fp32); ingest runs with vecstore's default settings
(precision ``auto``: bf16 on a CPU with native bf16), so the ratio also shows what the default
precision gains.
Usage: HF_HUB_OFFLINE=1 python benchmarks/bench_ingest.py [--n 4000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from vecstore import Collection, SentenceTransformerEncoder
from vecstore.adapters.numpy import NumpyBackend
from vecstore.encoders import ENCODE_BATCH_SIZE

CORPUS = Path(__file__).resolve().parents[1] / "examples" / "corpus.jsonl"


def make_records(n: int) -> list[dict[str, Any]]:
    """N records of one to three corpus sentences each, so lengths vary as in real data."""
    base = [json.loads(line) for line in CORPUS.read_text().splitlines()]
    out = []
    for i in range(n):
        parts = [base[(i * 7 + j * 31) % len(base)] for j in range(1 + i % 3)]
        text = " ".join(p["text"] for p in parts) + f" (note {i})"
        out.append({"id": f"r{i}", "text": text, "topic": parts[0]["topic"], "year": 2000 + i % 25})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    records = make_records(args.n)
    texts = [r["text"] for r in records]
    encoder = SentenceTransformerEncoder()
    model = encoder.model
    model.encode(texts[:64])  # warm up
    bare, ingest = [], []

    def run_bare() -> None:
        start = time.perf_counter()
        model.encode(
            texts,
            batch_size=ENCODE_BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        bare.append(time.perf_counter() - start)

    def run_ingest(rep: int) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            col = Collection(
                f"bench{rep}", backend=NumpyBackend(f"bench{rep}", path=tmp), encoder=encoder
            )
            start = time.perf_counter()
            report = col.ingest(records)
            ingest.append(time.perf_counter() - start)
            assert report.written == args.n and col.count() == args.n
            col.close()

    for rep in range(args.repeats):  # alternate which goes first, against drift
        if rep % 2:
            run_ingest(rep)
            run_bare()
        else:
            run_bare()
            run_ingest(rep)
    b, i = statistics.median(bare), statistics.median(ingest)
    print(f"ingest into the NumPy store vs bare encode, {args.n} texts, medians of {args.repeats}")
    print(
        f"{'bare encode s':>14} | {'ingest s':>9} | {'encode rec/s':>12} | "
        f"{'ingest rec/s':>12} | {'ratio':>6}"
    )
    print(f"{b:>14.2f} | {i:>9.2f} | {args.n / b:>12.0f} | {args.n / i:>12.0f} | {b / i:>5.3f}x")


if __name__ == "__main__":
    main()
