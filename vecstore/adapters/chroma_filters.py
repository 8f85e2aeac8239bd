"""The filter tree compiled to Chroma's ``where``, where Chroma can keep the exact meaning.

Measured on chromadb 1.5.9: ``$eq``/``$ne`` compare scalar fields only (``$ne`` matches lists and
missing fields), ``$contains``/``$not_contains`` test list fields only (``$not_contains`` matches
scalars and missing fields). So, exactly:

* ``$eq v`` (and ``$contains v``) = ``$or: [{f: {$eq: v}}, {f: {$contains: v}}]``;
* ``$ne v`` = ``$and: [{f: {$ne: v}}, {f: {$not_contains: v}}]``;
* ``$in``/``$nin``: the same per value, OR-ed / AND-ed;
* for string and bool operands only: with a number operand, Chroma truncates floats against int
  fields (``{f: {$eq: 1.5}}`` matches ``f = 1``, seen in the congruence test);
* ``$not`` is pushed inward (De Morgan, ``$eq``<->``$ne``, ``$in``<->``$nin``).

Range operators do not look inside lists in Chroma, and Chroma has no ``$exists``: a filter
using them raises :class:`Inexact`, and the adapter evaluates it by the reference route.
"""

from __future__ import annotations

from typing import Any

from vecstore.filters import And, Compare, Exists, Filter, Not, Or

ChromaWhere = dict[str, Any]


class Inexact(Exception):
    """Chroma's ``where`` cannot say this filter with vecstore's meaning."""


def _join(op: str, clauses: list[ChromaWhere]) -> ChromaWhere:
    return clauses[0] if len(clauses) == 1 else {op: clauses}


def _eq(field: str, value: Any) -> ChromaWhere:
    return {"$or": [{field: {"$eq": value}}, {field: {"$contains": value}}]}


def _ne(field: str, value: Any) -> ChromaWhere:
    return {"$and": [{field: {"$ne": value}}, {field: {"$not_contains": value}}]}


def _compare(node: Compare, negate: bool) -> ChromaWhere:
    op, field = node.op, node.field
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    if any(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        # Chroma compares an int field with a float operand after truncating it (1.5 == 1).
        raise Inexact("Chroma does not compare ints and floats exactly")
    if op in ("$eq", "$contains", "$in"):
        positive = not negate
    elif op in ("$ne", "$nin"):
        positive = negate
    else:
        raise Inexact(f"Chroma's {op} does not look inside list fields")
    if positive:
        return _join("$or", [_eq(field, v) for v in values])
    return _join("$and", [_ne(field, v) for v in values])


def _compile(node: Filter, negate: bool) -> ChromaWhere:
    if isinstance(node, Not):
        return _compile(node.child, not negate)
    if isinstance(node, And | Or):
        conjunction = isinstance(node, And) != negate
        return _join("$and" if conjunction else "$or", [_compile(c, negate) for c in node.children])
    if isinstance(node, Exists):
        raise Inexact("Chroma has no $exists")
    return _compare(node, negate)


def compile_where(node: Filter) -> ChromaWhere:
    """Chroma's ``where`` for ``node``, or :class:`Inexact`."""
    return _compile(node, False)
