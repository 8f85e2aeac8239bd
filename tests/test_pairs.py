"""similar_pairs and near_duplicates against brute force, on the in-place and the scan routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import make_collection
from vecstore import Collection, InvalidInput, Pair
from vecstore.jobs.pairs import top_pairs


def brute_force(matrix: np.ndarray[Any, Any]) -> list[tuple[int, int, float]]:
    s = matrix.astype(np.float64) @ matrix.T.astype(np.float64)
    n = len(matrix)
    pairs = [(i, j, float(s[i, j])) for i in range(n) for j in range(i + 1, n)]
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))


def unit_rows(rng: np.random.Generator, n: int, d: int, coarse: bool) -> np.ndarray[Any, Any]:
    m = rng.standard_normal((n, d))
    if coarse:  # exact duplicates and ties
        m = np.round(m)
        m[np.linalg.norm(m, axis=1) == 0, 0] = 1.0
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


def same_up_to_ties(
    got: list[tuple[int, int, float]],
    want: list[tuple[int, int, float]],
    everything: list[tuple[int, int, float]],
) -> None:
    """Same scores rank by rank; a pair may differ only where its true score ties."""
    assert len(got) == len(want)
    true = {(i, j): s for i, j, s in everything}
    assert len({(g[0], g[1]) for g in got}) == len(got)
    for g, w in zip(got, want, strict=True):
        assert abs(g[2] - w[2]) <= 1e-5
        assert (g[0], g[1]) == (w[0], w[1]) or abs(true[(g[0], g[1])] - w[2]) <= 1e-5


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(0, 60),
    d=st.integers(2, 6),
    top=st.integers(1, 30),
    seed=st.integers(0, 999),
    coarse=st.booleans(),
    block=st.sampled_from([1, 4, 7, 64]),
    threshold=st.one_of(st.none(), st.floats(-1, 1)),
)
def test_top_pairs_equal_brute_force(
    n: int, d: int, top: int, seed: int, coarse: bool, block: int, threshold: float | None
) -> None:
    matrix = unit_rows(np.random.default_rng(seed), n, d, coarse)
    everything = brute_force(matrix)
    i, j, s = top_pairs(matrix, top, threshold, block=block)
    got = list(zip(i.tolist(), j.tolist(), s.tolist(), strict=True))
    assert all(a < b for a, b, _ in got)
    want = everything
    if threshold is not None:
        assert all(g[2] >= threshold for g in got)
        clearly_above = sum(w[2] >= threshold + 2e-5 for w in everything)
        assert len(got) >= min(top, clearly_above), "pairs above the threshold went missing"
        # float32 against float64 right at the threshold: compare away from its edge.
        want = [w for w in want if w[2] >= threshold + 1e-5]
        got = [g for g in got if g[2] >= threshold + 1e-5]
    same_up_to_ties(got[:top], want[: min(top, len(got))], everything)


class NoMatrix:
    """A backend without ``matrix``: forces the streaming scan route."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "matrix":
            raise AttributeError(name)
        return getattr(self._inner, name)


@pytest.fixture(params=["in-place", "scan"])
def col(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Collection]:
    c = make_collection(tmp_path)
    if request.param == "scan":
        c = Collection("test", backend=NoMatrix(c.store), encoder=c.encoder)  # type: ignore[arg-type]
        assert c.matrix_source() is None
    yield c
    c.close()


def seed(col: Collection, n: int = 40) -> np.ndarray[Any, Any]:
    vectors = unit_rows(np.random.default_rng(3), n, 32, coarse=False)
    vectors[7] = vectors[3]  # an exact duplicate pair
    col.upsert(
        None,
        ids=[f"r{i}" for i in range(n)],
        vectors=vectors,
        metadata=[{"half": i % 2} for i in range(n)],
    )
    col.delete(["r39"])  # a dead row must never appear
    return vectors[:39]


def test_collection_pairs_match_brute_force(col: Collection) -> None:
    vectors = seed(col)
    want = brute_force(vectors)[:15]
    got = col.similar_pairs(15)
    assert got[0] == Pair("r3", "r7", pytest.approx(1.0, abs=1e-6))
    assert [(p.a, p.b) for p in got] == [(f"r{a}", f"r{b}") for a, b, _ in want]
    np.testing.assert_allclose([p.score for p in got], [w[2] for w in want], atol=1e-5)
    assert len(col.similar_pairs()) == 10


def test_threshold_and_where(col: Collection) -> None:
    vectors = seed(col)
    want = [w for w in brute_force(vectors) if w[2] >= 0.3]
    got = col.similar_pairs(threshold=0.3)
    assert {(p.a, p.b) for p in got} == {(f"r{a}", f"r{b}") for a, b, _ in want}
    assert [p.score for p in got] == sorted((p.score for p in got), reverse=True)
    odd = col.similar_pairs(5, where={"half": 1})
    assert all(int(p.a[1:]) % 2 == 1 and int(p.b[1:]) % 2 == 1 for p in odd)
    assert col.similar_pairs(2, threshold=0.99)[0].a == "r3"


def test_near_duplicate_groups(col: Collection) -> None:
    base = np.eye(32, dtype=np.float32)
    near = base[0] + 0.05 * base[1]
    chain = base[0] + 0.3 * base[1]
    col.upsert(
        None,
        ids=["a", "b", "c", "lonely", "d", "e"],
        vectors=[base[0], near, chain, base[5], base[9], base[9] + 0.01 * base[8]],
    )
    # a~b and b~c link a, b and c even though a~c is below the threshold.
    assert col.near_duplicates(0.97) == [["a", "b", "c"], ["d", "e"]]
    assert col.near_duplicates(0.9999) == [["d", "e"]]


def test_small_collections_and_bad_arguments(col: Collection) -> None:
    assert col.similar_pairs(3) == [] and col.near_duplicates(0.5) == []
    col.upsert(["only one"])
    assert col.similar_pairs(3) == []
    for bad in (0, -2, True, 1.5):
        with pytest.raises(InvalidInput) as info:
            col.similar_pairs(bad)  # type: ignore[arg-type]
        assert info.value.field == "top"
    for t in (1.5, -1.01, float("nan"), "0.5"):
        with pytest.raises(InvalidInput) as info:
            col.similar_pairs(threshold=t)  # type: ignore[arg-type]
        assert info.value.field == "threshold"
        with pytest.raises(InvalidInput):
            col.near_duplicates(t)  # type: ignore[arg-type]


def test_progress_reports_every_tile(tmp_path: Path) -> None:
    c = make_collection(tmp_path)
    c.upsert([f"text {i}" for i in range(10)])
    ticks: list[tuple[int, int]] = []
    c.similar_pairs(3, progress=lambda done, total: ticks.append((done, total)))
    assert ticks[-1][0] == ticks[-1][1] >= 1
    c.close()
