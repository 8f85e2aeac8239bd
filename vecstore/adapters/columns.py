"""Columnar metadata for the NumPy store: filters evaluated as array operations.

Each metadata key of a segment is a :class:`Column`: typed arrays for scalar values (numbers,
dictionary-coded strings, bools) and the same for list elements, exploded with the row they
belong to. Columns are built once, when a segment is written (:func:`build_columns`), stored as
arrays of its table file and memory-mapped: a filter reads only the columns it names, in a few
vectorised passes, with no Python loop over records.

String codes are positions in the column's vocabulary sorted by UTF-8 bytes, so a value's code
is found by binary search over the stored vocabulary, never by loading it whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vecstore.filters import And, Compare, Exists, Filter, Not, Or
from vecstore.records import Metadata, Scalar
from vecstore.reserved import HASH_KEY, META_HASH_KEY, VECTOR_HASH_KEY

Mask = npt.NDArray[np.bool_]
Array = npt.NDArray[Any]
_NO_CODE = -1
UNINDEXED = frozenset({VECTOR_HASH_KEY, META_HASH_KEY, HASH_KEY})
"""Keys with a distinct value per record that vecstore reads by record, never filters on: no
stored column (it would cost more than the record itself). A filter naming one still works: the
column is built from the segment's records when first asked for."""
PARTS = ("present", "num", "code", "flag", "lrows", "enum", "ecode", "eflag", "voff", "vblob")


class Vocab:
    """A sorted list of strings held as offsets and UTF-8 bytes: ``code`` by binary search."""

    def __init__(self, offsets: Array, blob: Array) -> None:
        self.offsets = offsets
        self.blob = blob

    def __len__(self) -> int:
        return max(0, len(self.offsets) - 1)

    def item(self, i: int) -> bytes:
        """The UTF-8 bytes of entry ``i``."""
        return bytes(self.blob[int(self.offsets[i]) : int(self.offsets[i + 1])])

    def code(self, value: str) -> int | None:
        """The code of ``value``, or None when no row holds it."""
        target = value.encode()
        lo, hi = 0, len(self)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.item(mid) < target:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(self) and self.item(lo) == target else None

    def strings(self) -> list[str]:
        """Every entry, decoded (for merges)."""
        raw = self.blob.tobytes()
        bounds = self.offsets.tolist()
        return [raw[a:b].decode() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@dataclass(slots=True)
class _Typed:
    """Values of one kind of slot (scalars, or list elements), one entry per slot."""

    num: npt.NDArray[np.float64]  # NaN where the value is not a number
    code: npt.NDArray[np.int32]  # string code, -1 where not a str
    flag: npt.NDArray[np.int8]  # 0/1 for bools, -1 where not a bool

    def equals_any(self, values: Sequence[Scalar], vocab: Vocab) -> Mask:
        """Slots equal to one of ``values`` (bool only equals bool, str only str)."""
        nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        codes = [c for v in values if isinstance(v, str) and (c := vocab.code(v)) is not None]
        flags = [int(v) for v in values if isinstance(v, bool)]
        parts = [
            _isin(arr, vals)
            for arr, vals in ((self.num, nums), (self.code, codes), (self.flag, flags))
            if vals
        ]
        if not parts:
            return np.zeros(len(self.num), dtype=bool)
        out = parts[0]
        for part in parts[1:]:
            out |= part
        return out

    def compare(self, op: str, value: float) -> Mask:
        """Numeric slots for which ``slot op value`` holds (NaN slots never do)."""
        with np.errstate(invalid="ignore"):
            if op == "$gt":
                return self.num > value
            if op == "$gte":
                return self.num >= value
            if op == "$lt":
                return self.num < value
            return self.num <= value


def _isin(array: Array, values: Sequence[Any]) -> Mask:
    return array == values[0] if len(values) == 1 else np.isin(array, values)


@dataclass(slots=True)
class Column:
    """One metadata key over the n rows of a segment."""

    present: Mask
    scalars: _Typed
    list_rows: npt.NDArray[np.int64]
    elements: _Typed
    vocab: Vocab

    @classmethod
    def from_arrays(cls, get: Callable[[str], Array]) -> Column:
        """The column whose stored arrays ``get(part)`` returns."""
        return cls(
            get("present"),
            _Typed(get("num"), get("code"), get("flag")),
            get("lrows"),
            _Typed(get("enum"), get("ecode"), get("eflag")),
            Vocab(get("voff"), get("vblob")),
        )

    def _any(self, scalar_hit: Mask, element_hit: Mask) -> Mask:
        if len(self.list_rows) == 0:
            return scalar_hit
        scalar_hit[self.list_rows[element_hit]] = True
        return scalar_hit

    def equals_any(self, values: Sequence[Scalar]) -> Mask:
        """Rows where some value of the key equals one of ``values``."""
        return self._any(
            self.scalars.equals_any(values, self.vocab),
            self.elements.equals_any(values, self.vocab),
        )

    def compare(self, op: str, value: float) -> Mask:
        """Rows where some numeric value of the key compares true with ``value``."""
        return self._any(self.scalars.compare(op, value), self.elements.compare(op, value))


def _typed(values: Sequence[Scalar | None], codes: Mapping[str, int]) -> dict[str, Array]:
    n = len(values)
    num = np.full(n, np.nan)
    code = np.full(n, _NO_CODE, dtype=np.int32)
    flag = np.full(n, -1, dtype=np.int8)
    for i, v in enumerate(values):
        if isinstance(v, bool):
            flag[i] = v
        elif isinstance(v, str):
            code[i] = codes[v]
        elif v is not None:
            num[i] = v
    return {"num": num, "code": code, "flag": flag}


def _blob(items: Sequence[bytes]) -> tuple[Array, Array]:
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in items], out=offsets[1:])
    return offsets, np.frombuffer(b"".join(items), dtype=np.uint8).copy()


