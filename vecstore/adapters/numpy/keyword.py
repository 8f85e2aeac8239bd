"""Keyword (BM25) search over a NumPy-store state, from the postings in each segment's table.

The corpus statistics BM25 needs (``N``, ``df``; :mod:`vecstore.keywords`) are counted at query
time over the live rows, so a delete counts at once. Tables written before keyword search
existed lack postings (:mod:`postings`): keyword queries are refused until
``vecstore upgrade`` adds them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from vecstore import keywords
from vecstore.adapters.base import Fusion, fused_order
from vecstore.adapters.numpy.dense import search as dense_search
from vecstore.adapters.numpy.postings import checked
from vecstore.adapters.numpy.state import Mask, State, masks
from vecstore.filters import Filter
from vecstore.records import Vectors

SPARSE_RATIO = 16  # rows per posting above which scores are summed over the rows found only
Array = npt.NDArray[Any]
Ints = npt.NDArray[np.int64]


def search(
    state: State,
    terms: keywords.Terms,
    k: int,
    where: Filter | None,
    picked: list[Mask | None] | None = None,
) -> tuple[Ints, Any]:
    """Global rows of the ``k`` best BM25 scores among live rows ``where`` selects, and scores.

    Best first; equal scores by row. Corpus statistics are over every live row, the filter only
    chooses among them (as Qdrant's collection-wide IDF does). ``picked``: ``masks(state,
    where)`` when the caller has it already.
    """
    if where is None:
        picked = [None] * len(state.segments)
    elif picked is None:
        picked = masks(state, where)
    corpus = 0
    df = np.zeros(len(terms), np.int64)
    found: list[tuple[int, Array, Array]] = []  # (term index, global rows, weights)
    for seg, mask in zip(state.segments, picked, strict=True):
        length, seg_terms, start, rows, w = checked(
            seg.records.arrays(), seg.records.rows, seg.records.where
        )
        has = length > 0
        corpus += int(np.count_nonzero(has if seg.alive is None else has & seg.alive))
        at = np.searchsorted(seg_terms, terms)
        for i in np.flatnonzero(at < len(seg_terms)).tolist():
            if seg_terms[at[i]] != terms[i]:
                continue
            lo, hi = int(start[at[i]]), int(start[at[i] + 1])
            r, ww = rows[lo:hi].astype(np.int64), w[lo:hi]
            if seg.alive is not None:
                live = seg.alive[r]
                r, ww = r[live], ww[live]
            df[i] += len(r)
            if mask is not None:
                chosen = mask[r]
                r, ww = r[chosen], ww[chosen]
            found.append((i, r + seg.start, ww))
    if not found or k == 0:
        return np.empty(0, np.int64), np.empty(0)
    weights_of = keywords.idf(df, corpus)
    all_rows = np.concatenate([r for _, r, _ in found])
    values = np.concatenate([ww.astype(np.float64) * weights_of[i] for i, _, ww in found])
    if not len(all_rows):  # the filter chose none of the rows holding a term
        return np.empty(0, np.int64), np.empty(0)
    # Summed per row: by counting into an array as long as the rows when the postings are
    # many for it (no sort), else over the distinct rows found (no array of every row, which
    # at 10M rows would be 80 MB a query). Either adds each row's terms in the same order.
    size = int(all_rows.max()) + 1
    if size <= SPARSE_RATIO * len(all_rows):
        uniq = np.flatnonzero(np.bincount(all_rows, minlength=size))
        scores = np.bincount(all_rows, weights=values, minlength=size)[uniq]
    else:
        uniq, inverse = np.unique(all_rows, return_inverse=True)
        scores = np.bincount(inverse, weights=values, minlength=len(uniq))
    if len(scores) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth
        uniq, scores = uniq[keep], scores[keep]
    order = np.lexsort((uniq, -scores))[:k]
    return uniq[order], scores[order]


def hybrid(
    state: State,
    vector: Vectors,
    terms: keywords.Terms,
    where: Filter | None,
    fusion: Fusion,
    compact: bool,
) -> tuple[Ints, list[float]]:
    """Global rows of the best by reciprocal rank fusion of the dense and keyword rankings.

    Both rankings are of rows, fused before any record is read, so that only the ``top_k``
    records are read (:func:`vecstore.adapters.base.fused_order`: the fusion of every store).
    """
    picked = masks(state, where) if where is not None else None  # the filter evaluated once
    dense, _ = dense_search(state, vector, fusion.depth, where, compact, picked)[0]
    keyword, _ = search(state, terms, fusion.depth, where, picked)
    order = fused_order(dense.tolist(), keyword.tolist(), fusion.rrf_k, fusion.weights)
    top = order[: fusion.top_k]
    return np.array([row for row, _ in top], np.int64), [score for _, score in top]
