"""Metadata changes without re-encoding: ``update_metadata``, and ingest's metadata-only path.

Part of the contract every backend keeps: each store rewrites metadata with its own call and
keeps the vector and text as they were; an ingest whose source changed only metadata encodes
nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from vecstore.collection import Collection
from vecstore.encoders import Encoder
from vecstore.errors import DuplicateId, InvalidInput, StoreError
from vecstore.records import Vectors
from vecstore.testing.kit import MakeCollection


class _Counting:
    """An encoder that counts what it encodes (to prove what was not encoded)."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.encoded = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.encoded += len(texts)
        return self.inner.encode(texts)


def _seeded(make_collection: MakeCollection, name: str) -> Collection:
    col = make_collection(name)
    col.upsert(
        ["first record", "second record", "third record"],
        ids=["a", "b", "c"],
        metadata=[{"k": 1, "drop": "x"}, {"k": 2}, {"k": 3, "tags": ["t"]}],
    )
    return col


class UpdateContract:
    """update_metadata replaces metadata natively; ingest rewrites metadata-only changes."""

    def test_update_metadata_keeps_vector_and_text(self, make_collection: MakeCollection) -> None:
        col = _seeded(make_collection, "update")
        before = {r.id: r for r in col.get(["a", "b", "c"], with_vectors=True)}
        counting = _Counting(col.encoder)
        col.encoder = counting
        updated = col.update_metadata(["c", "nope", "a"], [{"k": 30}, {"k": 0}, {"k": 10}])
        assert updated == ["c", "a"] and counting.encoded == 0
        after = {r.id: r for r in col.get(["a", "b", "c"], with_vectors=True)}
        assert [after[i].metadata for i in "abc"] == [{"k": 10}, {"k": 2}, {"k": 30}]
        for rid in "abc":
            was, now = before[rid].vector, after[rid].vector
            assert after[rid].text == before[rid].text and was is not None and now is not None
            assert float(np.abs(now - was).max()) < 1e-6
        assert col.count() == 3 and col.get(["nope"]) == []  # never created
        assert col.count({"drop": {"$exists": True}}) == 0  # the dropped key is gone
        assert col.count({"k": {"$gte": 10}}) == 2 and col.count({"tags": "t"}) == 0
        (hit,) = col.query(before["a"].vector, top_k=1, where={"k": 10})
        assert hit.id == "a" and hit.score == pytest.approx(1.0, abs=1e-5)
        assert col.update_metadata([], []) == [] and col.update_metadata(["zz"], [{}]) == []

    @pytest.mark.parametrize(
        ("ids", "metadata", "error", "record", "field"),
        [
            (["a", "b"], [{"k": 1}], InvalidInput, None, "metadata"),
            (["a", "a"], [{"k": 1}, {"k": 2}], DuplicateId, "a", "id"),
            (["a", "b"], [{"k": 1}, {"k": float("nan")}], InvalidInput, "b", "metadata.k"),
            (["a", "b"], [{"k": 1}, {"$k": 1}], InvalidInput, "b", "metadata.$k"),
            (["a", ""], [{"k": 1}, {"k": 2}], InvalidInput, 1, "id"),
            ("a", [{"k": 1}], InvalidInput, None, "ids"),
        ],
    )
    def test_bad_updates_write_nothing(
        self,
        make_collection: MakeCollection,
        ids: Any,
        metadata: Any,
        error: type[Exception],
        record: Any,
        field: str,
    ) -> None:
        col = _seeded(make_collection, "badupdate")
        with pytest.raises(error) as info:
            col.update_metadata(ids, metadata)
        assert isinstance(info.value, InvalidInput)
        assert (info.value.record, info.value.field) == (record, field)
        assert [r.metadata for r in col.get(["a", "b"])] == [{"k": 1, "drop": "x"}, {"k": 2}]

    def test_update_on_a_closed_collection(self, make_collection: MakeCollection) -> None:
        col = _seeded(make_collection, "closedupdate")
        col.close()
        with pytest.raises(StoreError, match="closed"):
            col.update_metadata(["a"], [{"k": 5}])

    def test_async_update(self, make_collection: MakeCollection) -> None:
        col = _seeded(make_collection, "aupdate")
        assert asyncio.run(col.aupdate_metadata(["b"], [{"k": 20}])) == ["b"]
        assert col.get(["b"])[0].metadata == {"k": 20}

    def test_ingest_rewrites_metadata_without_encoding(
        self, make_collection: MakeCollection
    ) -> None:
        col = make_collection("metaonly")
        rows: list[dict[str, Any]] = [
            {"id": f"r{i}", "text": f"record text {i}", "n": i} for i in range(20)
        ]
        assert col.ingest(rows).encoded == 20
        counting = _Counting(col.encoder)
        col.encoder = counting
        changed = [{**r, "n": r["n"] + 100} if i % 4 == 0 else r for i, r in enumerate(rows)]
        report = col.ingest(changed)
        assert (report.unchanged, report.metadata_only, report.encoded) == (15, 5, 0)
        assert counting.encoded == 0 and col.count({"n": {"$gte": 100}}) == 5
        assert col.ingest(changed).unchanged == 20
