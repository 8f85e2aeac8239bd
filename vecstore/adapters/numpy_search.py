"""Exact top-k search over a NumPy-store state: compact scan first, fp32 rescoring after.

Three routes, one answer (the fp32 top k, ties to the lower row):

* a filter that leaves few rows (under 1/:data:`SPARSE_RATIO` of them): those rows' fp32
  vectors gathered and scored, nothing else read;
* otherwise, with the compact copy present: every row's int8 score and its error interval
  (:mod:`vecstore.adapters.numpy_quant`); each query keeps the k-th best lower end so far, and
  only rows whose upper end reaches the final one are rescored in fp32. Any row of the fp32
  top k has its upper end at or above the k-th best lower end, so it is among those rescored:
  the result is the fp32 top k by construction;
* without it (a collection still in format 1), the fp32 scan of :func:`vecstore.search.topk`.

Rescoring uses the same kernel as the fp32 scan of a single query (``einsum`` row by row), so
a tie in fp32 stays a tie, broken the same way.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vecstore.adapters.numpy_quant import FP32_SLACK, NORM_SLACK, code_queries, int_dots
from vecstore.adapters.numpy_state import State, joined, masks, selected_rows, vectors_of
from vecstore.filters import Filter
from vecstore.records import Vectors
from vecstore.search import SEARCH_THREADS, topk

Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
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
