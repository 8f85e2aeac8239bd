"""Columnar metadata for the NumPy store: filters evaluated as array operations.

Each metadata key becomes a :class:`Column` built once per immutable segment: typed arrays for
scalar values (numbers, dictionary-coded strings, bools) and the same for list elements,
exploded with the row they belong to. A filter then costs a few vectorised passes, with no
Python loop over records at query time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vecstore.filters import And, Compare, Exists, Filter, Not, Or
from vecstore.records import Metadata, Scalar

Mask = npt.NDArray[np.bool_]
_NO_CODE = -1


@dataclass(slots=True)
class _Typed:
    """Values of one kind of slot (scalars, or list elements), one entry per slot."""

    num: npt.NDArray[np.float64]  # NaN where the value is not a number
    code: npt.NDArray[np.int32]  # string code, -1 where not a str
    flag: npt.NDArray[np.int8]  # 0/1 for bools, -1 where not a bool

    @classmethod
    def build(cls, values: Sequence[Scalar | None], vocab: dict[str, int]) -> _Typed:
        """Type-split ``values``; strings are coded through ``vocab`` (extended)."""
        n = len(values)
        num = np.full(n, np.nan)
        code = np.full(n, _NO_CODE, dtype=np.int32)
        flag = np.full(n, -1, dtype=np.int8)
        for i, v in enumerate(values):
            if isinstance(v, bool):
                flag[i] = v
            elif isinstance(v, str):
                code[i] = vocab.setdefault(v, len(vocab))
            elif v is not None:
                num[i] = v
        return cls(num, code, flag)

    def equals_any(self, values: Sequence[Scalar], vocab: dict[str, int]) -> Mask:
        """Slots equal to one of ``values`` (bool only equals bool, str only str)."""
        out = np.zeros(len(self.num), dtype=bool)
        nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        codes = [vocab[v] for v in values if isinstance(v, str) and v in vocab]
        flags = [int(v) for v in values if isinstance(v, bool)]
        if nums:
            out |= np.isin(self.num, nums)
        if codes:
            out |= np.isin(self.code, codes)
        if flags:
            out |= np.isin(self.flag, flags)
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


@dataclass(slots=True)
class Column:
    """One metadata key over the n rows of a segment."""

    present: Mask
    scalars: _Typed
    list_rows: npt.NDArray[np.int64]
    elements: _Typed
    vocab: dict[str, int]

    @classmethod
    def build(cls, metadata: Sequence[Metadata], key: str) -> Column:
        """Build the column of ``key`` over every row (one pass, at index time)."""
        vocab: dict[str, int] = {}
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
        return cls(
            present,
            _Typed.build(scalars, vocab),
            np.asarray(rows, dtype=np.int64),
            _Typed.build(elements, vocab),
            vocab,
        )

    def _any(self, scalar_hit: Mask, element_hit: Mask) -> Mask:
        out = scalar_hit.copy()
        out[self.list_rows[element_hit]] = True
        return out

    def equals_any(self, values: Sequence[Scalar]) -> Mask:
        """Rows where some value of the key equals one of ``values``."""
        return self._any(
            self.scalars.equals_any(values, self.vocab),
            self.elements.equals_any(values, self.vocab),
        )

    def compare(self, op: str, value: float) -> Mask:
        """Rows where some numeric value of the key compares true with ``value``."""
        return self._any(self.scalars.compare(op, value), self.elements.compare(op, value))


class ColumnIndex:
    """Columns of one immutable segment, built lazily per key and kept."""

    def __init__(self, metadata: Sequence[Metadata]) -> None:
        self._metadata = metadata
        self._columns: dict[str, Column] = {}

    def column(self, key: str) -> Column:
        """The column of ``key``, built on first use."""
        col = self._columns.get(key)
        if col is None:
            col = self._columns[key] = Column.build(self._metadata, key)
        return col

    def evaluate(self, node: Filter) -> Mask:
        """Return the rows of the segment that satisfy ``node``."""
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
            return ~self.evaluate(node.child)
        col = self.column(node.field)
        if isinstance(node, Exists):
            return col.present.copy() if node.exists else ~col.present
        return self._compare(col, node)

    @staticmethod
    def _compare(col: Column, node: Compare) -> Mask:
        if node.op in ("$eq", "$contains", "$ne"):
            hit = col.equals_any([node.value])  # type: ignore[list-item]
            return ~hit if node.op == "$ne" else hit
        if node.op in ("$in", "$nin"):
            assert isinstance(node.value, tuple)
            hit = col.equals_any(node.value)
            return ~hit if node.op == "$nin" else hit
        assert isinstance(node.value, int | float)
        return col.compare(node.op, float(node.value))
