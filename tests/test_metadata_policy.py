"""The coerce metadata policy: LangChain-shaped metadata made portable, the rest refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_collection
from vecstore import InvalidInput, load_settings
from vecstore.metadata import normalize_metadata


def test_coerce_flattens_dates_drops_and_widens() -> None:
    naive = dt.datetime(2024, 5, 1, 12, 30)
    aware = dt.datetime(2024, 5, 1, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    out = normalize_metadata(
        {
            "a": {"b": {"c": 1}, "d": "x"},
            "naive": naive,
            "aware": aware,
            "dates": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)],
            "none": None,
            "empty": [],
            "emptydict": {},
            "mixed": (1, 2.5),
            "ints": [1, 2],
        },
        0,
        "coerce",
    )
    assert out == {
        "a__b__c": 1,
        "a__d": "x",
        "naive": "2024-05-01T12:30:00",
        "aware": "2024-05-01T12:30:00+00:00",
        "dates": ["2024-01-01", "2024-01-02"],
        "mixed": [1.0, 2.5],
        "ints": [1, 2],
    }


@pytest.mark.parametrize(
    ("meta", "field"),
    [
        ({"m": [1, "x"]}, "metadata.m"),
        ({"b": b"raw"}, "metadata.b"),
        ({"s": {1, 2}}, "metadata.s"),
        ({"o": {"deep": object()}}, "metadata.o__deep"),
        ({"n": {"bad.key": 1}}, "metadata.n__bad.key"),
        ({"f": float("nan")}, "metadata.f"),
    ],
)
def test_coerce_still_refuses_what_it_cannot_make_portable(
    meta: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_metadata(meta, "rec-1", "coerce")
    assert (info.value.record, info.value.field) == ("rec-1", field)


def test_strict_is_the_default_and_coerce_a_setting(tmp_path: Path) -> None:
    col = make_collection(tmp_path)
    with pytest.raises(InvalidInput):
        col.upsert(["x"], metadata=[{"nested": {"a": 1}}])
    assert col.upsert(["x"], metadata=[{"nested": {"a": 1}}], metadata_policy="coerce")
    with pytest.raises(InvalidInput, match="metadata_policy"):
        col.upsert(["x"], metadata_policy="loose")  # type: ignore[arg-type]
    col.close()
    assert load_settings(metadata_policy="coerce").metadata_policy == "coerce"
