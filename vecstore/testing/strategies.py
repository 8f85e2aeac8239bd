"""Hypothesis strategies: random portable metadata and random filters over a few keys."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

KEYS = ["a", "b", "c"]
STRS = ["x", "y", "1"]
scalars = st.one_of(
    st.sampled_from(STRS), st.integers(-3, 3), st.sampled_from([-1.5, 0.0, 2.5]), st.booleans()
)
values = st.one_of(
    scalars,
    st.lists(st.sampled_from(STRS), min_size=1, max_size=3),
    st.lists(st.integers(-3, 3), min_size=1, max_size=3),
    st.lists(st.booleans(), min_size=1, max_size=2),
)
metadata = st.dictionaries(st.sampled_from(KEYS), values, max_size=3)
numbers = st.one_of(st.integers(-3, 3), st.sampled_from([-1.5, 0.0, 2.5]))


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    key = st.sampled_from(KEYS)

    def op(names: list[str], operand: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
        return st.builds(lambda k, o, v: {k: {o: v}}, key, st.sampled_from(names), operand)

    return st.one_of(
        st.builds(lambda k, v: {k: v}, key, scalars),
        op(["$eq", "$ne", "$contains"], scalars),
        op(["$gt", "$gte", "$lt", "$lte"], numbers),
        op(["$in", "$nin"], st.lists(scalars, min_size=1, max_size=3)),
        op(["$exists"], st.booleans()),
    )


filters = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(lambda cs: {"$and": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"$or": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"$not": c}, inner),
    ),
    max_leaves=6,
)
