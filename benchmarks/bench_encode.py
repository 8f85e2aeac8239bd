"""Encoder precision on this machine: fp32, bf16 and auto, throughput and agreement with fp32.

--n real texts of varied length (one to three sentences of the sample corpus each, as in
bench_ingest), each variant a SentenceTransformerEncoder with that precision setting, the same
loaded weights per variant. Rounds are interleaved (every variant once per round, the order
rotating); times are medians. Agreement with fp32: minimum and mean cosine between a text's two
vectors, and top-10 neighbour agreement (the share of each text's 10 nearest neighbours among the
--n texts that both precisions find). Target on a CPU with native bf16: auto >= 1.4x fp32 at
minimum cosine >= 0.9995 and top-10 agreement >= 0.98.
Usage: HF_HUB_OFFLINE=1 python benchmarks/bench_encode.py [--n 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import make_records  # noqa: E402
from timing import timed  # noqa: E402

from vecstore import SentenceTransformerEncoder  # noqa: E402
from vecstore.hardware import detect_hardware  # noqa: E402

TOP = 10


def neighbours(vectors: np.ndarray) -> np.ndarray:
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    return np.argsort(-scores, axis=1)[:, :TOP]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    texts = [r["text"] for r in make_records(args.n)]
    encoders = {p: SentenceTransformerEncoder(precision=p) for p in ("fp32", "bf16", "auto")}
    for enc in encoders.values():
        enc.encode(texts[:64])  # load and warm up
    times: dict[str, list[float]] = {p: [] for p in encoders}
    vectors: dict[str, np.ndarray] = {}
    names = list(encoders)
    for r in range(args.rounds):
        for p in names[r % len(names) :] + names[: r % len(names)]:
            times[p].append(timed(lambda p=p: vectors.__setitem__(p, encoders[p].encode(texts))))
    ref = vectors["fp32"]
    ref_nn = neighbours(ref)
    hw = detect_hardware()
    print(
        f"encode {args.n} texts (mean {np.mean([len(t) for t in texts]):.0f} chars), "
        f"medians of {args.rounds} interleaved rounds; CPU native bf16: {hw.cpu_bf16}"
    )
    head = ("setting", "runs as", "median s", "texts/s", "vs fp32", "min cos", "mean cos", "top-10")
    print(" | ".join(f"{h:>9}" for h in head))
    base = statistics.median(times["fp32"])
    for p, enc in encoders.items():
        t = statistics.median(times[p])
        cos = (ref * vectors[p]).sum(axis=1)
        nn = neighbours(vectors[p])
        agree = np.mean([len(set(a) & set(b)) / TOP for a, b in zip(ref_nn, nn, strict=True)])
        row = (
            p,
            enc.precision,
            f"{t:.2f}",
            f"{args.n / t:.0f}",
            f"{base / t:.2f}x",
            f"{cos.min():.6f}",
            f"{cos.mean():.6f}",
            f"{agree:.4f}",
        )
        print(" | ".join(f"{v:>9}" for v in row))


if __name__ == "__main__":
    main()
