"""The int8 scan of the NumPy store returns exactly the fp32 top k: tests built to break it.

Each case stores vectors chosen against the quantiser (near-ties at the k-th place, duplicates,
a spike that takes a row's whole scale, filters that leave few rows) and compares the compact
route with the fp32 scan of the same store, ids and scores bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vecstore.adapters.numpy import NumpyBackend, dense, quantization, writer
from vecstore.filters import matches, parse
from vecstore.records import CollectionInfo, RecordBatch
from vecstore.testing.strategies import filters, metadata

DIM = 48


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NumpyBackend]:
    backend = NumpyBackend("exact", path=tmp_path)
    backend.open(CollectionInfo("exact", "test-model", DIM))
    yield backend
    backend.close()


def fill(store: NumpyBackend, vectors: np.ndarray, batch: int = 5_000) -> None:
    for lo in range(0, len(vectors), batch):
        part = vectors[lo : lo + batch]
        ids = [f"r{lo + i}" for i in range(len(part))]
        metas = [{"g": (lo + i) % 97, "b": (lo + i) % 2 == 0} for i in range(len(part))]
        store.upsert(RecordBatch(ids, part, [None] * len(part), metas))  # type: ignore[arg-type]


def both(store: NumpyBackend, queries: np.ndarray, k: int, where: dict | None = None) -> None:
    """The compact route and the fp32 scan agree, query by query and as one batch."""
    node = parse(where) if where else None
    queries = np.asarray(queries, dtype=np.float32)
    store.compact = False
    exact = [store.query(q[None], k, node)[0] for q in queries]
    store.compact = True
    one_by_one = [store.query(q[None], k, node)[0] for q in queries]
    batched = store.query(queries, k, node)
    for want, got, got_batch in zip(exact, one_by_one, batched, strict=True):
        assert [(h.id, h.score) for h in got] == [(h.id, h.score) for h in want]
        assert [(h.id, h.score) for h in got_batch] == [(h.id, h.score) for h in want]


def test_the_bound_holds_for_every_row() -> None:
    rng = np.random.default_rng(0)
    rows = unit(rng.standard_normal((4_000, DIM)))
    rows[:50] = unit(np.eye(DIM)[rng.integers(0, DIM, 50)] + 1e-3 * rng.standard_normal((50, DIM)))
    q = unit(rng.standard_normal((3, DIM)))
    coded = quantization.quantize(rows)
    q8, sq, eq, qn = quantization.code_queries(q)
    dots = quantization.int_dots(q8, coded["codes"], 1)
    approx = dots * coded["scale"].astype(np.float64) * sq[:, None]
    radius = coded["err"] * (qn + eq)[:, None] + eq[:, None] * quantization.NORM_SLACK
    exact = q.astype(np.float64) @ rows.astype(np.float64).T
    assert np.all(np.abs(exact - approx) <= radius)
    assert np.all(dots == np.rint(dots))  # exact integers


def test_random_vectors(store: NumpyBackend) -> None:
    rng = np.random.default_rng(1)
    fill(store, unit(rng.standard_normal((20_000, DIM))))
    both(store, unit(rng.standard_normal((12, DIM))), 10)
    both(store, unit(rng.standard_normal((4, DIM))), 1)
    both(store, unit(rng.standard_normal((4, DIM))), 200)


def test_near_ties_at_the_kth_place(store: NumpyBackend) -> None:
    """Rows whose scores differ from the k-th by an ulp or two, on both sides of it."""
    rng = np.random.default_rng(2)
    q = unit(rng.standard_normal((1, DIM)))[0]
    noise = rng.standard_normal((3_000, DIM))
    noise -= np.outer(noise @ q, q)  # orthogonal to q
    noise = noise / np.linalg.norm(noise, axis=1, keepdims=True)
    angle = 0.3 + rng.integers(-3, 4, 3_000) * 1e-8  # seven scores, each shared by many rows
    rows = unit(np.cos(angle)[:, None] * q + np.sin(angle)[:, None] * noise)
    background = unit(rng.standard_normal((12_000, DIM)))
    fill(store, np.concatenate([background, rows]))
    for k in (1, 10, 57, 500):
        both(store, q[None], k)


def test_duplicate_vectors_keep_the_lower_row(store: NumpyBackend) -> None:
    rng = np.random.default_rng(3)
    base = unit(rng.standard_normal((40, DIM)))
    fill(store, np.repeat(base, 250, axis=0))  # every vector 250 times
    both(store, base[:5], 10)
    both(store, base[:2], 300)


def test_vectors_adversarial_to_the_scale(store: NumpyBackend) -> None:
    """A spike takes each row's scale: the rest rounds to zero, the error bound is wide."""
    rng = np.random.default_rng(4)
    spikes = np.zeros((8_000, DIM))
    spikes[np.arange(8_000), rng.integers(0, DIM, 8_000)] = 1.0
    rows = unit(spikes + 0.004 * rng.standard_normal((8_000, DIM)))
    tiny = unit(np.full((2_000, DIM), 1.0) + 1e-4 * rng.standard_normal((2_000, DIM)))
    fill(store, np.concatenate([rows, tiny]))
    queries = unit(rng.standard_normal((6, DIM)))
    queries[0] = unit(np.full((1, DIM), 1.0))[0]
    both(store, queries, 10)


