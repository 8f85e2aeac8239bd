"""The filter tree compiled to Qdrant conditions, with the reference meaning exactly.

* ``$eq``/``$contains`` on a str or bool is ``MatchValue``; on a number it is ``Range(gte=v,
  lte=v)``, so an int matches an equal float (``MatchValue`` takes no floats). Qdrant matches
  either against any element of a list payload, as the reference does.
* ``$ne``/``$nin`` are ``must_not`` around the positive form: true where the field is missing.
* ``$exists: false`` is ``IsEmpty`` (missing, null or ``[]``; vecstore never stores the last
  two), ``$exists: true`` its ``must_not``.
* ``$and``/``$or``/``$not`` are ``must``/``should``/``must_not``.
"""

from __future__ import annotations

from typing import Any

from vecstore.filters import And, Compare, Exists, Filter, Not, Or


def _eq(models: Any, field: str, value: Any) -> Any:
    if isinstance(value, bool | str):
        return models.FieldCondition(key=field, match=models.MatchValue(value=value))
    return models.FieldCondition(key=field, range=models.Range(gte=value, lte=value))


def _condition(models: Any, node: Filter) -> Any:
    if isinstance(node, And):
        return models.Filter(must=[_condition(models, c) for c in node.children])
    if isinstance(node, Or):
        return models.Filter(should=[_condition(models, c) for c in node.children])
    if isinstance(node, Not):
        return models.Filter(must_not=[_condition(models, node.child)])
    if isinstance(node, Exists):
        empty = models.IsEmptyCondition(is_empty=models.PayloadField(key=node.field))
        return models.Filter(must_not=[empty]) if node.exists else empty
    return _compare(models, node)


def _compare(models: Any, node: Compare) -> Any:
    op, field = node.op, node.field
    if op in ("$eq", "$contains"):
        return _eq(models, field, node.value)
    if op == "$ne":
        return models.Filter(must_not=[_eq(models, field, node.value)])
    if op in ("$in", "$nin"):
        assert isinstance(node.value, tuple)
        options = [_eq(models, field, v) for v in node.value]
        return models.Filter(should=options) if op == "$in" else models.Filter(must_not=options)
    bound = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}[op]
    return models.FieldCondition(key=field, range=models.Range(**{bound: node.value}))


def compile_filter(models: Any, node: Filter | None) -> Any:
    """A ``models.Filter`` for ``node`` (None for no filter)."""
    if node is None:
        return None
    condition = _condition(models, node)
    return condition if isinstance(condition, models.Filter) else models.Filter(must=[condition])
