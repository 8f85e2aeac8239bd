"""The NumPy store's keyword index: BM25 postings kept in each segment's table.

Each segment's table (:mod:`vecstore.adapters.numpy.records`) holds, beside its records:

* ``kw.len``: each row's token count (0: no text, or no tokens; never a keyword hit);
* ``kw.terms``: the segment's distinct term ids (uint32, ascending) and ``kw.start`` where each
  one's postings begin;
* ``kw.rows``, ``kw.w``: the postings, by term then row: the local row and its BM25 weight
  ``w(t, d)`` (:mod:`vecstore.keywords`), fixed when the record is written.

So the index is written, merged, compacted, committed and shared by processes exactly as the
records are, with nothing else to keep in step. Searching it: :mod:`keyword`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vecstore import keywords
from vecstore.errors import CapabilityError, StoreCorrupted

Array = npt.NDArray[Any]
Ints = npt.NDArray[np.int64]
NAMES = ("kw.len", "kw.terms", "kw.start", "kw.rows", "kw.w")
UPGRADE_HINT = (
    "this collection was written before keyword search; run `vecstore upgrade` "
    "(or collection.upgrade()) once to index its texts, nothing is re-encoded"
)


def _postings(terms: Array, rows: Array, weights: Array, lengths: Array) -> dict[str, Array]:
    order = np.lexsort((rows, terms))
    ordered = terms[order]
    uniq, first = np.unique(ordered, return_index=True)
    return {
        "kw.len": lengths.astype(np.uint32),
        "kw.terms": uniq.astype(np.uint32),
        "kw.start": np.append(first, len(ordered)).astype(np.int64),
        "kw.rows": rows[order].astype(np.uint32),
        "kw.w": weights[order].astype(np.float32),
    }


def build(texts: Sequence[str | None]) -> dict[str, Array]:
    """The keyword arrays of records with these texts (rows in order)."""
    rows, terms, weights, lengths = keywords.documents(texts)
    return _postings(terms, rows, weights, lengths)


def present(arrays: Mapping[str, Array]) -> bool:
    """Whether a table holds the keyword arrays."""
    return "kw.len" in arrays


def concat(
    parts: Sequence[tuple[Mapping[str, Array], int, Ints | None]], starts: Sequence[int]
) -> dict[str, Array]:
    """The keyword arrays of segments joined (``(arrays, rows, kept rows or None)``).

    Empty when any part lacks them: a merge never makes a half-indexed segment look whole.
    """
    if not all(present(a) for a, _, _ in parts):
        return {}
    terms, rows, weights, lengths = [], [], [], []
    for (arrays, n, keep), start in zip(parts, starts, strict=True):
        t, s = np.asarray(arrays["kw.terms"]), np.asarray(arrays["kw.start"])
        r = np.asarray(arrays["kw.rows"]).astype(np.int64)
        w = np.asarray(arrays["kw.w"])
        tt = np.repeat(t, np.diff(s))
        length = np.asarray(arrays["kw.len"])
        if keep is not None:  # old row -> new row, -1 where dropped
            where = np.full(n, -1, dtype=np.int64)
            where[keep] = np.arange(len(keep))
            r = where[r]
            tt, w, r = tt[r >= 0], w[r >= 0], r[r >= 0]
            length = length[keep]
        terms.append(tt)
        rows.append(r + start)
        weights.append(w)
        lengths.append(length)
    return _postings(
        np.concatenate(terms),
        np.concatenate(rows),
        np.concatenate(weights),
        np.concatenate(lengths),
    )


def checked(arrays: Mapping[str, Array], n: int, where: str) -> tuple[Array, ...]:
    """The five keyword arrays of a table of ``n`` rows, their shapes checked."""
    if not present(arrays):
        raise CapabilityError(UPGRADE_HINT)
    length, terms, start, rows, w = (np.asarray(arrays[k]) for k in NAMES)
    ok = len(length) == n and len(start) == len(terms) + 1 and len(rows) == len(w)
    ok = ok and (len(start) == 0 or (int(start[0]) == 0 and int(start[-1]) == len(rows)))
    if not ok or (len(rows) and int(rows.max()) >= n):
        raise StoreCorrupted(f"{where}: the keyword index does not fit the table")
    return length, terms, start, rows, w
