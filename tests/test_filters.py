"""The filter language: parsing, errors, and the vectorised evaluator against the reference."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vecstore.adapters.numpy.columns import ColumnIndex
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
    mask = ColumnIndex.of_metadata(metas).evaluate(node)
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


def test_chroma_compile_uses_the_user_key_for_strings_and_facts_for_numbers() -> None:
    from vecstore.adapters.chroma_filters import compile_where

    assert compile_where(parse({"a": "x"})) == {
        "$or": [{"a": {"$in": ["x"]}}, {"a": {"$contains": "x"}}]
    }
    assert compile_where(parse({"a": {"$ne": "y"}})) == {
        "$and": [{"a": {"$nin": ["y"]}}, {"a": {"$not_contains": "y"}}]
    }
    assert compile_where(parse({"$not": {"a": {"$in": [True]}}})) == {
        "$and": [{"a": {"$nin": [True]}}, {"a": {"$not_contains": True}}]
    }
    # numbers compare as floats on the facts: 1 is sent as 1.0, never truncated
    assert compile_where(parse({"a": {"$gt": 1}})) == {"_vecstore__hi_a": {"$gt": 1.0}}
    assert compile_where(parse({"a": {"$lt": 1.5}})) == {"_vecstore__lo_a": {"$lt": 1.5}}
    assert compile_where(parse({"$not": {"a": {"$lte": 2}}})) == {
        "$or": [{"_vecstore__lo_a": {"$gt": 2.0}}, {"_vecstore__t_a": {"$ne": "n"}}]
    }
    assert compile_where(parse({"a": 2})) == {
        "$or": [{"_vecstore__lo_a": {"$in": [2.0]}}, {"_vecstore__nl_a": {"$contains": 2.0}}]
    }
    assert compile_where(parse({"a": {"$exists": False}})) == {
        "_vecstore__t_a": {"$nin": ["n", "o"]}
    }


def test_chroma_compile_without_facts_refuses_what_needs_them() -> None:
    from vecstore.adapters.chroma_filters import Inexact, compile_where

    assert compile_where(parse({"a": "x"}), facts=False) == compile_where(parse({"a": "x"}))
    for inexact in (
        {"a": {"$gt": 1}},
        {"a": {"$exists": True}},
        {"$not": {"a": {"$lte": 2}}},
        {"a": 1.5},
        {"a": {"$in": ["x", 2]}},
    ):
        with pytest.raises(Inexact):
            compile_where(parse(inexact), facts=False)


def test_chroma_facts_describe_every_user_key() -> None:
    from vecstore.adapters.chroma_filters import chroma_facts

    facts = chroma_facts({"n": 3, "l": [4, 1], "s": "x", "b": True, "_vecstore_hash": "h"})
    assert facts == {
        "_vecstore__form": 2,
        "_vecstore__t_n": "n",
        "_vecstore__lo_n": 3.0,
        "_vecstore__hi_n": 3.0,
        "_vecstore__t_l": "n",
        "_vecstore__lo_l": 1.0,
        "_vecstore__hi_l": 4.0,
        "_vecstore__nl_l": [4.0, 1.0],
        "_vecstore__t_s": "o",
        "_vecstore__t_b": "o",
    }
    assert all(type(v) is float for k, v in facts.items() if "__lo_" in k or "__hi_" in k)


def test_pinecone_compile_negates_ranges_with_the_facts() -> None:
    from vecstore.adapters.pinecone_filters import compile_filter, pinecone_facts

    assert compile_filter(parse({"$not": {"a": {"$gt": 1}}})) == {
        "$or": [{"a": {"$lte": 1}}, {"_vecstore__t_a": {"$exists": False}}]
    }
    with pytest.raises(FilterError, match="vecstore upgrade"):
        compile_filter(parse({"$not": {"a": {"$gt": 1}}}), facts=False)
    assert pinecone_facts({"a": 1, "b": "x", "c": False}) == {
        "_vecstore__form": 2,
        "_vecstore__t_a": "n",
    }


@pytest.mark.parametrize("operand", [2**53 + 1, -(2**60), 10**400])
def test_int_operands_stay_within_the_metadata_range(operand: int) -> None:
    with pytest.raises(FilterError, match=r"2\*\*53"):
        parse({"a": {"$gt": operand}})
    assert parse({"a": {"$gt": float(2**60)}}) is not None
    assert parse({"a": 2**53}) is not None
