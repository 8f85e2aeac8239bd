"""A batch as rows of a binary ``COPY``, each column of the batch encoded by NumPy at once.

psycopg dumps a value of a ``COPY`` row by row and element by element (a Python list into
PostgreSQL's binary array format, a vector through ``struct``), which took most of a bulk
load's client time. Here the vectors, the BM25 term ids and weights of the whole batch are
encoded in a few array operations and the metadata by orjson; each row then carries bytes
already in PostgreSQL's binary form, which :func:`register`'s pass-through dumpers send as
they are. They are registered by type oid only, so they serve ``COPY ... set_types`` on
vecstore's own connections and nothing else (query parameters are dumped by Python type).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson

from vecstore import keywords
from vecstore.errors import InvalidInput
from vecstore.records import Metadata, RecordBatch

INT8, FLOAT4 = 20, 700
INT8_ARRAY, FLOAT4_ARRAY, JSONB = 1016, 1021, 3802
ARRAY_HEADER = struct.Struct("!iiiii")
EMPTY_ARRAY = struct.Struct("!iii")
VECTOR_HEADER = struct.Struct("!HH")
JSONB_VERSION = b"\x01"
COLUMNS = ("id", "embedding", "text", "metadata", "n_tokens", "terms", "weights")
TYPES = ["text", "vector", "text", "jsonb", "int4", "int8[]", "float4[]"]


def register(conn: Any, vector_oid: int) -> None:
    """Send pre-encoded ``vector``, ``jsonb``, ``int8[]`` and ``float4[]`` values as they are."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    for type_oid in (vector_oid, JSONB, INT8_ARRAY, FLOAT4_ARRAY):

        class Encoded(Dumper):
            format = Format.BINARY
            oid = type_oid

            def dump(self, obj: Any) -> bytes:
                if not isinstance(obj, bytes):
                    raise TypeError(f"vecstore's COPY sends bytes, got {type(obj).__name__}")
                return obj

        conn.adapters.register_dumper(None, Encoded)


def _arrays(values: np.ndarray, bounds: np.ndarray, element_oid: int, dtype: str) -> list[bytes]:
    """Each row's slice of ``values`` (rows split at ``bounds``) as a binary array."""
    body = np.empty(len(values), dtype=[("size", ">i4"), ("value", dtype)])
    body["size"] = np.dtype(dtype).itemsize
    body["value"] = values
    raw = body.tobytes()
    width = body.itemsize
    out = []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if hi == lo:
            out.append(EMPTY_ARRAY.pack(0, 0, element_oid))
        else:
            out.append(
                ARRAY_HEADER.pack(1, 0, element_oid, hi - lo, 1) + raw[lo * width : hi * width]
            )
    return out


def metadata_json(metadata: Metadata) -> bytes:
    """One record's metadata as JSON (orjson; Python's json for what orjson refuses)."""
    try:
        return orjson.dumps(metadata)
    except TypeError:  # an int beyond 64 bits
        return json.dumps(metadata, ensure_ascii=False, allow_nan=False).encode()


NUL = "\x00"


def _has_nul(metas: Any) -> bool:
    try:
        return b"\\u0000" in orjson.dumps(metas)  # JSON writes NUL as \u0000
    except TypeError:  # an int beyond 64 bits: look the slow way
        return True


def check_strings(ids: Any, texts: Any, metas: Any) -> None:
    """Refuse, naming the record and field, any string PostgreSQL cannot hold (NUL).

    Whole columns are looked at first (a join, one orjson call); only a batch that may hold a
    NUL is looked at record by record.
    """
    if (
        NUL not in "".join(ids)
        and NUL not in "".join(t for t in texts if t)
        and not _has_nul(metas)
    ):
        return
    for i, rid in enumerate(ids):
        if NUL in rid:
            raise InvalidInput(
                "the id holds a NUL character, which PostgreSQL cannot store", record=i, field="id"
            )
        text = texts[i] if i < len(texts) else None
        if text is not None and NUL in text:
            raise InvalidInput(
                "the text holds a NUL character, which PostgreSQL cannot store",
                record=rid,
                field="text",
            )
        for key, value in metas[i].items():
            values = value if isinstance(value, list) else [value]
            if NUL in key or any(isinstance(v, str) and NUL in v for v in values):
                raise InvalidInput(
                    "metadata holds a NUL character, which PostgreSQL cannot store",
                    record=rid,
                    field=f"metadata.{key.replace(NUL, '?')}",
                )


def rows(batch: RecordBatch) -> Iterator[tuple[Any, ...]]:
    """The batch's rows in :data:`COLUMNS` order, their binary columns encoded at once."""
    row_of, terms, weights, lengths = keywords.documents(batch.texts)
    bounds = np.searchsorted(row_of, np.arange(len(batch) + 1))
    term_bytes = _arrays(terms.astype(np.int64), bounds, INT8, ">i8")
    weight_bytes = _arrays(weights, bounds, FLOAT4, ">f4")
    dim = batch.vectors.shape[1]
    matrix = np.ascontiguousarray(batch.vectors, dtype=">f4").tobytes()
    head = VECTOR_HEADER.pack(dim, 0)
    step = dim * 4
    counts = lengths.tolist()
    for i, rid in enumerate(batch.ids):
        yield (
            rid,
            head + matrix[i * step : (i + 1) * step],
            batch.texts[i],
            JSONB_VERSION + metadata_json(batch.metadata[i]),
            counts[i],
            term_bytes[i],
            weight_bytes[i],
        )
