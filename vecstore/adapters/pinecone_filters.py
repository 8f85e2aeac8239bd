"""The filter tree compiled to Pinecone's filter language, with the reference meaning exactly.

Pinecone has ``$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or`` and no ``$not``; its docs
do not say whether ``$ne``/``$nin`` match a record lacking the field. So:

* ``$ne v`` becomes ``$or: [{f: {$ne: v}}, {f: {$exists: false}}]`` (the same for ``$nin``), true
  on a missing field whichever way Pinecone reads ``$ne`` there;
* ``$contains v`` is ``$eq v`` (Pinecone matches a list field when an element equals);
* ``$in``/``$nin`` with bools are spelled as ``$eq``/``$ne`` per value (``$in`` lists hold
  strings or numbers);
* ``$not`` is pushed inward (De Morgan; ``$eq``<->``$ne``, ``$in``<->``$nin``, ``$exists`` flips).
  "Not greater" must also match strings, bools and missing fields, which Pinecone's own
  operators cannot tell from a small number; the filter facts vecstore writes beside each
  record (:func:`pinecone_facts`: ``_vecstore__t_<key> = "n"`` on keys that hold a number) make
  it ``$or: [{f: {$lte: v}}, {_vecstore__t_f: {$exists: false}}]``.
* A namespace written before the facts (records without ``_vecstore__form``) still refuses a
  ``$not`` around a range (``facts=False``) until ``vecstore upgrade`` writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vecstore.adapters.facts import FORM, FORM_KEY, NEGATED, fact_key, numbers, user_items
from vecstore.errors import FilterError
from vecstore.filters import And, Compare, Exists, Filter, Not, Or

PineconeFilter = dict[str, Any]
NUMBER = "n"


def pinecone_facts(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The filter facts of one record's metadata: the form, and which keys hold a number."""
    out: dict[str, Any] = {FORM_KEY: FORM}
    out.update(
        {fact_key("t", key): NUMBER for key, value in user_items(metadata) if numbers(value)}
    )
    return out


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


def _compile(node: Filter, negate: bool, facts: bool) -> PineconeFilter:
    if isinstance(node, Not):
        return _compile(node.child, not negate, facts)
    if isinstance(node, And | Or):
        conjunction = isinstance(node, And) != negate
        children = [_compile(c, negate, facts) for c in node.children]
        return {"$and" if conjunction else "$or": children}
    if isinstance(node, Exists):
        return {node.field: {"$exists": node.exists != negate}}
    return _compare(node, negate, facts)


def _compare(node: Compare, negate: bool, facts: bool) -> PineconeFilter:
    op, field, value = node.op, node.field, node.value
    if op in ("$eq", "$contains"):
        return _ne(field, value) if negate else _eq(field, value)
    if op == "$ne":
        return _eq(field, value) if negate else _ne(field, value)
    if op in ("$in", "$nin"):
        assert isinstance(value, tuple)
        positive = (op == "$in") != negate
        return _in(field, value) if positive else _nin(field, value)
    if not negate:
        return {field: {op: value}}
    if not facts:
        raise FilterError(
            f"this Pinecone namespace was written without filter facts, so $not around {op} on "
            f"{field!r} cannot be evaluated exactly; run `vecstore upgrade` once, or rewrite the "
            "filter without $not"
        )
    return {"$or": [{field: {NEGATED[op]: value}}, {fact_key("t", field): {"$exists": False}}]}


def compile_filter(node: Filter | None, *, facts: bool = True) -> PineconeFilter | None:
    """A Pinecone filter dict for ``node`` (None for no filter).

    ``facts``: the namespace's records carry filter facts; without them a ``$not`` around a
    range raises FilterError.
    """
    return None if node is None else _compile(node, False, facts)
