"""The filter tree compiled to Pinecone's filter language, with the reference meaning exactly.

Pinecone has ``$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or`` and no ``$not``; its docs
do not say whether ``$ne``/``$nin`` match a record lacking the field. So:

* ``$ne v`` becomes ``$or: [{f: {$ne: v}}, {f: {$exists: false}}]`` (the same for ``$nin``), true
  on a missing field whichever way Pinecone reads ``$ne`` there;
* ``$contains v`` is ``$eq v`` (Pinecone matches a list field when an element equals);
* ``$in``/``$nin`` with bools are spelled as ``$eq``/``$ne`` per value (``$in`` lists hold
  strings or numbers);
* ``$not`` is pushed inward (De Morgan; ``$eq``<->``$ne``, ``$in``<->``$nin``, ``$exists`` flips).
  A ``$not`` that reaches ``$gt``/``$gte``/``$lt``/``$lte`` is refused: "not greater" would also
  have to match strings, bools and missing fields, which Pinecone cannot test for.
"""

from __future__ import annotations

from typing import Any

from vecstore.errors import FilterError
from vecstore.filters import And, Compare, Exists, Filter, Not, Or

PineconeFilter = dict[str, Any]


def _missing(field: str) -> PineconeFilter:
    return {field: {"$exists": False}}


def _eq(field: str, value: Any) -> PineconeFilter:
    return {field: {"$eq": value}}


def _ne(field: str, value: Any) -> PineconeFilter:
    return {"$or": [{field: {"$ne": value}}, _missing(field)]}


def _in(field: str, values: tuple[Any, ...]) -> PineconeFilter:
    if any(isinstance(v, bool) for v in values):
        return {"$or": [_eq(field, v) for v in values]}
    return {field: {"$in": list(values)}}


def _nin(field: str, values: tuple[Any, ...]) -> PineconeFilter:
    if any(isinstance(v, bool) for v in values):
        return {"$and": [_ne(field, v) for v in values]}
    return {"$or": [{field: {"$nin": list(values)}}, _missing(field)]}


def _compile(node: Filter, negate: bool) -> PineconeFilter:
    if isinstance(node, Not):
        return _compile(node.child, not negate)
    if isinstance(node, And | Or):
        conjunction = isinstance(node, And) != negate
        return {"$and" if conjunction else "$or": [_compile(c, negate) for c in node.children]}
    if isinstance(node, Exists):
        return {node.field: {"$exists": node.exists != negate}}
    return _compare(node, negate)


def _compare(node: Compare, negate: bool) -> PineconeFilter:
    op, field, value = node.op, node.field, node.value
    if op in ("$eq", "$contains"):
        return _ne(field, value) if negate else _eq(field, value)
    if op == "$ne":
        return _eq(field, value) if negate else _ne(field, value)
    if op in ("$in", "$nin"):
        assert isinstance(value, tuple)
        positive = (op == "$in") != negate
        return _in(field, value) if positive else _nin(field, value)
    if negate:
        raise FilterError(
            f"Pinecone cannot evaluate $not around {op} on {field!r} exactly (it would also have "
            "to match strings, bools and missing fields); rewrite it without $not"
        )
    return {field: {op: value}}


def compile_filter(node: Filter | None) -> PineconeFilter | None:
    """A Pinecone filter dict for ``node`` (None for no filter); raises FilterError if inexact."""
    return None if node is None else _compile(node, False)
