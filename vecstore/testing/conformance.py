"""The contract every backend keeps, as pytest mixins.

A test module subclasses the mixins and overrides two fixtures: ``make_collection``, a callable
returning a fresh, empty :class:`~vecstore.Collection` (on the backend under test) for a name,
with encoder ``HashEncoder(DIM)``; and ``reopen_collection``, a callable that closes a Collection
and opens the same stored collection anew (see :mod:`vecstore.testing.concurrency`).
The NumPy store is the reference; every backend must pass
the same tests unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from vecstore.collection import Collection
from vecstore.errors import DuplicateId, FilterError, InvalidInput
from vecstore.filters import matches, parse
from vecstore.testing.concurrency import ConcurrencyContract

DIM = 32
MakeCollection = Callable[[str], Collection]
ALL_LIST_ELEMENTS: tuple[type, ...] = (str, int, float, bool)


def holdable(meta: dict[str, Any], list_elements: tuple[type, ...]) -> dict[str, Any]:
    """``meta`` without list values whose elements the backend cannot hold."""
    return {
        k: v
        for k, v in meta.items()
        if not (isinstance(v, list) and not isinstance(v[0], list_elements))
    }


def unit(*values: float, dim: int = DIM) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A vector whose first components are ``values`` (rest zero)."""
    v = np.zeros(dim, dtype=np.float32)
    v[: len(values)] = values
    return v


FILTER_RECORDS: dict[str, dict[str, Any]] = {
    "a": {"lang": "en", "year": 2020, "score": 0.5, "tags": ["x", "y"], "ok": True},
    "b": {"lang": "de", "year": 2021, "score": 1.5, "tags": ["y"], "ok": False},
    "c": {"lang": "en", "year": 2022.0, "tags": ["z"], "nums": [1, 5, 9]},
    "d": {"lang": "fr", "ok": True, "nums": [2, 3]},
    "e": {"year": 2019, "score": -1.0},
    "f": {"lang": "1", "year": 1},
    "g": {"year": 2020.5, "nums": [0.5, 7.25], "tags": ["y", "w"]},
}
EVERY = set(FILTER_RECORDS)

# (filter, ids expected) pinned by hand: the meaning of each operator, with missing and list fields.
FILTER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"lang": "en"}, {"a", "c"}),
    ({"lang": {"$ne": "en"}}, {"b", "d", "e", "f", "g"}),
    ({"year": {"$gte": 2021}}, {"b", "c"}),
    ({"year": {"$gt": 2020, "$lt": 2022}}, {"b", "g"}),
    ({"year": {"$lte": 2019}}, {"e", "f"}),
    ({"year": 2022}, {"c"}),
    ({"lang": {"$in": ["de", "fr"]}}, {"b", "d"}),
    ({"lang": {"$nin": ["de", "fr"]}}, {"a", "c", "e", "f", "g"}),
    ({"lang": {"$exists": True}}, {"a", "b", "c", "d", "f"}),
    ({"score": {"$exists": False}}, {"c", "d", "f", "g"}),
    ({"tags": "y"}, {"a", "b", "g"}),
    ({"tags": {"$contains": "z"}}, {"c"}),
    ({"tags": {"$ne": "y"}}, {"c", "d", "e", "f"}),
    ({"tags": {"$in": ["x", "z"]}}, {"a", "c"}),
    ({"tags": {"$nin": ["y"]}}, {"c", "d", "e", "f"}),
    ({"nums": {"$gt": 8}}, {"c"}),
    ({"nums": {"$lt": 2}}, {"c", "g"}),
    ({"ok": True}, {"a", "d"}),
    ({"ok": {"$ne": True}}, {"b", "c", "e", "f", "g"}),
    ({"year": 1}, {"f"}),
    ({"lang": 1}, set()),
    ({"ok": 1}, set()),
    ({"$or": [{"lang": "de"}, {"year": {"$lt": 2000}}]}, {"b", "f"}),
    ({"$and": [{"lang": "en"}, {"ok": True}]}, {"a"}),
    ({"$not": {"lang": "en"}}, {"b", "d", "e", "f", "g"}),
    ({"year": {"$not": {"$gte": 2020}}}, {"d", "e", "f"}),
    ({"lang": "en", "score": {"$gt": 0}}, {"a"}),
    # float operands against int fields, and ints against floats: nothing truncated
    ({"year": {"$lt": 1.5}}, {"f"}),
    ({"year": {"$eq": 1.5}}, set()),
    ({"year": {"$gte": 1.5, "$lte": 2019}}, {"e"}),
    ({"year": 2020.0}, {"a"}),
    ({"year": {"$gt": 2020}}, {"b", "c", "g"}),
    ({"year": {"$in": [2022, 1.0]}}, {"c", "f"}),
    ({"score": {"$gte": -1}}, {"a", "b", "e"}),
    # ranges and equality over list elements, int and float lists
    ({"nums": {"$gt": 7}}, {"c", "g"}),
    ({"nums": {"$lte": 0.5}}, {"g"}),
    ({"nums": {"$gt": 2, "$lt": 3}}, {"c", "d", "g"}),
    ({"nums": 7.25}, {"g"}),
    ({"nums": 5.0}, {"c"}),
    ({"nums": {"$in": [3, 0.5]}}, {"d", "g"}),
    # every negation is true where the field is missing, or holds no number
    ({"nums": {"$not": {"$gt": 4}}}, {"a", "b", "d", "e", "f"}),
    ({"nums": {"$nin": [2, 9]}}, {"a", "b", "e", "f", "g"}),
    ({"nums": {"$ne": 7.25}}, EVERY - {"g"}),
    ({"score": {"$not": {"$lt": 0}}}, EVERY - {"e"}),
    ({"ok": {"$not": {"$gt": 0}}}, EVERY),
    ({"lang": {"$not": {"$gte": 0}}}, EVERY),
    ({"year": {"$ne": 2020}}, EVERY - {"a"}),
    ({"year": {"$not": {"$in": [2020, 1]}}}, {"b", "c", "d", "e", "g"}),
    ({"lang": {"$not": {"$exists": True}}}, {"e", "g"}),
    ({"tags": {"$not": {"$in": ["y"]}}}, {"c", "d", "e", "f"}),
    ({"$not": {"$or": [{"nums": {"$lte": 2}}, {"lang": {"$exists": False}}]}}, {"a", "b", "f"}),
    ({"$not": {"$and": [{"year": {"$gt": 2000}}, {"ok": {"$ne": False}}]}}, {"b", "d", "f"}),
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
        seen = [r.id for batch in col.backend.scan(7) for r in batch]
        assert sorted(seen) == sorted(set(ids) - {"id3"})
        assert all(r.vector is not None for b in col.backend.scan(10) for r in b)


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


