"""The contract every backend keeps, as pytest mixins.

A test module subclasses the mixins and overrides two fixtures: ``make_collection``, a callable
returning a fresh, empty :class:`~vecstore.Collection` (on the backend under test) for a name,
with encoder ``HashEncoder(DIM)``; and ``reopen_collection``, a callable that closes a Collection
and opens the same stored collection anew (see :mod:`vecstore.testing.concurrency`).
The NumPy store is the reference; every backend must pass
the same tests unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vecstore.errors import InvalidInput
from vecstore.testing.concurrency import ConcurrencyContract
from vecstore.testing.filter_contract import FILTER_CASES, FILTER_RECORDS, FilterContract
from vecstore.testing.input_contract import BadInputContract, MetadataContract
from vecstore.testing.kit import ALL_LIST_ELEMENTS, DIM, MakeCollection, holdable, unit
from vecstore.testing.updates import UpdateContract

__all__ = [
    "DIM",
    "FILTER_CASES",
    "FILTER_RECORDS",
    "BackendContract",
    "MakeCollection",
    "holdable",
    "unit",
]


class CrudContract:
    """Upsert, get, delete, count and scan."""

    def test_upsert_get_count(self, make_collection: MakeCollection) -> None:
        col = make_collection("crud")
        ids = col.upsert(["alpha text", "beta text"], ids=["1", "2"], metadata=[{"k": 1}, {"k": 2}])
        assert ids == ["1", "2"]
        assert col.count() == 2
        got = col.get(["2", "missing", "1"])
        assert [r.id for r in got] == ["2", "1"]
        assert got[0].text == "beta text" and got[0].metadata == {"k": 2}

    def test_get_with_vectors_returns_unit_vectors(self, make_collection: MakeCollection) -> None:
        col = make_collection("vectors")
        col.upsert(None, ids=["v"], vectors=[unit(3.0, 4.0)])
        (rec,) = col.get(["v"], with_vectors=True)
        assert rec.vector is not None
        np.testing.assert_allclose(rec.vector, unit(0.6, 0.8), atol=1e-6)

    def test_delete_by_ids_ignores_unknown(self, make_collection: MakeCollection) -> None:
        col = make_collection("delete")
        col.upsert(["one", "two", "three"], ids=["1", "2", "3"])
        col.delete(["2", "nope"])
        assert col.count() == 2
        assert [r.id for r in col.get(["1", "2", "3"])] == ["1", "3"]
        col.delete(["nope"])
        assert col.count() == 2

    def test_delete_and_count_by_filter(self, make_collection: MakeCollection) -> None:
        col = make_collection("delwhere")
        col.upsert(
            ["a a", "b b", "c c"], ids=["a", "b", "c"], metadata=[{"y": 1}, {"y": 2}, {"y": 3}]
        )
        assert col.count({"y": {"$gte": 2}}) == 2
        col.delete(where={"y": {"$gte": 2}})
        assert [r.id for r in col.get(["a", "b", "c"])] == ["a"]

    def test_scan_yields_every_record_once(self, make_collection: MakeCollection) -> None:
        col = make_collection("scan")
        ids = [f"id{i}" for i in range(25)]
        col.upsert([f"text number {i}" for i in range(25)], ids=ids)
        col.delete(["id3"])
        seen = [r.id for batch in col.scan(batch_size=7) for r in batch]
        assert sorted(seen) == sorted(set(ids) - {"id3"})
        assert all(
            r.vector is not None for b in col.scan(batch_size=10, with_vectors=True) for r in b
        )
        assert all(r.vector is None for b in col.scan() for r in b)


class IdContract:
    """Ids come back exactly as given; derived ids are deterministic."""

    ODD_IDS = [
        "naïve café",
        "../x",
        "42",
        "with space",
        "x" * 600,
        "日本語",
        "a/b\\c",
        "-1",
        "00000000-0000-0000-0000-000000000000",
    ]

    def test_any_string_id_round_trips(self, make_collection: MakeCollection) -> None:
        col = make_collection("ids")
        texts = [f"record {i}" for i in range(len(self.ODD_IDS))]
        assert col.upsert(texts, ids=self.ODD_IDS) == self.ODD_IDS
        assert [r.id for r in col.get(self.ODD_IDS)] == self.ODD_IDS
        hits = col.query("record 3", top_k=len(self.ODD_IDS))
        assert sorted(h.id for h in hits) == sorted(self.ODD_IDS)

    def test_derived_ids_never_duplicate(self, make_collection: MakeCollection) -> None:
        col = make_collection("derived")
        first = col.upsert(["same text", "other text"])
        second = col.upsert(["same text", "other text"])
        assert first == second and len(set(first)) == 2
        assert col.count() == 2


class FrameworkContract:
    """What framework-shaped callers need.

    Partial ids, vectors with hits, clearing, ``top_k=0``, coerced metadata (LangChain's and
    LlamaIndex's stores rely on each).
    """

    def test_partial_ids_derive_the_missing_ones(self, make_collection: MakeCollection) -> None:
        col = make_collection("partial")
        ids = col.upsert(["given id", "derived id"], ids=["mine", None])
        assert ids[0] == "mine" and ids[1] == col.upsert(["derived id"])[0]
        assert col.count() == 2

    def test_hits_carry_unit_vectors_when_asked(self, make_collection: MakeCollection) -> None:
        col = make_collection("hitvectors")
        col.upsert(None, ids=["a", "b"], vectors=[unit(3.0, 4.0), unit(0.0, 1.0)])
        hits = col.query(unit(1.0), top_k=2, with_vectors=True)
        assert [h.id for h in hits] == ["a", "b"]
        assert hits[0].vector is not None and hits[1].vector is not None
        np.testing.assert_allclose(hits[0].vector, unit(0.6, 0.8), atol=1e-6)
        assert all(h.vector is None for h in col.query(unit(1.0), top_k=2))

    def test_clear_keeps_the_collection(self, make_collection: MakeCollection) -> None:
        col = make_collection("clear")
        col.upsert([f"text {i}" for i in range(30)], metadata=[{"i": i} for i in range(30)])
        col.clear()
        assert col.count() == 0 and col.query("text", top_k=5) == []
        col.clear()  # clearing nothing is fine
        col.upsert(["after the clear"], ids=["new"])
        assert [r.id for r in col.get(["new"])] == ["new"] and col.count() == 1

    def test_top_k_zero_is_empty(self, make_collection: MakeCollection) -> None:
        col = make_collection("topzero")
        col.upsert(["something"])
        assert col.query("something", top_k=0) == []

    def test_coerced_metadata_round_trips(self, make_collection: MakeCollection) -> None:
        import datetime as dt

        col = make_collection("coerce")
        holds_numbers = float in getattr(self, "LIST_ELEMENTS", ALL_LIST_ELEMENTS)
        meta: dict[str, Any] = {
            "source": {"file": "a.pdf", "page": 3},
            "when": dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC),
            "day": dt.date(2024, 5, 2),
            "empty": [],
            "nothing": None,
            **({"mixed": [0, 12.5]} if holds_numbers else {}),
        }
        col.upsert(["shaped like LangChain"], ids=["lc"], metadata=[meta], metadata_policy="coerce")
        (rec,) = col.get(["lc"])
        assert rec.metadata == {
            "source__file": "a.pdf",
            "source__page": 3,
            "when": "2024-05-01T12:00:00+00:00",
            "day": "2024-05-02",
            **({"mixed": [0.0, 12.5]} if holds_numbers else {}),
        }
        assert col.count({"source__page": 3, "day": "2024-05-02"}) == 1
        if not holds_numbers:  # a store that holds no number lists refuses them, named
            with pytest.raises(InvalidInput) as info:
                col.upsert(["x"], ids=["x"], metadata=[{"m": [0, 1.5]}], metadata_policy="coerce")
            assert (info.value.record, info.value.field) == ("x", "metadata.m")


class ReplaceContract:
    """Upsert replaces the whole record: vector, text and metadata."""

    def test_upsert_replaces_everything(self, make_collection: MakeCollection) -> None:
        col = make_collection("replace")
        col.upsert(
            ["old text"], ids=["r"], metadata=[{"keep": 1, "drop": "x"}], vectors=[unit(1.0)]
        )
        col.upsert(["new text"], ids=["r"], metadata=[{"keep": 2}], vectors=[unit(0.0, 1.0)])
        (rec,) = col.get(["r"])
        assert rec.text == "new text" and rec.metadata == {"keep": 2}
        assert col.count() == 1
        assert col.count({"drop": {"$exists": True}}) == 0
        (hit,) = col.query(unit(0.0, 1.0), top_k=1)
        assert hit.id == "r" and hit.score == pytest.approx(1.0, abs=1e-5)


class ScoreContract:
    """Scores are cosine similarity in [-1, 1], best first."""

    def test_scores_are_cosine_similarity(self, make_collection: MakeCollection) -> None:
        col = make_collection("scores")
        col.upsert(
            None,
            ids=["same", "diag", "orth", "opp"],
            vectors=[unit(2.0), unit(1.0, 1.0), unit(0.0, 3.0), unit(-1.0)],
        )
        hits = col.query(unit(5.0), top_k=10)
        assert [h.id for h in hits] == ["same", "diag", "orth", "opp"]
        expected = [1.0, 2**-0.5, 0.0, -1.0]
        assert [h.score for h in hits] == pytest.approx(expected, abs=1e-5)
        assert all(-1.0 <= h.score <= 1.0 for h in hits)

    def test_top_k_limits_and_exceeds(self, make_collection: MakeCollection) -> None:
        col = make_collection("topk")
        col.upsert([f"doc {i}" for i in range(5)])
        assert len(col.query("doc", top_k=2)) == 2
        assert len(col.query("doc", top_k=50)) == 5

    def test_empty_collection_query(self, make_collection: MakeCollection) -> None:
        col = make_collection("empty")
        assert col.query("anything", top_k=3) == []
        assert col.count() == 0


class PairsContract:
    """similar_pairs and near_duplicates give the brute-force answer on every backend."""

    def test_similar_pairs_match_brute_force(self, make_collection: MakeCollection) -> None:
        col = make_collection("pairs")
        rng = np.random.default_rng(5)
        vectors = rng.standard_normal((30, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = [f"p{i}" for i in range(30)]
        col.upsert(None, ids=ids, vectors=vectors)
        scores = vectors.astype(np.float64) @ vectors.T.astype(np.float64)
        want = sorted(
            ((scores[i, j], i, j) for i in range(30) for j in range(i + 1, 30)), reverse=True
        )[:8]
        got = col.similar_pairs(8)
        assert [frozenset((p.a, p.b)) for p in got] == [
            frozenset((ids[i], ids[j])) for _, i, j in want
        ]
        assert [p.score for p in got] == pytest.approx([s for s, _, _ in want], abs=1e-5)
        (group,) = col.near_duplicates(got[0].score - 1e-6)
        assert sorted(group) == sorted((got[0].a, got[0].b))


class BackendContract(
    ConcurrencyContract,
    UpdateContract,
    FrameworkContract,
    PairsContract,
    CrudContract,
    IdContract,
    ReplaceContract,
    ScoreContract,
    FilterContract,
    MetadataContract,
    BadInputContract,
):
    """The whole contract: subclass it; override ``make_collection`` and ``reopen_collection``."""
