"""Metadata reads back as written, and bad input is refused, named, with nothing written."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vecstore.collection import Collection
from vecstore.errors import DuplicateId, InvalidInput
from vecstore.testing.kit import ALL_LIST_ELEMENTS, DIM, MakeCollection, holdable, unit


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