@pytest.mark.parametrize(
    "where",
    [{"g": 3}, {"g": {"$in": [1, 2, 3, 4, 5, 6, 7, 8]}}, {"b": True}, {"g": {"$gte": 90}}],
)
def test_filters_that_leave_few_candidates(store: NumpyBackend, where: dict) -> None:
    rng = np.random.default_rng(5)
    fill(store, unit(rng.standard_normal((15_000, DIM))))
    store.delete([f"r{i}" for i in range(0, 15_000, 7)])  # dead rows too
    both(store, unit(rng.standard_normal((5, DIM))), 10, where)
    both(store, unit(rng.standard_normal((2, DIM))), 2_000, where)


def test_the_compact_route_is_taken(store: NumpyBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    fill(store, unit(rng.standard_normal((5_000, DIM))))
    calls: list[int] = []
    real = dense.compact_scan

    def spy(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(dense, "compact_scan", spy)
    store.query(unit(rng.standard_normal((1, DIM))), 10, None)
    assert calls == [1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-2, 2), min_size=DIM * 30, max_size=DIM * 30),
    st.lists(st.integers(-2, 2), min_size=DIM, max_size=DIM),
    st.integers(1, 40),
)
def test_small_integer_vectors_full_of_ties(
    tmp_path_factory: pytest.TempPathFactory, values: list[int], query: list[int], k: int
) -> None:
    rows = np.array(values, dtype=np.float64).reshape(30, DIM)
    rows[np.all(rows == 0, axis=1), 0] = 1.0
    q = np.array(query, dtype=np.float64)[None]
    q[0, 0] += 0.0 if np.any(q) else 1.0
    backend = NumpyBackend("ties", path=tmp_path_factory.mktemp("ties"))
    backend.open(CollectionInfo("ties", "test-model", DIM))
    fill(backend, np.tile(unit(rows), (4, 1)))  # and each row four times
    both(backend, unit(q), k)
    backend.close()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(metadata, min_size=1, max_size=6), min_size=1, max_size=9),
    st.lists(filters, min_size=1, max_size=4),
    st.sets(st.integers(0, 40), max_size=8),
)
def test_merged_and_compacted_segments_filter_as_the_reference(
    tmp_path_factory: pytest.TempPathFactory,
    batches: list[list[dict[str, Any]]],
    wheres: list[dict[str, Any]],
    doomed: set[int],
) -> None:
    """Segments of mixed column types merged (TIER 2) and compacted answer every filter."""
    backend = NumpyBackend("merge", path=tmp_path_factory.mktemp("merge"))
    backend.open(CollectionInfo("merge", "test-model", DIM))
    rng = np.random.default_rng(0)
    stored: dict[str, dict[str, Any]] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(writer, "TIER", 2)
        for b, metas in enumerate(batches):
            ids = [f"{b}-{i}" for i in range(len(metas))]
            vectors = unit(rng.standard_normal((len(metas), DIM)))
            backend.upsert(RecordBatch(ids, vectors, [None] * len(ids), metas))
            stored.update(zip(ids, metas, strict=True))
        gone = [rid for i, rid in enumerate(stored) if i in doomed]
        backend.delete(gone)
    for rid in gone:
        del stored[rid]
    for where in wheres:
        node = parse(where)
        want = sorted(rid for rid, meta in stored.items() if node is None or matches(node, meta))
        got = sorted(r.id for batch in backend.scan(7, False, node) for r in batch)
        assert got == want and backend.count(node) == len(want)
    assert {r.id: r.metadata for r in backend.get(list(stored))} == stored
    backend.close()