class FilterContract:
    """Every operator means the same on every backend, missing and list fields included.

    ``LIST_ELEMENTS``: the list element types the backend holds (Pinecone: str only); records
    drop other lists, and the expected ids come from the reference evaluator on what is left.
    ``REFUSES``: parts of the FilterError messages a backend may answer instead of evaluating
    (a documented refusal before any I/O; never an approximation).
    """

    LIST_ELEMENTS: tuple[type, ...] = ALL_LIST_ELEMENTS
    REFUSES: tuple[str, ...] = ()

    def filter_records(self) -> dict[str, dict[str, Any]]:
        return {i: holdable(m, self.LIST_ELEMENTS) for i, m in FILTER_RECORDS.items()}

    @pytest.fixture
    def filtered(self, make_collection: MakeCollection) -> Collection:
        col = make_collection("filters")
        records = self.filter_records()
        col.upsert(
            [f"text {i}" for i in records], ids=list(records), metadata=list(records.values())
        )
        return col

    @pytest.mark.parametrize(
        ("where", "expected"), FILTER_CASES, ids=[str(c[0]) for c in FILTER_CASES]
    )
    def test_operator(
        self, filtered: Collection, where: dict[str, Any], expected: set[str]
    ) -> None:
        reference = {i for i, m in FILTER_RECORDS.items() if matches(parse(where), m)}
        assert reference == expected, "the reference evaluator disagrees with the pinned meaning"
        held = {i for i, m in self.filter_records().items() if matches(parse(where), m)}
        try:
            found = {h.id for h in filtered.query("text", top_k=100, where=where)}
        except FilterError as exc:
            assert any(part in str(exc) for part in self.REFUSES), exc
            with pytest.raises(FilterError):
                filtered.count(where)
            return
        assert found == held
        assert filtered.count(where) == len(held)

    def test_malformed_filter_is_refused_before_io(self, filtered: Collection) -> None:
        bad: dict[str, Any]
        for bad in (
            {"year": {"$regex": "x"}},
            {"$or": []},
            {"year": {"$gt": "2020"}},
            {"tags": ["x"]},
            {"$nor": [{"a": 1}]},
            {"year": {}},
            {"x": {"$in": []}},
        ):
            with pytest.raises(FilterError):
                filtered.query("text", where=bad)
        assert filtered.count() == len(FILTER_RECORDS)


