"""Every filter operator means the same on every backend, missing and list fields included.

:data:`FILTER_CASES` pins each operator's meaning by hand; :class:`FilterContract` runs every
case through a backend's query, count and filtered scan.
"""

from __future__ import annotations

from typing import Any

import pytest

from vecstore.collection import Collection
from vecstore.errors import FilterError
from vecstore.filters import matches, parse
from vecstore.testing.kit import ALL_LIST_ELEMENTS, MakeCollection, holdable

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

    @pytest.mark.parametrize(
        ("where", "expected"), FILTER_CASES, ids=[str(c[0]) for c in FILTER_CASES]
    )
    def test_scan_by_filter(
        self, filtered: Collection, where: dict[str, Any], expected: set[str]
    ) -> None:
        """The store's own filtered scan selects exactly what the query does, in pages."""
        held = {i for i, m in self.filter_records().items() if matches(parse(where), m)}
        try:
            pages = list(filtered.scan(where, batch_size=2))
        except FilterError as exc:
            assert any(part in str(exc) for part in self.REFUSES), exc
            return
        ids = [r.id for page in pages for r in page]
        assert sorted(ids) == sorted(held) and all(0 < len(p) <= 2 for p in pages)
        records = self.filter_records()
        assert all(r.metadata == records[r.id] for page in pages for r in page)

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
