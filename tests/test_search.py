"""Exact top-k against brute force, including masks, ties and several blocks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vecstore.adapters.numpy import dense as search


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 300),
    b=st.integers(1, 4),
    k=st.integers(1, 40),
    seed=st.integers(0, 999),
    masked=st.booleans(),
    coarse=st.booleans(),
)
def test_topk_matches_brute_force(
    n: int, b: int, k: int, seed: int, masked: bool, coarse: bool
) -> None:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, 6)).astype(np.float32)
    if coarse:  # many exact ties
        matrix = np.round(matrix).astype(np.float32)
    queries = rng.standard_normal((b, 6)).astype(np.float32)
    mask = rng.random(n) < 0.6 if masked else None
    idx, scores = search.topk(matrix, queries, k, mask, block_rows=37)
    full = queries @ matrix.T
    allowed = np.arange(n) if mask is None else np.flatnonzero(mask)
    width = min(k, len(allowed))
    assert idx.shape == scores.shape == (b, width)
    for q in range(b):
        expected = sorted(allowed.tolist(), key=lambda i: (-full[q, i], i))[:width]
        np.testing.assert_allclose(scores[q], full[q, expected], rtol=1e-5, atol=1e-5)
        # Same ids, except where float rounding reorders near-equal scores.
        assert idx[q].tolist() == expected or np.allclose(
            np.sort(full[q, idx[q]]), np.sort(full[q, expected]), atol=1e-5
        )


@pytest.mark.parametrize("masked", [False, True])
def test_single_query_split_across_threads(masked: bool) -> None:
    rng = np.random.default_rng(7)
    n = search.PARALLEL_MIN_ROWS + 1234
    matrix = np.round(rng.standard_normal((n, 8)), 1).astype(np.float32)  # ties across halves
    q = rng.standard_normal((1, 8)).astype(np.float32)
    mask = rng.random(n) < 0.7 if masked else None
    idx, scores = search.topk(matrix, q, 25, mask, block_rows=1000)
    full = (q @ matrix.T)[0]
    if mask is not None:
        full[~mask] = -np.inf
    expected = np.lexsort((np.arange(n), -full))[:25]
    np.testing.assert_allclose(scores[0], full[expected], atol=1e-5)
    assert np.allclose(np.sort(full[idx[0]]), np.sort(full[expected]), atol=1e-5)
