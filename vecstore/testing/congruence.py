"""Congruence: the same random records and filters on the NumPy reference and on a backend.

Both must return the same ids in the same order and scores within :data:`SCORE_TOLERANCE`.
A test module calls :func:`check_congruence` from a hypothesis test with its own collections.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vecstore.collection import Collection
from vecstore.testing.strategies import filters, metadata

SCORE_TOLERANCE = 1e-4


def congruence_cases(
    max_examples: int, max_records: int = 15
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Hypothesis settings and inputs (``metas``, ``where``, ``seed``) for a congruence test."""

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        cases = given(
            metas=st.lists(metadata, min_size=1, max_size=max_records),
            where=filters,
            seed=st.integers(0, 10_000),
        )
        return settings(
            max_examples=max_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )(cases(test))

    return decorate


def random_vectors(seed: int, n: int, dim: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Random unit vectors (n of them); well separated, so float rounding does not reorder them."""
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, dim)).astype(np.float32)
    out: np.ndarray[Any, np.dtype[np.float32]] = m / np.linalg.norm(m, axis=1, keepdims=True)
    return out


def check_congruence(
    other: Collection,
    metas: list[dict[str, Any]],
    where: dict[str, Any],
    seed: int,
    workdir: Path,
) -> None:
    """Compare ``other`` with a fresh NumPy reference (in ``workdir``) on the same records.

    Query, count, delete and get under ``where`` must agree.
    """
    from vecstore.adapters.numpy import NumpyBackend
    from vecstore.encoders import HashEncoder

    dim = other.info.dimension
    reference = Collection(
        "reference", backend=NumpyBackend("reference", path=workdir), encoder=HashEncoder(dim)
    )
    try:
        _compare(reference, other, metas, where, seed)
    finally:
        reference.close()


def _compare(
    reference: Collection,
    other: Collection,
    metas: list[dict[str, Any]],
    where: dict[str, Any],
    seed: int,
) -> None:
    dim = reference.info.dimension
    ids = [f"id-{i}" for i in range(len(metas))]
    vectors = random_vectors(seed, len(metas) + 1, dim)
    for col in (reference, other):
        col.upsert([f"text {i}" for i in ids], ids=ids, metadata=metas, vectors=vectors[:-1])
    query = vectors[-1]
    want = reference.query(query, top_k=len(metas), where=where)
    got = other.query(query, top_k=len(metas), where=where)
    assert [h.id for h in got] == [h.id for h in want], (where, metas)
    np.testing.assert_allclose(
        [h.score for h in got], [h.score for h in want], atol=SCORE_TOLERANCE
    )
    assert [h.metadata for h in got] == [h.metadata for h in want]
    assert other.count(where) == reference.count(where) == len(want)
    other.delete(where=where)
    reference.delete(where=where)
    assert sorted(r.id for r in other.get(ids)) == sorted(r.id for r in reference.get(ids))