def _uniform(values: list[Any]) -> dict[str, Array] | None:
    """The arrays of a key every record holds with one scalar type (the common case, fast)."""
    kinds = set(map(type, values))
    n = len(values)
    if kinds == {float} or kinds == {int} or kinds == {int, float}:
        num = np.array(values, dtype=np.float64)
        code, vocab = np.full(n, _NO_CODE, dtype=np.int32), []
    elif kinds == {str}:
        vocab = sorted({v.encode() for v in set(values)})
        codes = {s.decode(): i for i, s in enumerate(vocab)}
        num, code = np.full(n, np.nan), np.fromiter(map(codes.__getitem__, values), np.int32, n)
    else:
        return None
    voff, vblob = _blob(vocab)
    return {
        "present": np.ones(n, dtype=bool),
        "num": num,
        "code": code,
        "flag": np.full(n, -1, dtype=np.int8),
        "lrows": np.empty(0, np.int64),
        "enum": np.empty(0, np.float64),
        "ecode": np.empty(0, np.int32),
        "eflag": np.empty(0, np.int8),
        "voff": voff,
        "vblob": vblob,
    }


def build_column(metadata: Sequence[Metadata], key: str) -> dict[str, Array]:
    """The stored arrays (by part name) of ``key`` over ``metadata``, one pass."""
    fast = _uniform([meta.get(key) for meta in metadata])
    if fast is not None:
        return fast
    n = len(metadata)
    present = np.zeros(n, dtype=bool)
    scalars: list[Scalar | None] = [None] * n
    rows: list[int] = []
    elements: list[Scalar] = []
    for i, meta in enumerate(metadata):
        value = meta.get(key)
        if value is None:
            continue
        present[i] = True
        if isinstance(value, list):
            rows.extend([i] * len(value))
            elements.extend(value)
        else:
            scalars[i] = value
    strings = {v for v in scalars if isinstance(v, str)} | {
        v for v in elements if isinstance(v, str)
    }
    vocab = sorted(s.encode() for s in strings)
    codes = {s.decode(): i for i, s in enumerate(vocab)}
    scalar_parts = _typed(scalars, codes)
    element_parts = _typed(elements, codes)
    voff, vblob = _blob(vocab)
    return {
        "present": present,
        **scalar_parts,
        "lrows": np.asarray(rows, dtype=np.int64),
        "enum": element_parts["num"],
        "ecode": element_parts["code"],
        "eflag": element_parts["flag"],
        "voff": voff,
        "vblob": vblob,
    }


def build_columns(metadata: Sequence[Metadata]) -> dict[str, dict[str, Array]]:
    """Every key's column arrays over ``metadata``, but the :data:`UNINDEXED` keys'."""
    keys: dict[str, None] = {}
    for meta in metadata:
        keys.update(dict.fromkeys(meta))
    return {key: build_column(metadata, key) for key in keys if key not in UNINDEXED}


class ColumnIndex:
    """The columns of one immutable segment of ``rows`` rows, each fetched on first use."""

    def __init__(self, rows: int, source: Callable[[str], Column | None]) -> None:
        self.rows = rows
        self._source = source
        self._columns: dict[str, Column | None] = {}

    @classmethod
    def of_metadata(cls, metadata: Sequence[Metadata]) -> ColumnIndex:
        """Columns built in memory from records (tests, and segments of the old format)."""
        built = {key: build_column(metadata, key) for meta in metadata for key in meta}
        return cls(
            len(metadata),
            lambda key: Column.from_arrays(built[key].__getitem__) if key in built else None,
        )

    def column(self, key: str) -> Column | None:
        """The column of ``key`` (None: no row has it)."""
        if key not in self._columns:
            self._columns[key] = self._source(key)
        return self._columns[key]

    def evaluate(self, node: Filter) -> Mask:
        """Return the rows of the segment that satisfy ``node`` (a new array, free to change)."""
        if isinstance(node, And):
            out = self.evaluate(node.children[0])
            for child in node.children[1:]:
                out &= self.evaluate(child)
            return out
        if isinstance(node, Or):
            out = self.evaluate(node.children[0])
            for child in node.children[1:]:
                out |= self.evaluate(child)
            return out
        if isinstance(node, Not):
            out = self.evaluate(node.child)
            np.logical_not(out, out=out)
            return out
        col = self.column(node.field)
        if isinstance(node, Exists):
            if col is None:
                return np.full(self.rows, not node.exists)
            return col.present.copy() if node.exists else ~col.present
        if col is None:
            return np.full(self.rows, node.op in ("$ne", "$nin"))
        return self._compare(col, node)

    @staticmethod
    def _compare(col: Column, node: Compare) -> Mask:
        if node.op in ("$eq", "$contains", "$ne"):
            hit = col.equals_any([node.value])  # type: ignore[list-item]
        elif node.op in ("$in", "$nin"):
            assert isinstance(node.value, tuple)
            hit = col.equals_any(node.value)
        else:
            assert isinstance(node.value, int | float)
            return col.compare(node.op, float(node.value))
        if node.op in ("$ne", "$nin"):
            np.logical_not(hit, out=hit)
        return hit
