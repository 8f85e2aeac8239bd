"""The sentence-embedding classic: the most similar pairs among 10,000 sentences.

10,000 two-sentence texts are built from the sample corpus (every text distinct), encoded once
with the bundled model into a local collection, then searched for their most similar pairs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import vecstore

CORPUS = Path(__file__).with_name("corpus.jsonl")
N = 10_000


def texts() -> list[str]:
    base = [json.loads(line)["text"] for line in CORPUS.read_text().splitlines()]
    out = []
    for i in range(len(base)):
        for j in range(len(base)):
            if i != j and len(out) < N and (i * 31 + j * 17) % 5 == 0:
                out.append(f"{base[i]} {base[j]}")
    return out


def main() -> int:
    sentences = texts()
    with vecstore.open_collection("pairs-demo") as col:
        if col.count() != len(sentences):
            started = time.perf_counter()
            col.upsert(sentences, metadata=[{"n": i} for i in range(len(sentences))])
            print(f"encoded {len(sentences):,} sentences in {time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        pairs = col.similar_pairs(5)
        elapsed = time.perf_counter() - started
        print(f"most similar pairs among {col.count():,} sentences in {elapsed:.2f}s:")
        found = {r.id: r.text for r in col.get([p.a for p in pairs] + [p.b for p in pairs])}
        for p in pairs:
            print(f"  {p.score:.4f}  {found[p.a]}\n          {found[p.b]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
