"""``vecstore query --queries FILE``: many queries in one process, one JSON line per answer.

Each line of FILE (``-``: standard input) is a query: plain text, or a JSON object with
``query`` and any of ``top_k``, ``where``, ``search``, ``min_score``, ``mmr``, ``fetch_k``
(the command's own options are the defaults). Each answer is one JSON object on stdout,
``{"line": N, "query": ..., "hits": [...]}``, or ``{"line": N, "error": ...}`` for a line that
is not a query or fails; the other lines are still answered, and the exit status is then 1.
Blank lines are skipped. The model (or the torch-free encoder) loads once for the whole file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import orjson

from vecstore.cli.output import note
from vecstore.collection import Collection
from vecstore.errors import InvalidInput, VecstoreError
from vecstore.records import Hit, StoredRecord

PER_QUERY = ("top_k", "where", "search", "min_score", "mmr", "fetch_k", "group_by")


def hit_json(hit: Hit) -> dict[str, Any]:
    """A hit as ``--json`` prints it (``document_id`` and ``span`` for a document's chunk)."""
    return {
        "id": hit.id,
        "score": hit.score,
        "rank_score": hit.rank_score,
        "rank_by": hit.rank_by,
        "text": hit.text,
        "metadata": hit.metadata,
        "document_id": hit.document_id,
        "span": list(hit.span) if hit.span is not None else None,
    }


def record_json(record: StoredRecord) -> dict[str, Any]:
    """A stored record as ``--json`` prints it."""
    return {
        "id": record.id,
        "text": record.text,
        "metadata": record.metadata,
        "document_id": record.document_id,
        "span": list(record.span) if record.span is not None else None,
    }


def _lines(path: str) -> Iterator[tuple[int, str]]:
    stream: TextIO = sys.stdin if path == "-" else open(path, encoding="utf-8")
    try:
        for number, line in enumerate(stream, 1):
            if line.strip():
                yield number, line.rstrip("\n")
    finally:
        if stream is not sys.stdin:
            stream.close()


def parse_line(line: str, defaults: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(query text, query options) of one line; InvalidInput says what is wrong with it."""
    if not line.lstrip().startswith("{"):
        return line.strip(), dict(defaults)
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidInput("a JSON line is an object with a 'query'")
    unknown = set(raw) - {"query", *PER_QUERY}
    if unknown:
        raise InvalidInput(f"unknown keys {sorted(unknown)}; known: query, {', '.join(PER_QUERY)}")
    text = raw.get("query")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("'query' must be a non-blank string", field="query")
    return text, {**defaults, **{k: raw[k] for k in PER_QUERY if k in raw}}


def run_queries(col: Collection, args: argparse.Namespace, defaults: dict[str, Any]) -> int:
    """Answer every line of ``args.queries``; 1 if any line failed, else 0."""
    failed = 0
    out = sys.stdout
    for number, line in _lines(args.queries):
        try:
            text, options = parse_line(line, defaults)
            hits = col.query(text, **options)
        except VecstoreError as exc:
            failed += 1
            message = " ".join(str(exc).split())
            note(f"line {number}: {message}")
            answer: dict[str, Any] = {"line": number, "error": message}
        else:
            answer = {"line": number, "query": text, "hits": [hit_json(h) for h in hits]}
        out.write(orjson.dumps(answer).decode() + "\n")
        out.flush()
    if failed:
        note(f"{failed} query line(s) failed")
    return 1 if failed else 0
