"""Exact top-k search over a NumPy-store state: compact scan first, fp32 rescoring after.

Three routes, one answer (the fp32 top k, ties to the lower row):

* a filter that leaves few rows (under 1/:data:`SPARSE_RATIO` of them): those rows' fp32
  vectors gathered and scored, nothing else read;
* otherwise, with the compact copy present: every row's int8 score and its error interval
  (:mod:`.quantization`); each query keeps the k-th best lower end so far, and only rows
  whose upper end reaches the final one are rescored in fp32. Any row of the fp32
  top k has its upper end at or above the k-th best lower end, so it is among those rescored:
  the result is the fp32 top k by construction;
* without it (a collection still in format 1), the fp32 scan of :func:`topk`.

Rescoring uses the same kernel as the fp32 scan of a single query (``einsum`` row by row), so
a tie in fp32 stays a tie, broken the same way.

The fp32 kernel, :func:`topk`: exact top-k inner-product search over a float32 matrix.

Scores of a whole batch against a large matrix are never materialised at once: the matrix is
read in row blocks, and after the first block each query keeps a running k-th best score, so a
block costs one comparison pass plus a small merge instead of a full ``argpartition``.

A batch goes through BLAS matrix products (multi-threaded by BLAS itself). A single query does
not: BLAS's matrix-vector kernel was measured here at half the memory bandwidth, while
``np.einsum`` over row blocks streams near it and releases the GIL, so the rows are split
between :data:`SEARCH_THREADS` threads, each keeping its own top k, merged at the end.
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt

from vecstore.adapters.numpy.quantization import FP32_SLACK, NORM_SLACK, code_queries, int_dots
from vecstore.adapters.numpy.state import State, joined, masks, selected_rows, vectors_of
from vecstore.filters import Filter
from vecstore.pools import LazyPool
from vecstore.records import Vectors

Mask = npt.NDArray[np.bool_]
BLOCK_ROWS = 16_384
"""Rows of the matrix scored per block: small enough for the (b, block) scores to stay in cache."""

SEARCH_THREADS = max(1, min(4, os.cpu_count() or 1))
PARALLEL_MIN_ROWS = 65_536
"""A single query over fewer rows than this runs on the calling thread."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

_pool = LazyPool(SEARCH_THREADS, "vecstore-search")


def _best_of(idx: IntArray, sc: FloatArray, k: int) -> tuple[IntArray, FloatArray]:
    """The k best (score desc, index asc) of candidate pairs."""
    order = np.lexsort((idx, -sc))[:k]
    return idx[order], sc[order]


def _scan_one(
    matrix: Vectors, q: Vectors, k: int, mask: Mask | None, lo: int, hi: int, block_rows: int
) -> tuple[IntArray, FloatArray]:
    """Top k of rows [lo, hi) for one query, block by block with a running threshold."""
    best_i = np.empty(0, np.int64)
    best_s = np.empty(0, np.float32)
    threshold = -np.inf
    for start in range(lo, hi, block_rows):
        stop = min(start + block_rows, hi)
        scores = np.einsum("ij,j->i", matrix[start:stop], q)
        if mask is not None:
            scores[~mask[start:stop]] = -np.inf
        # Strictly better than the k-th best: an equal score here has a higher index.
        cand = np.flatnonzero(scores > threshold)
        if len(cand) == 0:
            continue
        if len(cand) > k:
            kth = np.partition(scores[cand], len(cand) - k)[len(cand) - k]
            cand = cand[scores[cand] >= kth]
        best_i, best_s = _best_of(
            np.concatenate([best_i, cand + start]), np.concatenate([best_s, scores[cand]]), k
        )
        if len(best_i) == k:
            threshold = float(best_s[-1])
    return best_i, best_s


def _topk_one(
    matrix: Vectors, q: Vectors, k: int, mask: Mask | None, block_rows: int
) -> tuple[IntArray, FloatArray]:
    n = matrix.shape[0]
    workers = SEARCH_THREADS if n >= PARALLEL_MIN_ROWS else 1
    bounds = np.linspace(0, n, workers + 1).astype(int).tolist()
    ranges = list(zip(bounds[:-1], bounds[1:], strict=True))
    if workers == 1:
        parts = [_scan_one(matrix, q, k, mask, 0, n, block_rows)]
    else:
        parts = list(
            _pool.get().map(lambda r: _scan_one(matrix, q, k, mask, r[0], r[1], block_rows), ranges)
        )
    idx, sc = _best_of(
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), k
    )
    return idx[None, :], sc[None, :]


