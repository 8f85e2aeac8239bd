"""The filter language: parsing, errors, and the vectorised evaluator against the reference."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vecstore.adapters.columns import ColumnIndex
from vecstore.errors import FilterError
from vecstore.filters import And, Compare, Exists, Not, Or, matches, operators, parse
from vecstore.testing.strategies import filters, metadata

records = st.lists(metadata, min_size=1, max_size=25)


@settings(max_examples=400, deadline=None)
@given(records, filters)
def test_vectorised_evaluation_equals_reference(
    metas: list[dict[str, Any]], where: dict[str, Any]
) -> None:
    node = parse(where)
    assert node is not None
    mask = ColumnIndex(metas).evaluate(node)
    assert mask.tolist() == [matches(node, m) for m in metas]


def test_parse_builds_tree() -> None:
    node = parse(
        {
            "lang": "en",
            "year": {"$gte": 2020, "$lt": 2024},
            "$or": [{"a": {"$exists": False}}, {"$not": {"b": {"$in": [1, 2]}}}],
        }
    )
    assert node == And(
        (
            Compare("lang", "$eq", "en"),
            And((Compare("year", "$gte", 2020), Compare("year", "$lt", 2024))),
            Or((Exists("a", False), Not(Compare("b", "$in", (1, 2))))),
        )
    )
    assert operators(node) == {"$and", "$eq", "$gte", "$lt", "$or", "$exists", "$not", "$in"}


def test_empty_filter_matches_everything() -> None:
    assert parse(None) is None and parse({}) is None


@pytest.mark.parametrize(
    ("where", "names"),
    [
        ({"year": {"$regex": "2."}}, "'$regex'"),
        ({"$nor": [{"a": 1}]}, "'$nor'"),
        ({"$or": [{"a": 1}, {"b": {"$gt": "x"}}]}, "where['$or'][1]['b']['$gt']"),
        ({"$and": []}, "where['$and']"),
        ({"$and": {"a": 1}}, "where['$and']"),
        ({"a": {"$in": "xy"}}, "where['a']['$in']"),
        ({"a": {"$exists": 1}}, "where['a']['$exists']"),
        ({"a": [1, 2]}, "use $in"),
        ({"a": {"nested": 1}}, "nested fields"),
        ({"a": None}, "where['a']"),
        ({"a": {"$gte": float("nan")}}, "finite"),
        ({"a": {"$gte": True}}, "takes a number"),
        ({"$not": []}, "where['$not']"),
        ({"": 1}, "non-empty"),
    ],
)
def test_malformed_filters_name_the_part(where: dict[str, Any], names: str) -> None:
    with pytest.raises(FilterError) as info:
        parse(where)
    assert names in str(info.value)


def test_non_dict_filter() -> None:
    with pytest.raises(FilterError, match="must be a dict"):
        parse("lang = en")  # type: ignore[arg-type]


def test_reference_type_rules() -> None:
    assert matches(parse({"a": 1}), {"a": 1.0})
    assert not matches(parse({"a": 1}), {"a": True})
    assert not matches(parse({"a": True}), {"a": 1})
    assert not matches(parse({"a": "1"}), {"a": 1})
    assert not matches(parse({"a": {"$gt": 0}}), {"a": True})
    assert matches(parse({"a": {"$ne": 1}}), {})
    assert not matches(parse({"a": {"$gt": 0}}), {})


def test_chroma_compile_is_exact_where_it_can_be() -> None:
    from vecstore.adapters.chroma_filters import Inexact, compile_where

    assert compile_where(parse({"a": "x"})) == {
        "$or": [{"a": {"$eq": "x"}}, {"a": {"$contains": "x"}}]
    }
    assert compile_where(parse({"a": {"$ne": "y"}})) == {
        "$and": [{"a": {"$ne": "y"}}, {"a": {"$not_contains": "y"}}]
    }
    assert compile_where(parse({"$not": {"a": {"$in": [True]}}})) == {
        "$and": [{"a": {"$ne": True}}, {"a": {"$not_contains": True}}]
    }
    for inexact in (
        {"a": {"$gt": 1}},
        {"a": {"$exists": True}},
        {"$not": {"a": {"$lte": 2}}},
        {"a": 1.5},
        {"a": {"$in": ["x", 2]}},
    ):
        with pytest.raises(Inexact):
            compile_where(parse(inexact))
