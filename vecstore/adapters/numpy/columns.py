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

import threading
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


MAX_REMEMBERED = 1024
_UNKNOWN = object()


class Vocab:
    """A sorted list of strings held as offsets and UTF-8 bytes: ``code`` by binary search."""

    def __init__(self, offsets: Array, blob: Array) -> None:
        self.offsets = offsets
        self.blob = blob
        self._found: dict[str, int | None] = {}  # codes looked up before (a filter's values)

    def __len__(self) -> int:
        return max(0, len(self.offsets) - 1)

    def item(self, i: int) -> bytes:
        """The UTF-8 bytes of entry ``i``."""
        return bytes(self.blob[int(self.offsets[i]) : int(self.offsets[i + 1])])

    def code(self, value: str) -> int | None:
        """The code of ``value``, or None when no row holds it.

        Readers share this cache without a lock: one ``get`` reads it (a test then a read could
        meet another thread's ``clear`` between the two), and a lost entry is only looked up
        again.
        """
        found = self._found.get(value, _UNKNOWN)
        if found is not _UNKNOWN:
            return found  # type: ignore[return-value]
        if len(self._found) > MAX_REMEMBERED:
            self._found.clear()
        code = self._found[value] = self._search(value.encode())
        return code

    def _search(self, target: bytes) -> int | None:
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
    """Values of one kind of slot (scalars, or list elements), one entry per slot.

    An array is None where the column holds no value of its type (not stored).
    """

    n: int
    num: npt.NDArray[np.float64] | None  # NaN where the value is not a number
    code: npt.NDArray[np.int32] | None  # string code, -1 where not a str
    flag: npt.NDArray[np.int8] | None  # 0/1 for bools, -1 where not a bool

    def equals_any(self, values: Sequence[Scalar], vocab: Vocab) -> Mask:
        """Slots equal to one of ``values`` (bool only equals bool, str only str)."""
        nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        codes = [c for v in values if isinstance(v, str) and (c := vocab.code(v)) is not None]
        flags = [int(v) for v in values if isinstance(v, bool)]
        parts = [
            _isin(arr, vals)
            for arr, vals in ((self.num, nums), (self.code, codes), (self.flag, flags))
            if vals and arr is not None
        ]
        if not parts:
            return np.zeros(self.n, dtype=bool)
        out = parts[0]
        for part in parts[1:]:
            out |= part
        return out

    def compare(self, op: str, value: float) -> Mask:
        """Numeric slots for which ``slot op value`` holds (NaN slots never do, silently)."""
        if self.num is None:
            return np.zeros(self.n, dtype=bool)
        return _COMPARE[op](self.num, value)

    def full(self) -> dict[str, Array]:
        """The three arrays, absent ones filled (for merges)."""
        return {
            "num": np.full(self.n, np.nan) if self.num is None else np.asarray(self.num),
            "code": _absent(self.n, np.int32) if self.code is None else np.asarray(self.code),
            "flag": _absent(self.n, np.int8) if self.flag is None else np.asarray(self.flag),
        }


def _absent(n: int, dtype: Any) -> Array:
    return np.full(n, _NO_CODE, dtype=dtype)


_COMPARE = {"$gt": np.greater, "$gte": np.greater_equal, "$lt": np.less, "$lte": np.less_equal}


def _isin(array: Array, values: Sequence[Any]) -> Mask:
    return array == values[0] if len(values) == 1 else np.isin(array, values)


@dataclass(slots=True)
class Column:
    """One metadata key over the n rows of a segment (``present`` None: every row has it)."""

    rows: int
    present: Mask | None
    scalars: _Typed
    list_rows: npt.NDArray[np.int64]
    elements: _Typed
    vocab: Vocab

    @classmethod
    def from_arrays(cls, get: Callable[[str], Array | None], rows: int) -> Column:
        """The column whose stored arrays ``get(part)`` returns (None: a part not stored)."""
        list_rows = get("lrows")
        if list_rows is None:
            list_rows = np.empty(0, np.int64)
        voff, vblob = get("voff"), get("vblob")
        return cls(
            rows,
            get("present"),
            _Typed(rows, get("num"), get("code"), get("flag")),
            list_rows,
            _Typed(len(list_rows), get("enum"), get("ecode"), get("eflag")),
            Vocab(np.zeros(1, np.int64), np.empty(0, np.uint8))
            if voff is None or vblob is None
            else Vocab(voff, vblob),
        )

    def has(self) -> Mask:
        """Rows holding the key (a new array)."""
        return np.ones(self.rows, dtype=bool) if self.present is None else self.present.copy()

    def equals_any(self, values: Sequence[Scalar]) -> Mask:
        """Rows where some value of the key equals one of ``values``."""
        hit = self.scalars.equals_any(values, self.vocab)
        if len(self.list_rows):
            hit[self.list_rows[self.elements.equals_any(values, self.vocab)]] = True
        return hit

    def compare(self, op: str, value: float) -> Mask:
        """Rows where some numeric value of the key compares true with ``value``."""
        hit = self.scalars.compare(op, value)
        if len(self.list_rows):
            hit[self.list_rows[self.elements.compare(op, value)]] = True
        return hit


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
    if kinds == {float} or kinds == {int} or kinds == {int, float}:
        return {"num": np.array(values, dtype=np.float64)}
    if kinds == {str}:
        vocab = sorted({v.encode() for v in set(values)})
        codes = {s.decode(): i for i, s in enumerate(vocab)}
        voff, vblob = _blob(vocab)
        code = np.fromiter(map(codes.__getitem__, values), np.int32, len(values))
        return {"code": code, "voff": voff, "vblob": vblob}
    return None


def stored_parts(parts: dict[str, Array]) -> dict[str, Array]:
    """Only the parts that hold something: the rest is implied (see :class:`Column`)."""
    out = {}
    for name, array in parts.items():
        if name == "present" and array.all():
            continue
        if name in ("num", "enum") and np.isnan(array).all():
            continue
        if name in ("code", "flag", "ecode", "eflag") and (array == _NO_CODE).all():
            continue
        if name in ("lrows", "enum", "ecode", "eflag") and len(parts["lrows"]) == 0:
            continue
        if name in ("voff", "vblob") and len(parts["voff"]) <= 1:
            continue
        out[name] = array
    return out


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
    return stored_parts(
        {
            "present": present,
            **scalar_parts,
            "lrows": np.asarray(rows, dtype=np.int64),
            "enum": element_parts["num"],
            "ecode": element_parts["code"],
            "eflag": element_parts["flag"],
            "voff": voff,
            "vblob": vblob,
        }
    )


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
        self._building = threading.Lock()  # guards building a column: once, by one thread

    @classmethod
    def of_metadata(cls, metadata: Sequence[Metadata]) -> ColumnIndex:
        """Columns built in memory from records (tests, and segments of the old format)."""
        built = {key: build_column(metadata, key) for meta in metadata for key in meta}
        n = len(metadata)
        return cls(n, lambda key: Column.from_arrays(built[key].get, n) if key in built else None)

    def column(self, key: str) -> Column | None:
        """The column of ``key`` (None: no row has it).

        Built on first use, once: readers of a built column take it with one ``get`` and no
        lock; threads asking for one being built wait for it rather than build it again.
        """
        found = self._columns.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            with self._building:
                found = self._columns.get(key, _UNKNOWN)
                if found is _UNKNOWN:
                    found = self._columns[key] = self._source(key)
        return found  # type: ignore[return-value]

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
            has = col.has()
            return has if node.exists else np.logical_not(has, out=has)
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
