"""Streaming ingest of iterables and files (the issue 2 slice)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from vecstore import Collection, InvalidInput
from vecstore.ingest import ingest


def records(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"id": i, "text": f"record number {i}", "group": i % 3, "skip": "x"}


def test_iterable_in_windows_with_report(col: Collection) -> None:
    seen: list[int] = []
    report = ingest(col, records(25), metadata_fields=["group"], progress=seen.append, window=10)
    assert (report.read, report.written) == (25, 25)
    assert seen == [10, 10, 5]
    assert col.count() == 25 and col.count({"group": 0}) == 9
    assert col.get(["7"])[0].metadata == {"group": 1}
    again = col.ingest(records(25), metadata_fields=["group"])
    assert again.written == 25 and col.count() == 25


def test_derived_ids_when_no_id_field(col: Collection) -> None:
    col.ingest([{"text": "alpha"}, {"text": "beta"}], id_field=None)
    col.ingest([{"text": "alpha"}, {"text": "beta"}], id_field=None)
    assert col.count() == 2


@pytest.mark.parametrize(
    ("bad", "where", "field"),
    [
        ({"id": "x"}, "record 2", "text"),
        ({"id": "x", "text": None}, "record 2", "text"),
        ({"text": "no id"}, "record 2", "id"),
        ({"id": 1.5, "text": "float id"}, "record 2", "id"),
        (["not", "a", "dict"], "record 2", None),
        ({"id": "x", "text": "t", "meta": {"nested": 1}}, "record 2", "metadata.meta"),
    ],
)
def test_bad_record_is_located_and_its_window_not_written(
    col: Collection, bad: Any, where: str, field: str | None
) -> None:
    source = [{"id": "a", "text": "fine"}, {"id": "b", "text": "fine too"}, bad]
    with pytest.raises(InvalidInput) as info:
        col.ingest(source)
    assert info.value.record == where and info.value.field == field
    assert col.count() == 0