def _sorted_topk(scores: FloatArray, k: int) -> tuple[IntArray, FloatArray]:
    """Top k of each row of ``scores``: best first, ties by lower index."""
    n = scores.shape[1]
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), (scores.shape[0], n))
    top = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -top), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int64), np.take_along_axis(
        top, order, axis=1
    )


def _merge(
    qi: IntArray, idx: IntArray, sc: FloatArray, b: int, k: int
) -> tuple[IntArray, FloatArray]:
    """Keep the k best (idx, score) pairs for each of b queries; rows padded with -1 / -inf."""
    order = np.lexsort((idx, -sc, qi))
    qi, idx, sc = qi[order], idx[order], sc[order]
    starts = np.searchsorted(qi, np.arange(b))
    rank = np.arange(len(qi)) - starts[qi]
    keep = rank < k
    out_idx = np.full((b, k), -1, dtype=np.int64)
    out_sc = np.full((b, k), -np.inf, dtype=np.float32)
    out_idx[qi[keep], rank[keep]] = idx[keep]
    out_sc[qi[keep], rank[keep]] = sc[keep]
    return out_idx, out_sc


def topk(
    matrix: Vectors,
    queries: Vectors,
    k: int,
    mask: npt.NDArray[np.bool_] | None = None,
    *,
    block_rows: int = BLOCK_ROWS,
) -> tuple[IntArray, FloatArray]:
    """Return (indices, scores), each (b, k'), k' = min(k, rows allowed by ``mask``).

    ``queries`` is (b, d); rows of ``matrix`` where ``mask`` is False are never returned.
    """
    b = queries.shape[0]
    if mask is not None:
        rows = np.flatnonzero(mask)
        if len(rows) < matrix.shape[0] // 2:
            idx, sc = topk(np.ascontiguousarray(matrix[rows]), queries, k, block_rows=block_rows)
            return rows[idx], sc
    n = matrix.shape[0]
    allowed = n if mask is None else int(mask.sum())
    k = min(k, allowed)
    if k == 0 or b == 0:
        return np.empty((b, 0), np.int64), np.empty((b, 0), np.float32)
    if b == 1:
        return _topk_one(matrix, queries[0], k, mask, block_rows)
    best_idx = np.full((b, k), -1, dtype=np.int64)
    best_sc = np.full((b, k), -np.inf, dtype=np.float32)
    threshold = np.full(b, -np.inf, dtype=np.float32)
    for start in range(0, n, block_rows):
        block = matrix[start : start + block_rows]
        scores = queries @ block.T
        if mask is not None:
            scores[:, ~mask[start : start + block_rows]] = -np.inf
        if start == 0:
            kk = min(k, block.shape[0])
            part, top = _sorted_topk(scores, kk)
            best_idx[:, :kk], best_sc[:, :kk] = part, top
        else:
            # Strictly better than the k-th best: an equal score here has a higher index.
            qi, col = np.nonzero(scores > threshold[:, None])
            if len(qi) == 0:
                continue
            cand_sc = scores[qi, col]
            keep = best_idx >= 0
            all_q = np.concatenate([np.nonzero(keep)[0], qi])
            all_i = np.concatenate([best_idx[keep], col + start])
            all_s = np.concatenate([best_sc[keep], cand_sc])
            best_idx, best_sc = _merge(all_q, all_i, all_s, b, k)
        threshold = np.where(best_idx[:, -1] >= 0, best_sc[:, -1], -np.inf).astype(np.float32)
    # k <= allowed rows, so the k best are all real (finite) scores.
    return best_idx, best_sc


# -- over a store's state ----------------------------------------------------------------------

Ints = npt.NDArray[np.int64]
Found = list[tuple[Ints, npt.NDArray[np.float32]]]
SPARSE_RATIO = 16
SCAN_ROWS = 65_536


def _best(
    rows: Ints, scores: npt.NDArray[np.float32], k: int
) -> tuple[Ints, npt.NDArray[np.float32]]:
    """The k best (score desc, row asc); every row tied with the k-th is considered."""
    if len(scores) > 4 * k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth
        rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))[:k]
    return rows[order], scores[order]


def exact_rows(state: State, queries: Vectors, rows: Ints, k: int) -> Found:
    """The top k of sorted global ``rows``, scored in fp32, per query."""
    matrix = vectors_of(state, rows)
    out = []
    for q in queries:
        scores = np.einsum("ij,j->i", matrix, q) if len(rows) else np.empty(0, np.float32)
        out.append(_best(rows, scores.astype(np.float32, copy=False), k))
    return out


