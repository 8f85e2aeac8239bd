"""The encoder on this machine: sentence-transformers' fp32 against vecstore's runtimes.

--n real texts (the standard library's docstring summaries, benchmarks/real_text.py: text
nobody on the project wrote), every variant on the same texts, rounds interleaved (each variant
once per round, the order rotating), medians; each variant's ratio to the reference is the
median of its per-round ratios (the two measured in the same round). Rows:

* ``sentence-transformers fp32``: the bare ``SentenceTransformer.encode`` (batch 32), the
  reference for speed and for the vectors;
* ``vecstore torch fp32``, ``vecstore onnx fp32`` (one session, ``threads`` intra-op threads),
  ``vecstore onnx 2 x 1 thread`` (two single-thread sessions, each half the texts at once), and
  ``vecstore auto`` (what the default settings pick here);
* ``vecstore auto, Collection.upsert`` and ``vecstore auto, ingest``: the same texts written into
  a NumPy collection (encoding included), per the issue's "through upsert and through ingest".

Agreement with the reference: minimum and mean cosine of each text's two vectors, and top-10
neighbour agreement (the share of each text's 10 nearest neighbours among the --n texts that
both find). Open times are measured in a fresh process each: the first open with an empty ONNX
cache (export included), then a warm open (cache in place), against torch's open.
Targets on a CPU without native bf16: auto >= 1.5x the bare fp32 at min cosine >= 0.9999 and
top-10 >= 0.99; first open <= 60 s; warm open no slower than torch's plus 1 s.
Usage: HF_HUB_OFFLINE=1 python benchmarks/bench_encode.py [--n 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.real_text import summaries  # noqa: E402
from vecstore import Collection, SentenceTransformerEncoder  # noqa: E402
from vecstore.adapters.numpy import NumpyBackend  # noqa: E402
from vecstore.hardware import detect_hardware  # noqa: E402

TOP = 10
OPEN = (
    "import time, vecstore; t = time.perf_counter(); "
    "e = vecstore.SentenceTransformerEncoder(runtime={runtime!r}, cache_dir={cache!r}); "
    "e.encode(['warm']); print(time.perf_counter() - t)"
)


def neighbours(vectors: np.ndarray) -> np.ndarray:
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    return np.argsort(-scores, axis=1)[:, :TOP]


def open_time(runtime: str, cache: str) -> float:
    """Seconds to make an encoder and encode one text, in a new process (imports excluded)."""
    code = OPEN.format(runtime=runtime, cache=cache)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    texts = summaries(args.n)
    cache = tempfile.mkdtemp(prefix="bench-encode-cache-")
    first_open = open_time("onnx", cache)
    warm_open = statistics.median(open_time("onnx", cache) for _ in range(3))
    torch_open = statistics.median(open_time("torch", cache) for _ in range(3))

    bare = SentenceTransformerEncoder(runtime="torch", precision="fp32")
    model = bare.model
    torch_ = SentenceTransformerEncoder(runtime="torch", precision="fp32")
    onnx = SentenceTransformerEncoder(runtime="onnx", cache_dir=cache)
    halves = [SentenceTransformerEncoder(runtime="onnx", cache_dir=cache, threads=1) for _ in "ab"]
    auto = SentenceTransformerEncoder(cache_dir=cache)
    pool = ThreadPoolExecutor(2)

    def two_sessions() -> np.ndarray:
        mid = len(texts) // 2
        parts = [
            pool.submit(h.encode, part)
            for h, part in zip(halves, (texts[:mid], texts[mid:]), strict=True)
        ]
        return np.concatenate([p.result() for p in parts])

    def through_upsert() -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            col = Collection("b", backend=NumpyBackend("b", path=tmp), encoder=auto)
            ids = col.upsert(texts)
            return np.stack([r.vector for r in col.get(ids, with_vectors=True)])

    def through_ingest() -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            col = Collection("b", backend=NumpyBackend("b", path=tmp), encoder=auto)
            col.ingest([{"id": str(i), "text": t} for i, t in enumerate(texts)])
            ids = [str(i) for i in range(len(texts))]
            return np.stack([r.vector for r in col.get(ids, with_vectors=True)])

    variants: dict[str, Callable[[], np.ndarray]] = {
        "sentence-transformers fp32": lambda: model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
        ),
        "vecstore torch fp32": lambda: torch_.encode(texts),
        "vecstore onnx fp32": lambda: onnx.encode(texts),
        "vecstore onnx 2 x 1 thread": two_sessions,
        "vecstore auto": lambda: auto.encode(texts),
        "vecstore auto, Collection.upsert": through_upsert,
        "vecstore auto, ingest": through_ingest,
    }
    for encoder in (torch_, onnx, *halves, auto):
        encoder.encode(texts[:16])  # load and warm up
    model.encode(texts[:16])
    times: dict[str, list[float]] = {name: [] for name in variants}
    vectors: dict[str, np.ndarray] = {}
    names = list(variants)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            started = time.perf_counter()
            vectors[name] = variants[name]()
            times[name].append(time.perf_counter() - started)
    ref = vectors[names[0]]
    ref_nn = neighbours(ref)
    hw = detect_hardware()
    mean_chars = np.mean([len(t) for t in texts])
    print(
        f"{args.n} standard-library docstring summaries (mean {mean_chars:.0f} "
        f"chars); medians of {args.rounds} interleaved rounds; CPU native bf16: {hw.cpu_bf16}; "
        f"auto runs as {auto.runtime} {auto.precision}"
    )
    print(
        "| variant | texts/s | vs sentence-transformers (median of rounds; lowest, highest) "
        "| min cos | mean cos | top-10 |"
    )
    print("|---|---|---|---|---|---|")
    for name in names:
        t = statistics.median(times[name])
        # Each round's ratio is of two runs minutes apart at most: drift on a shared machine
        # cancels in it, where a ratio of medians would carry it.
        ratios = [b / v for b, v in zip(times[names[0]], times[name], strict=True)]
        cos = (ref * vectors[name]).sum(axis=1)
        nn = neighbours(vectors[name])
        agree = np.mean([len(set(a) & set(b)) / TOP for a, b in zip(ref_nn, nn, strict=True)])
        print(
            f"| {name} | {args.n / t:.0f} | {statistics.median(ratios):.2f}x "
            f"({min(ratios):.2f}-{max(ratios):.2f}) | {cos.min():.7f} | "
            f"{cos.mean():.7f} | {agree:.4f} |"
        )
    print(
        f"\nopen in a new process (encoder made, one text encoded): first with an empty cache "
        f"(export) {first_open:.1f} s; warm {warm_open:.2f} s; torch {torch_open:.2f} s"
    )


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
