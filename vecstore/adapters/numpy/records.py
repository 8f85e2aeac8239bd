"""The records of one NumPy-store segment as arrays: ids, texts, metadata, id index, columns.

A segment's records live in one table file (:mod:`vecstore.adapters.numpy.table`):

* ``ids.off``/``ids.blob``, ``texts.off``/``texts.blob``/``texts.none``, ``meta.off``/
  ``meta.blob``: each record's id, text and metadata (orjson) as offsets into UTF-8 bytes, so
  a record is read without reading its neighbours;
* ``ids.hash``/``ids.perm``: the id index, 64-bit blake2b hashes of the ids sorted, with the row
  each came from. A lookup is a binary search, the id's bytes then compared, so the index is
  never built in memory and never rebuilt: a merge merges it;
* ``c:<key>:<part>``: the filter columns (:mod:`vecstore.adapters.numpy.columns`).

Rows stay in place when segments merge (dead rows included): a segment's row ``r`` is the
collection's row ``start + r``, the row of the vector files too. Only a compaction that
rewrites everything drops dead rows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from vecstore.adapters.numpy import postings as postings
from vecstore.adapters.numpy.columns import (
    PARTS,
    UNINDEXED,
    Column,
    ColumnIndex,
    build_column,
    build_columns,
    stored_parts,
)
from vecstore.errors import StoreCorrupted
from vecstore.records import Metadata
from vecstore.reserved import META_HASH_KEY, VECTOR_HASH_KEY

Array = npt.NDArray[Any]
Ints = npt.NDArray[np.int64]
COLUMN = "c:"
HASHED = (VECTOR_HASH_KEY, META_HASH_KEY)
HEXES = re.compile(r"[0-9a-f]*")
FIXED = ("texts.none", "hash.has", *(f"hash.{k}" for k in HASHED))
"""Arrays of one fixed-size item per row."""
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
    plain, hashed = _split_hashes(metadata)
    arrays.update(hashed)
    dumps = orjson.dumps
    arrays["meta.off"], arrays["meta.blob"] = _blob([dumps(m) for m in plain])
    for key, parts in build_columns(metadata).items():
        for part, array in parts.items():
            arrays[f"{COLUMN}{key}:{part}"] = array
    arrays.update(postings.build(texts))
    return arrays


def _split_hashes(metadata: Sequence[Metadata]) -> tuple[list[Metadata], dict[str, Array]]:
    """The metadata without its change hashes, and the hashes as 16-byte rows.

    Hex in JSON they would be a third of a record's bytes; ``hash.has`` says which a row holds
    (bit 1: the vector hash, bit 2: the metadata hash). Only when every record holds both as
    32-digit lowercase hex (what vecstore writes) are they taken out; otherwise the JSON keeps
    them as they are.
    """
    n = len(metadata)
    try:
        held = [[meta[key] for meta in metadata] for key in HASHED]
        # A TypeError: not all strings.
        joined = ["".join(values) for values in held]  # type: ignore[arg-type]
    except (KeyError, TypeError):
        return list(metadata), {}
    if not all(len(j) == 32 * n and HEXES.fullmatch(j) for j in joined):
        return list(metadata), {}
    arrays = {
        f"hash.{key}": np.frombuffer(bytes.fromhex(j), np.uint8).reshape(n, 16)
        for key, j in zip(HASHED, joined, strict=True)
    }
    plain = []
    for meta in metadata:
        kept = dict(meta)
        del kept[HASHED[0]], kept[HASHED[1]]
        plain.append(kept)
    return plain, {**arrays, "hash.has": np.full(n, 3, np.uint8)}


class Records:
    """One segment's records, read from its arrays on demand (a table file or a dict)."""

    def __init__(self, arrays: Mapping[str, Array], where: str) -> None:
        self._arrays = arrays
        self.where = where  # the file, for errors
        self.rows = len(self["ids.off"]) - 1
        self.columns = ColumnIndex(self.rows, self._column)
        names = arrays.keys()
        self._keys = {n[len(COLUMN) :].rsplit(":", 1)[0] for n in names if n.startswith(COLUMN)}
        self._hashed = "hash.has" in arrays
        self._strings: dict[str, tuple[Array, Array]] = {}

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
        return sorted(self._keys)

    def _column(self, key: str) -> Column | None:
        if key in UNINDEXED:  # built from the records, once per segment
            metas = [self.metadata(r) for r in range(self.rows)]
            if not any(key in m for m in metas):
                return None
            return Column.from_arrays(build_column(metas, key).get, self.rows)
        if key not in self._keys:
            return None
        prefix = f"{COLUMN}{key}:"
        col = Column.from_arrays(lambda part: self._arrays.get(prefix + part), self.rows)
        lengths = [col.scalars.num, col.scalars.code, col.scalars.flag, col.present]
        if any(a is not None and len(a) != self.rows for a in lengths):
            raise StoreCorrupted(f"{self.where}: the column of {key!r} has the wrong length")
        if (
            len(col.list_rows)
            and not 0 <= int(col.list_rows.min()) <= int(col.list_rows.max()) < self.rows
        ):
            raise StoreCorrupted(f"{self.where}: the column of {key!r} names rows it lacks")
        return col

    def _bytes(self, field: str, row: int) -> bytes:
        pair = self._strings.get(field)
        if pair is None:
            pair = self._strings[field] = (self[f"{field}.off"], self[f"{field}.blob"])
        off, blob = pair
        a, b = off[row : row + 2].tolist()
        if not 0 <= a <= b <= len(blob):
            raise StoreCorrupted(f"{self.where}: row {row}'s {field} lies outside the file")
        return blob[a:b].tobytes()

    def text(self, row: int) -> str | None:
        """The text at ``row``."""
        return None if self["texts.none"][row] else self._decode("texts", row)

    def metadata(self, row: int) -> Metadata:
        """The metadata at ``row``, a new dict."""
        return self._parsed(self._bytes("meta", row), row)

    def _many(self, field: str, rows: Ints) -> list[bytes]:
        off = np.asarray(self[f"{field}.off"])
        blob = self[f"{field}.blob"]
        starts, ends = off[rows].tolist(), off[rows + 1].tolist()
        if len(rows) and not (0 <= min(starts) and max(ends) <= len(blob)):
            raise StoreCorrupted(f"{self.where}: a {field} lies outside the file")
        if not all(a <= b for a, b in zip(starts, ends, strict=True)):
            raise StoreCorrupted(f"{self.where}: a {field} lies outside the file")
        return [blob[a:b].tobytes() for a, b in zip(starts, ends, strict=True)]

    def ids_of(self, rows: Ints) -> list[str]:
        """The ids at ``rows``."""
        try:
            return [b.decode() for b in self._many("ids", np.asarray(rows, dtype=np.int64))]
        except UnicodeDecodeError as exc:
            raise StoreCorrupted(f"{self.where}: an id is damaged") from exc

    def read(self, rows: Ints) -> list[tuple[str, str | None, Metadata]]:
        """(id, text, metadata) of each of ``rows``: each field's offsets read at once."""
        rows = np.asarray(rows, dtype=np.int64)
        try:
            ids = [b.decode() for b in self._many("ids", rows)]
            texts = [b.decode() for b in self._many("texts", rows)]
        except UnicodeDecodeError as exc:
            raise StoreCorrupted(f"{self.where}: an id or text is damaged") from exc
        none = np.asarray(self["texts.none"])[rows].tolist()
        metas = [
            self._parsed(raw, row, hashes=False)
            for row, raw in zip(rows.tolist(), self._many("meta", rows), strict=True)
        ]
        if self._hashed:  # each hash column read once for all rows
            has = np.asarray(self["hash.has"])[rows].tolist()
            for bit, key in enumerate(HASHED):
                held = np.asarray(self[f"hash.{key}"])[rows]
                for meta, flags, value in zip(metas, has, held, strict=True):
                    if flags >> bit & 1:
                        meta[key] = value.tobytes().hex()
        return [
            (i, None if n else t, m) for i, t, n, m in zip(ids, texts, none, metas, strict=True)
        ]

    def _parsed(self, raw: bytes, row: int, hashes: bool = True) -> Metadata:
        try:
            meta = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise StoreCorrupted(f"{self.where}: row {row}'s metadata is damaged") from exc
        if not isinstance(meta, dict):
            raise StoreCorrupted(f"{self.where}: row {row}'s metadata is not an object")
        if hashes and self._hashed:
            has = int(self["hash.has"][row])
            for bit, key in enumerate(HASHED):
                if has >> bit & 1:
                    meta[key] = self[f"hash.{key}"][row].tobytes().hex()
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
        order = np.argsort(hashes)  # sorted probes walk the index in order: cache-friendly
        lo = np.empty(len(hashes), np.int64)
        hi = np.empty(len(hashes), np.int64)
        lo[order] = np.searchsorted(table, hashes[order], "left")
        hi[order] = np.searchsorted(table, hashes[order], "right")
        hit = np.flatnonzero(hi > lo)
        if len(hit) == 0:
            return []
        counts = (hi - lo)[hit]
        queries = np.repeat(hit, counts)
        positions = np.repeat(lo[hit] - np.cumsum(counts) + counts, counts) + np.arange(
            len(queries)
        )
        rows = np.asarray(self["ids.perm"])[positions]
        if len(rows) and not (0 <= rows.min() and rows.max() < self.rows):
            raise StoreCorrupted(f"{self.where}: the id index names a row it does not hold")
        off = np.asarray(self["ids.off"])
        starts, ends = off[rows].tolist(), off[rows + 1].tolist()
        blob = self["ids.blob"]
        if len(blob) < max(ends, default=0):
            raise StoreCorrupted(f"{self.where}: an id lies outside the file")
        raw = (
            blob.tobytes() if isinstance(blob, np.ndarray) and len(rows) * 64 > len(blob) else None
        )
        out = []
        for q, row, a, b in zip(queries.tolist(), rows.tolist(), starts, ends, strict=True):
            held = raw[a:b] if raw is not None else bytes(blob[a:b])
            if held == ids[q].encode():
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
    for name in FIXED:
        if any(name in rec.arrays() for rec, _ in parts):
            out[name] = np.concatenate(
                [_fixed(rec, name, r) for (rec, _), r in zip(parts, rows_of, strict=True)]
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
    out.update(
        postings.concat([(rec.arrays(), rec.rows, keep) for rec, keep in parts], starts.tolist())
    )
    return out


def _fixed(rec: Records, name: str, rows: Ints) -> Array:
    if name in rec.arrays():
        return np.asarray(rec[name])[rows]
    width = (16,) if name.startswith("hash.") and name != "hash.has" else ()
    return np.zeros((len(rows), *width), bool if name == "texts.none" else np.uint8)


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
        scalars, elements = col.scalars.full(), col.elements.full()
        acc["present"].append(col.has()[rows])
        acc["num"].append(scalars["num"][rows])
        acc["code"].append(remap[scalars["code"][rows]])
        acc["flag"].append(scalars["flag"][rows])
        where = np.full(col.rows, -1, dtype=np.int64)
        where[rows] = np.arange(n)
        new_rows = where[np.asarray(col.list_rows)]
        kept = new_rows >= 0
        acc["lrows"].append(new_rows[kept] + start)
        acc["enum"].append(elements["num"][kept])
        acc["ecode"].append(remap[elements["code"][kept]])
        acc["eflag"].append(elements["flag"][kept])
    empty = {"lrows": np.int64, "enum": np.float64, "ecode": np.int32, "eflag": np.int8}
    full = {}
    for part, arrays in acc.items():
        joined = np.concatenate(arrays) if arrays else np.empty(0, empty.get(part, bool))
        full[part] = joined.astype(empty[part]) if part in empty else joined
    full["voff"], full["vblob"] = _blob(vocab)
    return {f"{COLUMN}{key}:{part}": array for part, array in stored_parts(full).items()}
