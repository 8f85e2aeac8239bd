"""Where ingest reads records from: dicts, or a JSONL, CSV, TSV or Parquet file, lazily.

Each record comes with its place in the source (``line 7``, ``row 12``, ``record 3``), which a
failure names. Files: JSONL one JSON object per line (blank lines skipped); CSV and TSV with a
header row, every value a string and an empty cell meaning "no value"; Parquet read in record
batches (the ``parquet`` extra). A UTF-8 byte-order mark at the start of a text file is read as
the file means it: not part of the first field's name.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from vecstore.errors import InvalidInput, MissingDependency

PARQUET_BATCH = 4096
BOM = b"\xef\xbb\xbf"
Placed = tuple[str, Any]
"""A record and where it was: ``("line 3", {...})``."""


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A line that could not be parsed: it becomes a dead letter, the run goes on."""

    reason: str
    raw: bytes


def _read_jsonl(path: Path) -> Iterator[Placed]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if number == 1 and line.startswith(BOM):
                line = line[len(BOM) :]
            if not line.strip():
                continue
            try:
                yield f"line {number}", orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield f"line {number}", Unreadable(f"not valid JSON: {exc}", line)


def _delimited(delimiter: str) -> Callable[[Path], Iterator[Placed]]:
    def read(path: Path) -> Iterator[Placed]:
        # utf-8-sig: a byte-order mark is the file's encoding, not part of the first column.
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = csv.DictReader(fh, delimiter=delimiter)
            for number, row in enumerate(rows, 2):
                yield f"line {number}", {k: (v if v != "" else None) for k, v in row.items()}

    return read


def _read_parquet(path: Path) -> Iterator[Placed]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependency("pyarrow", "parquet") from exc
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid for damaged files
        raise InvalidInput(f"{path}: not a readable Parquet file ({exc})", field="source") from exc
    number = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH):
        for row in batch.to_pylist():
            yield f"row {number}", row
            number += 1


READERS: dict[str, Callable[[Path], Iterator[Placed]]] = {
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".csv": _delimited(","),
    ".tsv": _delimited("\t"),
    ".parquet": _read_parquet,
}
LINE_FORMATS = frozenset({".jsonl", ".ndjson", ".csv", ".tsv"})
"""Formats with one record per line (after a header row for CSV and TSV)."""


def check_path(source: str | Path) -> Path:
    """The path of a source file that exists, can be read and has a known type; else raise."""
    path = Path(source)
    if path.suffix.lower() not in READERS:
        raise InvalidInput(
            f"{path}: unknown file type; use one of {sorted(READERS)}", field="source"
        )
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file", field="source")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror})", field="source") from exc
    return path


def count_records(source: str | Path) -> int | None:
    """Records in a line-based file, counted cheaply (for a progress total); None: unknown."""
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in LINE_FORMATS or not path.is_file():
        return None
    with path.open("rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return max(lines - (1 if suffix in (".csv", ".tsv") else 0), 0)


def read_source(source: Iterable[dict[str, Any]] | str | Path) -> Iterator[Placed]:
    """Yield (where, record) pairs; a file is checked before the first record is read."""
    if isinstance(source, str | Path):
        path = check_path(source)
        return READERS[path.suffix.lower()](path)
    if source is None or isinstance(source, dict | bytes) or not isinstance(source, Iterable):
        raise InvalidInput(
            f"source must be a path or an iterable of dicts, got {type(source).__name__}"
            + (" (wrap one record in a list)" if isinstance(source, dict) else ""),
            field="source",
        )
    return ((f"record {i}", rec) for i, rec in enumerate(source))


def windows(records: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``records`` in lists of at most ``size``, read lazily."""
    chunk: list[Any] = []
    for item in records:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
