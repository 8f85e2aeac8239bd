"""Streaming ingestion of dicts, JSONL or CSV into a collection.

Records are read lazily and written window by window (:data:`INGEST_WINDOW` records, one
``encode()`` call each), so memory stays bounded by the window whatever the source size.
Each window is validated whole before it is written; a bad record stops the run with an error
naming its line (file sources) or position (iterables). Windows already written stay written,
and ids are deterministic, so running the job again after fixing the record is safe.

Field rules: ids may be str or int (ints become their decimal string); with ``id_field=None``
ids are derived from the text. ``metadata_fields=None`` takes every field but the id and the
text. In CSV every value is a string and an empty cell means "no value" (the key is omitted).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from vecstore.errors import InvalidInput

if TYPE_CHECKING:
    from vecstore.collection import Collection

INGEST_WINDOW = 4096
Progress = Callable[[int], None]
"""Called with the number of records just written."""


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one ingest run did."""

    read: int
    written: int
    duration_s: float

    @property
    def records_per_s(self) -> float:
        """Records written per second of the run."""
        return self.written / self.duration_s if self.duration_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values."""
        return {**asdict(self), "records_per_s": round(self.records_per_s, 1)}


def _read_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield f"line {number}", orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InvalidInput(
                    f"not valid JSON: {exc}", record=f"{path.name} line {number}"
                ) from exc


def _read_csv(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open(newline="", encoding="utf-8") as fh:
        for number, row in enumerate(csv.DictReader(fh), 2):
            yield f"line {number}", {k: (v if v != "" else None) for k, v in row.items()}


READERS = {".jsonl": _read_jsonl, ".ndjson": _read_jsonl, ".csv": _read_csv}


def read_source(source: Iterable[dict[str, Any]] | str | Path) -> Iterator[tuple[str, Any]]:
    """Yield (where, record) pairs; a file is checked before the first record is read."""
    if isinstance(source, str | Path):
        path = Path(source)
        reader = READERS.get(path.suffix.lower())
        if reader is None:
            raise InvalidInput(
                f"{path}: unknown file type; use one of {sorted(READERS)}", field="source"
            )
        if not path.is_file():
            raise InvalidInput(f"{path}: no such file", field="source")
        try:
            path.open("rb").close()
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot be read ({exc.strerror})", field="source") from exc
        return reader(path)
    return ((f"record {i}", rec) for i, rec in enumerate(source))


def _split(
    where: str,
    record: Any,
    id_field: str | None,
    text_field: str,
    metadata_fields: Sequence[str] | None,
) -> tuple[str | None, Any, dict[str, Any]]:
    if not isinstance(record, dict):
        raise InvalidInput(f"expected an object, got {type(record).__name__}", record=where)
    if text_field not in record:
        raise InvalidInput("missing", record=where, field=text_field)
    rid: str | None = None
    if id_field is not None:
        raw = record.get(id_field)
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        if not isinstance(raw, str) or not raw:
            raise InvalidInput(
                f"must be a non-empty str or int, got {raw!r} (pass id_field=None "
                "to derive ids from the text)",
                record=where,
                field=id_field,
            )
        rid = raw
    if metadata_fields is None:
        meta = {k: v for k, v in record.items() if k not in (id_field, text_field)}
    else:
        meta = {k: record[k] for k in metadata_fields if k in record}
    return rid, record[text_field], meta


def ingest(
    collection: Collection,
    source: Iterable[dict[str, Any]] | str | Path,
    *,
    id_field: str | None = "id",
    text_field: str = "text",
    metadata_fields: Sequence[str] | None = None,
    progress: Progress | None = None,
    window: int = INGEST_WINDOW,
) -> IngestReport:
    """Stream ``source`` into ``collection`` in windows; return a report."""
    started = time.perf_counter()
    records = read_source(source)
    read = written = 0
    while True:
        chunk = []
        for item in records:
            chunk.append(item)
            if len(chunk) >= window:
                break
        if not chunk:
            break
        read += len(chunk)
        parts = [_split(w, r, id_field, text_field, metadata_fields) for w, r in chunk]
        ids = [p[0] for p in parts]
        try:
            given = None if id_field is None else [i for i in ids if i is not None]
            batch = collection.prepare([p[1] for p in parts], given, [p[2] for p in parts])
        except InvalidInput as exc:
            raise _located(exc, chunk, ids) from exc
        collection.write(batch)
        written += len(batch)
        if progress is not None:
            progress(len(batch))
    return IngestReport(read, written, time.perf_counter() - started)


def _located(
    exc: InvalidInput, chunk: list[tuple[str, Any]], ids: list[str | None]
) -> InvalidInput:
    """Re-label an error about one record of a window with its place in the source."""
    if isinstance(exc.record, int) and 0 <= exc.record < len(chunk):
        position = exc.record
    elif isinstance(exc.record, str) and exc.record in ids:
        position = ids.index(exc.record)
    else:
        return exc
    message = str(exc).split(": ", 1)[-1]
    if ids[position] is not None:
        message = f"{message} (id {ids[position]!r})"
    return type(exc)(message, record=chunk[position][0], field=exc.field)
