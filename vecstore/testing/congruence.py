"""Congruence: the same random records and filters on the NumPy reference and on a backend.

Both must return the same ids in the same order and scores within :data:`SCORE_TOLERANCE`,
in every search mode the backend supports (dense, keyword, hybrid, MMR, a score floor, a
rerank stage); a backend that cannot rank keywords must refuse keyword and hybrid search with
``CapabilityError``. Records holding equal keyword scores may come in either order (BM25 has
exact ties, stores break them differently), so those are compared as groups.
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
from vecstore.errors import CapabilityError
from vecstore.records import Hit
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
    _compare_modes(reference, other, metas, where, seed)


WORDS = "alpha beta gamma delta epsilon zeta eta theta".split()


def random_texts(seed: int, n: int) -> list[str]:
    """Texts of a few words from a small vocabulary (some repeated, some of stop words only)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        words = rng.choice(WORDS, size=int(rng.integers(0, 7)))
        out.append(" ".join([*words, f"w{i}"]) if len(words) else "the and of")
    return out


class LengthScorer:
    """A deterministic stand-in reranker: longer texts first (ties stay in order)."""

    def score(self, query: str, texts: list[str]) -> list[float]:
        return [float(len(t)) for t in texts]


def _groups(hits: list[Hit]) -> list[tuple[float, frozenset[str]]]:
    """Hits as (rank score, ids) groups of equal rank scores, in order."""
    out: list[tuple[float, set[str]]] = []
    for h in hits:
        rank = float(h.rank_score if h.rank_score is not None else h.score)
        if out and abs(out[-1][0] - rank) <= SCORE_TOLERANCE * max(1.0, abs(rank)):
            out[-1][1].add(h.id)
        else:
            out.append((rank, {h.id}))
    return [(r, frozenset(ids)) for r, ids in out]


def _same(got: list[Hit], want: list[Hit], mode: str, everything: list[Hit]) -> None:
    """The same groups of equal rank scores, in order, with the same cosines.

    The last group may be cut by top_k inside a tie: there the store may keep other members of
    that tie (``everything``: the reference's ranking of every record, which begins as ``want``).
    """
    a, b = _groups(got), _groups(want)
    assert len(a) == len(b) and [ids for _, ids in a[:-1]] == [ids for _, ids in b[:-1]], mode
    np.testing.assert_allclose([r for r, _ in a], [r for r, _ in b], rtol=SCORE_TOLERANCE)
    if a and a[-1][1] != b[-1][1]:
        tie = next((ids for _, ids in _groups(everything) if ids >= b[-1][1]), frozenset())
        assert len(a[-1][1]) == len(b[-1][1]) and a[-1][1] <= tie, mode
    scores = {h.id: h.score for h in everything}
    np.testing.assert_allclose(
        [h.score for h in got], [scores[h.id] for h in got], atol=SCORE_TOLERANCE
    )


def _compare_modes(
    reference: Collection,
    other: Collection,
    metas: list[dict[str, Any]],
    where: dict[str, Any],
    seed: int,
) -> None:
    """Keyword, hybrid, MMR, floor and rerank agree with the reference (or are refused)."""
    n = len(metas)
    ids = [f"id-{i}" for i in range(n)]
    texts = random_texts(seed, n)
    vectors = random_vectors(seed + 1, n, reference.info.dimension)
    for col in (reference, other):
        col.upsert(texts, ids=ids, metadata=metas, vectors=vectors)
    query = " ".join(np.random.default_rng(seed).choice(WORDS, size=2))
    k = max(1, n // 2)
    plain: list[tuple[str, dict[str, Any]]] = [
        ("mmr", {"mmr": 0.5, "fetch_k": n}),
        ("floor", {"min_score": 0.0}),
        ("rerank", {"rerank": LengthScorer(), "fetch_k": n}),
    ]
    keyword: list[tuple[str, dict[str, Any]]] = [
        ("keyword", {"search": "keyword"}),
        ("hybrid", {"search": "hybrid"}),
        ("hybrid weighted", {"search": "hybrid", "weights": (1.0, 0.4), "rrf_k": 5}),
    ]
    if other.backend.abilities.keyword is None:
        for mode, options in keyword:
            try:
                other.query(query, top_k=k, where=where, **options)
            except CapabilityError:
                continue
            raise AssertionError(f"{mode} search was not refused")
        keyword = []
    for mode, options in plain + keyword:
        want = reference.query(query, top_k=k, where=where, **options)
        got = other.query(query, top_k=k, where=where, **options)
        if mode.startswith("hybrid") and _tied(reference, query, where):
            assert sorted(h.id for h in got) == sorted(h.id for h in want) or len(got) == k
            continue
        everything = reference.query(query, top_k=n, where=where, **options)
        _same(got, want, mode, everything)
    _compare_grouped(reference, other, metas, where, seed, bool(keyword))


def random_documents(seed: int, n: int) -> list[str]:
    """Documents of several paragraphs of :func:`random_texts` (some long enough to chunk)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        paragraphs = random_texts(seed + i, int(rng.integers(1, 30)))
        out.append("\n\n".join(" ".join([p] * int(rng.integers(1, 12))) for p in paragraphs))
    return out


def _compare_grouped(
    reference: Collection,
    other: Collection,
    metas: list[dict[str, Any]],
    where: dict[str, Any],
    seed: int,
    keyword: bool,
) -> None:
    """Grouped queries (the best documents, each once) agree with the reference."""
    docs = random_documents(seed, len(metas))
    ids = [f"doc-{i}" for i in range(len(metas))]
    for col in (reference, other):
        col.upsert_documents(docs, ids=ids, metadata=metas)
    query = " ".join(np.random.default_rng(seed + 2).choice(WORDS, size=2))
    k = max(1, len(metas) // 2)
    modes = ["dense", "keyword", "hybrid"] if keyword else ["dense"]
    for search in modes:
        options: dict[str, Any] = {"search": search, "group_by": "document"}
        want = reference.query(query, top_k=k, where=where, **options)
        got = other.query(query, top_k=k, where=where, **options)
        assert len({h.document_id or h.id for h in got}) == len(got), search
        if search == "hybrid" and _tied(reference, query, where):
            continue
        everything = reference.query(query, top_k=10_000, where=where, **options)
        _same(got, want, f"grouped {search}", everything)


def _tied(reference: Collection, query: str, where: dict[str, Any]) -> bool:
    """Whether the keyword ranking has equal scores (then fused orders may differ)."""
    groups = _groups(reference.query(query, top_k=10_000, where=where, search="keyword"))
    return any(len(ids) > 1 for _, ids in groups)