def exact_scan(state: State, queries: Vectors, k: int, mask: Mask | None) -> Found:
    """The fp32 scan of every part, merged."""
    found: list[list[tuple[Ints, npt.NDArray[np.float32]]]] = [[] for _ in queries]
    for start, maps in state.parts:
        part_mask = None if mask is None else mask[start : start + maps.rows]
        idx, sc = topk(maps.f32, queries, k, part_mask)
        for q in range(len(queries)):
            found[q].append((idx[q] + start, sc[q]))
    out = []
    for parts in found:
        rows = np.concatenate([r for r, _ in parts]) if parts else np.empty(0, np.int64)
        scores = np.concatenate([s for _, s in parts]) if parts else np.empty(0, np.float32)
        out.append(_best(rows.astype(np.int64), scores.astype(np.float32), k))
    return out


def compact_scan(state: State, queries: Vectors, k: int, mask: Mask | None) -> Found:
    """The int8 scan with error intervals, then fp32 rescoring of the rows that can place."""
    q8, sq, eq, qn = code_queries(queries)
    slope = qn + eq  # radius = err * slope + base
    base = eq * NORM_SLACK + FP32_SLACK * np.maximum(qn, 1.0)
    b = len(queries)
    lowers = [np.empty(0) for _ in range(b)]
    threshold = np.full(b, -np.inf)
    cands: list[list[tuple[Ints, npt.NDArray[np.float64]]]] = [[] for _ in range(b)]
    for start, maps in state.parts:
        assert maps.q8 is not None and maps.qe is not None
        for lo in range(0, maps.rows, SCAN_ROWS):
            hi = min(lo + SCAN_ROWS, maps.rows)
            qe = np.asarray(maps.qe[lo:hi], dtype=np.float64)
            approx = int_dots(q8, maps.q8[lo:hi], SEARCH_THREADS)
            approx *= qe[:, 0]
            block_mask = None if mask is None else mask[start + lo : start + hi]
            for i in range(b):
                row_approx = approx[i]
                row_approx *= sq[i]
                radius = qe[:, 1] * slope[i]
                radius += base[i]
                lower = row_approx - radius
                if block_mask is not None:
                    lower[~block_mask] = -np.inf
                better = lower[lower > threshold[i]]
                if len(better):
                    merged = np.concatenate([lowers[i], better])
                    if len(merged) > k:
                        merged = np.partition(merged, len(merged) - k)[len(merged) - k :]
                    lowers[i] = merged
                    if len(merged) == k:
                        threshold[i] = merged.min()
                upper = row_approx + radius
                floor = max(threshold[i], -np.finfo(np.float64).max)
                keep = upper >= floor
                if block_mask is not None:
                    keep &= block_mask
                sel = np.flatnonzero(keep)
                if len(sel):
                    cands[i].append((sel + (start + lo), upper[sel]))
    out = []
    for i in range(b):
        rows = np.concatenate([r for r, _ in cands[i]]) if cands[i] else np.empty(0, np.int64)
        ups = np.concatenate([u for _, u in cands[i]]) if cands[i] else np.empty(0)
        rows = rows[ups >= threshold[i]]
        out.extend(exact_rows(state, queries[i : i + 1], np.sort(rows), k))
    return out


def search(
    state: State,
    queries: Vectors,
    k: int,
    where: Filter | None,
    compact: bool = True,
    picked: list[Mask | None] | None = None,
) -> Found:
    """Per query, the global rows of the top k live records ``where`` selects, and scores.

    ``picked``: ``masks(state, where)`` when the caller has it already.
    """
    none: Found = [(np.empty(0, np.int64), np.empty(0, np.float32)) for _ in queries]
    parts = masks(state, where) if picked is None else picked
    if where is not None:
        rows = selected_rows(state, parts)  # type: ignore[arg-type]  # no None with a filter
        if len(rows) == 0 or k == 0:
            return none
        if len(rows) * SPARSE_RATIO < state.rows:  # few: score just those
            return exact_rows(state, queries, rows, k)
    mask = joined(state, parts)
    allowed = state.rows if mask is None else int(np.count_nonzero(mask))
    k = min(k, allowed)
    if k == 0 or len(queries) == 0:
        return none
    if compact and all(maps.q8 is not None for _, maps in state.parts):
        return compact_scan(state, queries, k, mask)
    return exact_scan(state, queries, k, mask)
