"""Most-similar pairs and near-duplicate groups over a collection, exactly.

The vectors are scored in square tiles of :data:`PAIR_BLOCK` rows: only tiles on or above the
diagonal (cosine is symmetric) and, inside a diagonal tile, only cells above it (no self pairs,
each pair once). A running k-th best score lets most tiles cost one comparison pass, so memory is
the vectors plus a few tiles, never an n x n matrix.

The vectors come from the backend in place when it can hand over its matrix (the NumPy store
memory-maps it), otherwise streamed out through the store's filtered ``scan``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from vecstore.errors import InvalidInput
from vecstore.filters import Filter
from vecstore.jobs.base import Target
from vecstore.records import Pair, Vectors

PAIR_BLOCK = 4096
"""Rows per tile: a tile of scores is PAIR_BLOCK**2 float32 (64 MiB)."""
SCAN_BATCH = 2048
DEFAULT_TOP = 10
TileProgress = Callable[[int, int], None]
"""Called with (tiles done, tiles in all)."""


def check_top(top: Any) -> int:
    """Return ``top`` if it is a positive int."""
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or top <= 0:
        raise InvalidInput(f"top must be a positive int, got {top!r}", field="top")
    return int(top)


def check_threshold(threshold: Any) -> float:
    """Return ``threshold`` if it is a number in [-1, 1]."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.floating):
        raise InvalidInput(f"threshold must be a number, got {threshold!r}", field="threshold")
    value = float(threshold)
    if not (math.isfinite(value) and -1.0 <= value <= 1.0):
        raise InvalidInput(f"threshold must be within [-1, 1], got {value}", field="threshold")
    return value


def collection_vectors(target: Target, where: Filter | None) -> tuple[list[str], Vectors]:
    """Ids and unit vectors of the records ``where`` selects, in the store's order."""
    source = target.backend.abilities.matrix
    if source is not None:
        found, matrix = source.matrix(where)
        return list(found), matrix
    ids: list[str] = []
    parts: list[Vectors] = []
    for batch in target.backend.scan(SCAN_BATCH, with_vectors=True, where=where):
        kept = [r for r in batch if r.vector is not None]
        ids.extend(r.id for r in kept)
        parts.extend(r.vector for r in kept if r.vector is not None)
    if not parts:
        return [], np.empty((0, target.info.dimension), np.float32)
    return ids, np.vstack(parts).astype(np.float32, copy=False)


class _Best:
    """The best pairs seen so far: all above ``floor``, at most ``top`` of them when set."""

    def __init__(self, top: int | None, floor: float) -> None:
        self.top = top
        self.floor = floor
        self.i = np.empty(0, np.int64)
        self.j = np.empty(0, np.int64)
        self.s = np.empty(0, np.float32)

    @property
    def cutoff(self) -> float:
        """Scores below this can no longer enter."""
        if self.top is not None and len(self.s) >= self.top:
            return max(float(self.s[-1]), self.floor)
        return self.floor

    @staticmethod
    def _tile_bound(
        tile: npt.NDArray[np.float32], row_max: npt.NDArray[np.float32], top: int
    ) -> float:
        """A score at most the tile's top-th best, found without sorting the tile."""
        if top <= len(row_max):
            # top distinct rows reach the top-th largest row maximum: top cells score >= it.
            return float(np.partition(row_max, len(row_max) - top)[-top])
        flat = tile.ravel()
        return float(np.partition(flat, flat.size - top)[-top])

    def add(self, tile: npt.NDArray[np.float32], row0: int, col0: int) -> None:
        """Take the cells of ``tile`` (at row0, col0) that can still enter."""
        # One reduction pass finds the few rows worth a look; only those are compared cell by
        # cell. -inf marks cells on and below the diagonal.
        row_max = tile.max(axis=1)
        cutoff = self.cutoff
        if self.top is not None and len(self.s) < self.top and tile.size > self.top:
            cutoff = max(cutoff, self._tile_bound(tile, row_max, self.top))
        if cutoff > -np.inf:
            rows = np.flatnonzero(row_max >= cutoff)
            r, c = np.nonzero(tile[rows] >= cutoff)
        else:
            rows = np.flatnonzero(row_max > -np.inf)
            r, c = np.nonzero(np.isfinite(tile[rows]))
        if len(r) == 0:
            return
        r = rows[r]
        s = tile[r, c]
        if self.top is not None and len(s) > self.top:
            kth = np.partition(s, len(s) - self.top)[len(s) - self.top]
            keep = s >= kth
            r, c, s = r[keep], c[keep], s[keep]
        i = np.concatenate([self.i, r + row0])
        j = np.concatenate([self.j, c + col0])
        s = np.concatenate([self.s, s])
        order = np.lexsort((j, i, -s))
        if self.top is not None:
            order = order[: self.top]
        self.i, self.j, self.s = i[order], j[order], s[order]


def top_pairs(
    matrix: Vectors,
    top: int | None,
    threshold: float | None,
    *,
    block: int = PAIR_BLOCK,
    progress: TileProgress | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Index pairs (i < j) with their scores, best first, ties by (i, j)."""
    n = matrix.shape[0]
    best = _Best(top, -np.inf if threshold is None else threshold)
    starts = list(range(0, n, block))
    below = np.tri(min(block, n), dtype=bool)  # the diagonal and below, for diagonal tiles
    total = len(starts) * (len(starts) + 1) // 2
    done = 0
    for a in starts:
        rows = np.ascontiguousarray(matrix[a : a + block])
        for b in starts:
            if b < a:
                continue
            cols = rows if b == a else matrix[b : b + block]
            tile = rows @ cols.T
            if b == a:  # only above the diagonal: no self pairs, each pair once
                tile[below[: len(rows), : len(cols)]] = -np.inf
            best.add(tile, a, b)
            done += 1
            if progress is not None:
                progress(done, total)
    i, j, s = best.i, best.j, best.s
    if threshold is not None:
        # Tiles compare in float32, where a threshold such as 1e-300 rounds to 0; the answer
        # holds only scores at or above the threshold itself.
        keep = s.astype(np.float64) >= threshold
        i, j, s = i[keep], j[keep], s[keep]
    return i, j, np.clip(s, -1.0, 1.0)


def similar_pairs(
    target: Target,
    top: int | None = None,
    threshold: float | None = None,
    where: Filter | None = None,
    progress: TileProgress | None = None,
) -> list[Pair]:
    """See :meth:`vecstore.Collection.similar_pairs`."""
    limit = check_top(top) if top is not None else None
    floor = check_threshold(threshold) if threshold is not None else None
    if limit is None and floor is None:
        limit = DEFAULT_TOP
    ids, matrix = collection_vectors(target, where)
    if len(ids) < 2:
        return []
    i, j, s = top_pairs(matrix, limit, floor, progress=progress)
    return [
        Pair(ids[a], ids[b], float(score))
        for a, b, score in zip(i.tolist(), j.tolist(), s.tolist(), strict=True)
    ]


def near_duplicates(
    target: Target,
    threshold: float,
    where: Filter | None = None,
    progress: TileProgress | None = None,
) -> list[list[str]]:
    """Groups of records linked by similarity >= ``threshold`` (connected components)."""
    floor = check_threshold(threshold)
    ids, matrix = collection_vectors(target, where)
    if len(ids) < 2:
        return []
    i, j, _ = top_pairs(matrix, None, floor, progress=progress)
    parent = list(range(len(ids)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[str]] = {}
    for x in sorted({v for pair in zip(i.tolist(), j.tolist(), strict=True) for v in pair}):
        groups.setdefault(root(x), []).append(ids[x])
    return [groups[r] for r in sorted(groups)]
