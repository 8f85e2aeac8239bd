"""The records of one NumPy-store segment as arrays: ids, texts, metadata, id index, columns.

A segment's records live in one table file (:mod:`vecstore.adapters.numpy_table`):

* ``ids.off``/``ids.blob``, ``texts.off``/``texts.blob``/``texts.none``, ``meta.off``/
  ``meta.blob``: each record's id, text and metadata (orjson) as offsets into UTF-8 bytes, so
  a record is read without reading its neighbours;
* ``ids.hash``/``ids.perm``: the id index, 64-bit blake2b hashes of the ids sorted, with the row
  each came from. A lookup is a binary search, the id's bytes then compared, so the index is
  never built in memory and never rebuilt: a merge merges it;
* ``c:<key>:<part>``: the filter columns (:mod:`vecstore.adapters.columns`).

Rows stay in place when segments merge (dead rows included): a segment's row ``r`` is the
collection's row ``start + r``, the row of the vector files too. Only a compaction that
rewrites everything drops dead rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from vecstore.adapters.columns import (
    PARTS,
    UNINDEXED,
    Column,
    ColumnIndex,
    build_column,
    build_columns,
)
from vecstore.errors import StoreCorrupted
from vecstore.records import Metadata

Array = npt.NDArray[Any]
Ints = npt.NDArray[np.int64]
COLUMN = "c:"
GATHER_ROWS = 65_536


def id_hashes(ids: Sequence[str]) -> npt.NDArray[np.uint64]:
    """The 64-bit hash of each id, as the id index holds them."""
    blake = hashlib.blake2b
    joined = b"".join([blake(i.encode(), digest_size=8).digest() for i in ids])
    return np.frombuffer(joined, dtype="<u8").astype(np.uint64)


def _blob(items: Sequence[bytes]) -> tuple[Array, Array]:
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    if items:
        np.cumsum(np.fromiter(map(len, items), np.int64, len(items)), out=offsets[1:])
    return offsets, np.frombuffer(b"".join(items), dtype=np.uint8)


def build(
    ids: Sequence[str], texts: Sequence[str | None], metadata: Sequence[Metadata]
) -> dict[str, Array]:
    """The table arrays of these records."""
    hashes = id_hashes(ids)
    order = np.argsort(hashes, kind="stable")
    arrays: dict[str, Array] = {}
    arrays["ids.off"], arrays["ids.blob"] = _blob([i.encode() for i in ids])
    arrays["ids.hash"], arrays["ids.perm"] = hashes[order], order.astype(np.int64)
    arrays["texts.off"], arrays["texts.blob"] = _blob([(t or "").encode() for t in texts])
    arrays["texts.none"] = np.fromiter((t is None for t in texts), bool, len(texts))
    dumps = orjson.dumps
    arrays["meta.off"], arrays["meta.blob"] = _blob([dumps(m) for m in metadata])
    for key, parts in build_columns(metadata).items():
        for part, array in parts.items():
            arrays[f"{COLUMN}{key}:{part}"] = array
    return arrays


class Records:
    """One segment's records, read from its arrays on demand (a table file or a dict)."""

    def __init__(self, arrays: Mapping[str, Array], where: str) -> None:
        self._arrays = arrays
        self.where = where  # the file, for errors
        self.rows = len(self["ids.off"]) - 1
        self.columns = ColumnIndex(self.rows, self._column)

    def __getitem__(self, name: str) -> Array:
        try:
            return self._arrays[name]
        except KeyError:
            raise StoreCorrupted(f"{self.where} has no array {name!r}") from None

    def arrays(self) -> Mapping[str, Array]:
        """Every array, by name (to write the table elsewhere)."""
        return self._arrays

    def keys(self) -> list[str]:
        """The metadata keys that have columns here."""
        names = self._arrays.keys()
        return sorted({n[len(COLUMN) :].rsplit(":", 1)[0] for n in names if n.startswith(COLUMN)})

    def _column(self, key: str) -> Column | None:
        prefix = f"{COLUMN}{key}:"
        if key in UNINDEXED:  # built from the records, once per segment
            built = build_column([self.metadata(r) for r in range(self.rows)], key)
            return Column.from_arrays(built.__getitem__) if built["present"].any() else None
        if f"{prefix}present" not in self._arrays:
            return None
        col = Column.from_arrays(lambda part: self[prefix + part])
        if len(col.present) != self.rows:
            raise StoreCorrupted(f"{self.where}: the column of {key!r} has the wrong length")
        return col

    def _bytes(self, field: str, row: int) -> bytes:
        off, blob = self[f"{field}.off"], self[f"{field}.blob"]
        a, b = int(off[row]), int(off[row + 1])
        if not 0 <= a <= b <= len(blob):
            raise StoreCorrupted(f"{self.where}: row {row}'s {field} lies outside the file")
        return bytes(blob[a:b])

    def id(self, row: int) -> str:
        """The id at ``row``."""
        return self._decode("ids", row)

    def text(self, row: int) -> str | None:
        """The text at ``row``."""
        return None if self["texts.none"][row] else self._decode("texts", row)

    def metadata(self, row: int) -> Metadata:
        """The metadata at ``row``, a new dict."""
        try:
            meta = orjson.loads(self._bytes("meta", row))
        except orjson.JSONDecodeError as exc:
            raise StoreCorrupted(f"{self.where}: row {row}'s metadata is damaged") from exc
        if not isinstance(meta, dict):
            raise StoreCorrupted(f"{self.where}: row {row}'s metadata is not an object")
        return meta

    def _decode(self, field: str, row: int) -> str:
        try:
            return self._bytes(field, row).decode()
        except UnicodeDecodeError as exc:
            raise StoreCorrupted(f"{self.where}: row {row}'s {field} is damaged") from exc

    def find(self, ids: Sequence[str], hashes: npt.NDArray[np.uint64]) -> list[tuple[int, int]]:
        """Every (index into ``ids``, row) whose row holds that id, dead rows included."""
        table = self["ids.hash"]
        if len(table) == 0 or len(ids) == 0:
            return []
        lo = np.searchsorted(table, hashes, "left")
        hi = np.searchsorted(table, hashes, "right")
        hit = np.flatnonzero(hi > lo)
        perm = self["ids.perm"]
        out = []
        for q in hit.tolist():
            for pos in range(int(lo[q]), int(hi[q])):
                row = int(perm[pos])
                if not 0 <= row < self.rows:
                    raise StoreCorrupted(f"{self.where}: the id index names row {row}")
                if self._bytes("ids", row) == ids[q].encode():
                    out.append((q, row))
        return out

    def strings(self, field: str, rows: Ints | None) -> tuple[Array, Array]:
        """Offsets and bytes of ``field`` for ``rows`` only, in that order (None: all rows)."""
        off, blob = np.asarray(self[f"{field}.off"]), self[f"{field}.blob"]
        if rows is None:
            first = int(off[0])
            return off - first, np.asarray(blob[first : int(off[-1])])
        starts, lengths = off[:-1][rows], np.diff(off)[rows]
        new_off = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_off[1:])
        out = np.empty(int(new_off[-1]), np.uint8)
        for lo in range(0, len(rows), GATHER_ROWS):  # bounded index arrays
            hi = min(lo + GATHER_ROWS, len(rows))
            a, b = int(new_off[lo]), int(new_off[hi])
            shift = np.repeat(starts[lo:hi] - new_off[lo:hi], lengths[lo:hi])
            out[a:b] = np.asarray(blob)[shift + np.arange(a, b, dtype=np.int64)]
        return new_off, out


