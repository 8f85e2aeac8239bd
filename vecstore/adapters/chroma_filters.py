"""The filter tree compiled to Chroma's ``where``, with the reference meaning exactly.

Measured on chromadb 1.5.9: ``$eq``/``$ne``/``$in``/``$nin`` compare scalar fields only (the
negations match lists and missing fields), ``$contains``/``$not_contains`` test list fields
only (``$not_contains`` matches scalars and missing fields), ranges ignore lists, a float
operand is truncated against an int field (``{f: {$lt: 1.2}}`` misses ``f = 1``), and there is
no ``$exists`` and no ``$not``. So strings and bools are compared on the user's own key, and
everything else on the filter facts vecstore writes beside it (:func:`chroma_facts`):

* ``_vecstore__t_<key>``: ``"n"`` when the key holds a number (or a list with numbers), else
  ``"o"``; absent when the key is;
* ``_vecstore__lo_<key>``, ``_vecstore__hi_<key>``: the least and greatest number, as floats
  (exact: ints in metadata and in filters are within +/-2**53), compared with the operand as a
  float, so nothing is truncated, and a range over a list ("some element > v") is a range over
  its greatest or least element;
* ``_vecstore__nl_<key>``: a list's numbers as floats, for equality with an element.

``$not`` is pushed inward (De Morgan, each operator to its complement, the facts making the
complement exact: "not some element > v" is ``hi <= v`` or no number at all).

A collection written before the facts (no form marker) gets :func:`compile_where` with
``facts=False``: the older compile, which raises :class:`Inexact` for numbers, ranges and
``$exists``; the adapter then evaluates those by the reference route.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vecstore.adapters.facts import (
    FORM,
    FORM_KEY,
    NEGATED,
    fact_key,
    numbers,
    user_items,
)
from vecstore.filters import RANGE_OPS, And, Compare, Exists, Filter, Not, Or

ChromaWhere = dict[str, Any]
NUMBER, OTHER = "n", "o"


class Inexact(Exception):
    """Chroma's ``where`` cannot say this filter with vecstore's meaning (older collections)."""


def chroma_facts(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The filter facts of one record's metadata (added beside it on write)."""
    out: dict[str, Any] = {FORM_KEY: FORM}
    for key, value in user_items(metadata):
        nums = numbers(value)
        out[fact_key("t", key)] = NUMBER if nums else OTHER
        if nums:
            out[fact_key("lo", key)] = float(min(nums))
            out[fact_key("hi", key)] = float(max(nums))
            if isinstance(value, list):
                out[fact_key("nl", key)] = [float(x) for x in nums]
    return out


def _join(op: str, clauses: list[ChromaWhere]) -> ChromaWhere:
    return clauses[0] if len(clauses) == 1 else {op: clauses}


def _equality(field: str, values: tuple[Any, ...], positive: bool, facts: bool) -> ChromaWhere:
    """Some value of ``field`` equals one of ``values`` (or, not ``positive``, none does)."""
    scalar_op, list_op = ("$in", "$contains") if positive else ("$nin", "$not_contains")
    clauses: list[ChromaWhere] = []
    for kind in (str, bool):
        group = [v for v in values if type(v) is kind]
        if group:
            clauses.append({field: {scalar_op: group}})
            clauses += [{field: {list_op: v}} for v in group]
    nums = [v for v in values if not isinstance(v, str | bool)]
    if nums and not facts:
        raise Inexact("Chroma does not compare ints and floats exactly")
    if nums:
        floats = [float(v) for v in nums]  # exact: ints in filters are within +/-2**53
        clauses.append({fact_key("lo", field): {scalar_op: floats}})
        clauses += [{fact_key("nl", field): {list_op: f}} for f in floats]
    return _join("$or" if positive else "$and", clauses)


def _range(field: str, op: str, value: int | float, positive: bool) -> ChromaWhere:
    """Some number of ``field`` compares true (or, not ``positive``, none does)."""
    key = fact_key("hi" if op in ("$gt", "$gte") else "lo", field)
    if positive:
        return {key: {op: float(value)}}
    return {"$or": [{key: {NEGATED[op]: float(value)}}, {fact_key("t", field): {"$ne": NUMBER}}]}


def _compare(node: Compare, negate: bool, facts: bool) -> ChromaWhere:
    if node.op in RANGE_OPS:
        if not facts:
            raise Inexact(f"Chroma's {node.op} does not look inside list fields")
        assert isinstance(node.value, int | float)
        return _range(node.field, node.op, node.value, not negate)
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    positive = (node.op in ("$eq", "$contains", "$in")) != negate
    return _equality(node.field, values, positive, facts)


def _compile(node: Filter, negate: bool, facts: bool) -> ChromaWhere:
    if isinstance(node, Not):
        return _compile(node.child, not negate, facts)
    if isinstance(node, And | Or):
        conjunction = isinstance(node, And) != negate
        children = [_compile(c, negate, facts) for c in node.children]
        return _join("$and" if conjunction else "$or", children)
    if isinstance(node, Exists):
        if not facts:
            raise Inexact("Chroma has no $exists")
        present = node.exists != negate
        return {fact_key("t", node.field): {"$in" if present else "$nin": [NUMBER, OTHER]}}
    return _compare(node, negate, facts)


def compile_where(node: Filter, *, facts: bool = True) -> ChromaWhere:
    """Chroma's ``where`` for ``node``.

    ``facts``: the collection holds filter facts; without them, numbers, ranges and ``$exists``
    raise :class:`Inexact`.
    """
    return _compile(node, False, facts)
