"""The main job: ingest the sample corpus into the default local store, then query it."""

from __future__ import annotations

import sys
from pathlib import Path

import vecstore

CORPUS = Path(__file__).with_name("corpus.jsonl")
QUERIES = [
    ("A man is eating food.", None),
    ("how do planets and stars behave", None),
    ("saving money for retirement", {"topic": "finance", "year": {"$gte": 2020}}),
    ("keeping pests off my vegetables", {"tags": {"$contains": "short"}}),
]


def main() -> int:
    with vecstore.open_collection("articles") as col:
        report = col.ingest(CORPUS, id_field="id", text_field="text")
        print(
            f"read {report.read} records from {CORPUS.name} in {report.duration_s:.2f}s: "
            f"{report.written} written, {report.unchanged} unchanged "
            f"({col.count()} in collection {col.name!r}, model {col.info.model})"
        )
        for text, where in QUERIES:
            suffix = f"  where {where}" if where else ""
            print(f"\nquery: {text!r}{suffix}")
            for hit in col.query(text, top_k=3, where=where):
                meta = f"{hit.metadata.get('topic')}, {hit.metadata.get('year')}"
                print(f"  {hit.score:.4f}  {hit.id:<16} {hit.text}  [{meta}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