def concat(parts: Sequence[tuple[Records, Ints | None]]) -> dict[str, Array]:
    """The arrays of these segments' rows joined in order (all rows, or those selected)."""
    rows_of = [np.arange(rec.rows, dtype=np.int64) if keep is None else keep for rec, keep in parts]
    out: dict[str, Array] = {}
    for field in ("ids", "texts", "meta"):
        offs, blobs = zip(*(rec.strings(field, keep) for rec, keep in parts), strict=True)
        shift = np.cumsum([0] + [len(b) for b in blobs[:-1]])
        out[f"{field}.off"] = np.concatenate(
            [offs[0][:1]] + [o[1:] + s for o, s in zip(offs, shift, strict=True)]
        )
        out[f"{field}.blob"] = np.concatenate(blobs)
    out["texts.none"] = np.concatenate(
        [np.asarray(rec["texts.none"])[r] for (rec, _), r in zip(parts, rows_of, strict=True)]
    )
    starts = np.cumsum([0] + [len(r) for r in rows_of[:-1]])
    hashes, rows = [], []
    for (rec, keep), start in zip(parts, starts, strict=True):
        h, perm = np.asarray(rec["ids.hash"]), np.asarray(rec["ids.perm"])
        if keep is not None:  # old row -> new row, -1 where dropped
            where = np.full(rec.rows, -1, dtype=np.int64)
            where[keep] = np.arange(len(keep))
            perm = where[perm]
            h, perm = h[perm >= 0], perm[perm >= 0]
        hashes.append(h)
        rows.append(perm + start)
    all_h, all_rows = np.concatenate(hashes), np.concatenate(rows)
    order = np.argsort(all_h, kind="stable")
    out["ids.hash"], out["ids.perm"] = all_h[order], all_rows[order]
    keys = sorted({k for rec, _ in parts for k in rec.keys()})
    for key in keys:
        out.update(_concat_column(key, parts, rows_of, starts))
    return out