class MetadataContract:
    """Portable metadata reads back as written; the rest is refused or converted as documented.

    ``LIST_ELEMENTS`` as in FilterContract.
    """

    LIST_ELEMENTS: tuple[type, ...] = ALL_LIST_ELEMENTS

    def test_portable_values_round_trip(self, make_collection: MakeCollection) -> None:
        col = make_collection("meta")
        meta: dict[str, Any] = {
            "s": "text",
            "i": -7,
            "f": 2.5,
            "b": False,
            "ls": ["a", "b"],
            "li": [1, 2],
            "lf": [0.5, 1.5],
            "lb": [True],
            "big": 2**53,
            "uni": "ü→∞",
        }
        meta = holdable(meta, self.LIST_ELEMENTS)
        col.upsert(["with metadata"], ids=["m"], metadata=[meta])
        (rec,) = col.get(["m"])
        assert rec.metadata == meta
        assert type(rec.metadata["i"]) is int and type(rec.metadata["b"]) is bool

    def test_numpy_scalars_and_none_are_converted(self, make_collection: MakeCollection) -> None:
        col = make_collection("metaconv")
        col.upsert(
            ["x y"],
            ids=["n"],
            metadata=[{"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "gone": None}],
        )
        (rec,) = col.get(["n"])
        assert rec.metadata == {"i": 3, "f": 0.5, "b": True}
        assert col.count({"gone": {"$exists": False}}) == 1


class BadInputContract:
    """Bad input: a typed error naming record and field, and nothing written."""

    @pytest.fixture
    def seeded(self, make_collection: MakeCollection) -> Collection:
        col = make_collection("bad")
        col.upsert(["kept record"], ids=["keep"], metadata=[{"v": 1}])
        return col

    def _unchanged(self, col: Collection) -> None:
        assert col.count() == 1
        assert col.get(["keep"])[0].metadata == {"v": 1}

    @pytest.mark.parametrize(
        ("kwargs", "record", "field"),
        [
            ({"texts": ["ok", None]}, 1, "text"),
            ({"texts": ["ok", 5]}, 1, "text"),
            ({"texts": ["ok", "   "]}, 1, "text"),
            ({"texts": ["ok", ""], "ids": ["p", "q"]}, "q", "text"),
            ({"texts": ["a", "b"], "ids": ["x"]}, None, "ids"),
            ({"texts": ["a"], "metadata": [{}, {}]}, None, "metadata"),
            ({"texts": ["a", "b"], "ids": ["x", "x"]}, "x", "id"),
            ({"texts": ["a", "b"], "ids": ["x", ""]}, 1, "id"),
            ({"texts": ["a", "b"], "ids": ["x", 7]}, 1, "id"),
            ({"texts": ["a"], "metadata": [{"n": {"nested": 1}}]}, 0, "metadata.n"),
            ({"texts": ["a"], "metadata": [{"n": {1, 2}}]}, 0, "metadata.n"),
            ({"texts": ["a"], "metadata": [{"n": b"raw"}]}, 0, "metadata.n"),
            ({"texts": ["a"], "metadata": [{"n": float("nan")}]}, 0, "metadata.n"),
            ({"texts": ["a"], "metadata": [{"n": np.float64("inf")}]}, 0, "metadata.n"),
            ({"texts": ["a"], "metadata": [{"n": []}]}, 0, "metadata.n"),
            ({"texts": ["a"], "metadata": [{"n": [1, "x"]}]}, 0, "metadata.n"),
            ({"texts": ["a"], "metadata": [{"n": 2**60}]}, 0, "metadata.n"),
            ({"texts": ["a"], "metadata": [{"n": "x" * 50_000}]}, 0, "metadata"),
            ({"texts": ["a"], "metadata": [{"$bad": 1}]}, 0, "metadata.$bad"),
            ({"texts": ["a"], "metadata": [{"": 1}]}, 0, None),
            ({"texts": ["a"], "metadata": ["not a dict"]}, 0, None),
            ({"texts": ["a", "b"], "vectors": [unit(1.0), unit(np.nan)]}, 1, "vector"),
            ({"texts": ["a", "b"], "vectors": [unit(1.0), unit(np.inf)]}, 1, "vector"),
            ({"texts": ["a"], "ids": ["z"], "vectors": [unit(0.0)]}, "z", "vector"),
            ({"texts": ["a"], "vectors": [[1.0, 2.0]]}, None, "vectors"),
            ({"texts": ["a", "b"], "vectors": [unit(1.0)]}, None, "vectors"),
            ({"texts": "a bare string"}, None, "texts"),
        ],
    )
    def test_refused_and_nothing_written(
        self,
        seeded: Collection,
        kwargs: dict[str, Any],
        record: int | str | None,
        field: str | None,
    ) -> None:
        kwargs = {"texts": None, **kwargs}
        texts = kwargs.pop("texts")
        # The valid records of a refused call must not land either: count stays 1.
        with pytest.raises(InvalidInput) as info:
            seeded.upsert(texts, **kwargs)
        assert info.value.record == record
        assert info.value.field == field
        self._unchanged(seeded)

    def test_duplicate_ids_is_its_own_type(self, seeded: Collection) -> None:
        with pytest.raises(DuplicateId, match="positions 0 and 2"):
            seeded.upsert(["a", "b", "c"], ids=["keep", "y", "keep"])
        self._unchanged(seeded)

    @pytest.mark.parametrize("top_k", [-1, 1.5, True, "3"])
    def test_bad_top_k(self, seeded: Collection, top_k: Any) -> None:
        with pytest.raises(InvalidInput) as info:
            seeded.query("x", top_k=top_k)
        assert info.value.field == "top_k"

    @pytest.mark.parametrize(
        "query", [unit(np.nan), unit(0.0), np.ones(DIM + 1, np.float32), np.ones((2, DIM)), "  "]
    )
    def test_bad_query(self, seeded: Collection, query: Any) -> None:
        with pytest.raises(InvalidInput):
            seeded.query(query)

    def test_delete_needs_ids_or_filter(self, seeded: Collection) -> None:
        with pytest.raises(InvalidInput):
            seeded.delete()
        with pytest.raises(InvalidInput):
            seeded.delete(where={})
        self._unchanged(seeded)


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
