"""Exact top-k against brute force, including masks, ties and several blocks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vecstore import search


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