def _concat_column(
    key: str, parts: Sequence[tuple[Records, Ints | None]], rows_of: Sequence[Ints], starts: Array
) -> dict[str, Array]:
    cols = [rec.columns.column(key) for rec, _ in parts]
    vocab = sorted({s.encode() for c in cols if c is not None for s in c.vocab.strings()})
    codes = {s: i for i, s in enumerate(vocab)}
    acc: dict[str, list[Array]] = {p: [] for p in PARTS if p not in ("voff", "vblob")}
    for col, rows, start in zip(cols, rows_of, starts, strict=True):
        n = len(rows)
        if col is None:
            acc["present"].append(np.zeros(n, bool))
            acc["num"].append(np.full(n, np.nan))
            acc["code"].append(np.full(n, -1, np.int32))
            acc["flag"].append(np.full(n, -1, np.int8))
            continue
        remap = np.array([codes[s.encode()] for s in col.vocab.strings()] + [-1], dtype=np.int32)
        acc["present"].append(np.asarray(col.present)[rows])
        acc["num"].append(np.asarray(col.scalars.num)[rows])
        acc["code"].append(remap[np.asarray(col.scalars.code)[rows]])
        acc["flag"].append(np.asarray(col.scalars.flag)[rows])
        where = np.full(len(col.present), -1, dtype=np.int64)
        where[rows] = np.arange(n)
        new_rows = where[np.asarray(col.list_rows)]
        kept = new_rows >= 0
        acc["lrows"].append(new_rows[kept] + start)
        acc["enum"].append(np.asarray(col.elements.num)[kept])
        acc["ecode"].append(remap[np.asarray(col.elements.code)[kept]])
        acc["eflag"].append(np.asarray(col.elements.flag)[kept])
    empty = {"lrows": np.int64, "enum": np.float64, "ecode": np.int32, "eflag": np.int8}
    out = {}
    for part, arrays in acc.items():
        joined = np.concatenate(arrays) if arrays else np.empty(0, empty.get(part, bool))
        out[f"{COLUMN}{key}:{part}"] = joined.astype(empty[part]) if part in empty else joined
    out[f"{COLUMN}{key}:voff"], out[f"{COLUMN}{key}:vblob"] = _blob(vocab)
    return out
