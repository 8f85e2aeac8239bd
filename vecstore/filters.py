"""The filter language: MongoDB-style dicts parsed once into a small syntax tree.

``{"lang": "en", "year": {"$gte": 2020}, "$or": [...]}``. Several keys in one dict are
AND-ed; ``{"f": v}`` means ``{"f": {"$eq": v}}``; ``$and``/``$or`` take non-empty lists of
filters; ``$not`` takes one filter (at the top) or an operator dict (under a field).

Meaning, identical on every backend:

* ``$eq``, ``$contains``: some value of the field equals the operand. On a list field "some
  value" is any element; ``$contains`` is the explicit spelling of list membership.
* ``$in``: some value of the field equals one of the operands (a non-empty list).
* ``$ne``, ``$nin``: the negations of ``$eq`` and ``$in``, so they match records lacking the field.
* ``$gt $gte $lt $lte``: some numeric value of the field compares true with a number.
* ``$exists``: the key is present (``true``) or absent (``false``).
* Types: int and float compare as numbers; bool is not a number (``True != 1``); a str never
  equals a number. Int operands stay within +/-2**53, as metadata ints do, so every operand
  is exactly a float and every store compares exactly. Every operator except ``$ne``, ``$nin``
  and ``$exists: false`` is false on a missing field.

:func:`matches` is the plain reference evaluator; stores compile the tree their own way.

Limits: a filter nests at most :data:`MAX_DEPTH` levels (each ``$and``, ``$or`` and ``$not``,
and each field, is a level); a deeper one is a ``FilterError``, so no store compiler or
evaluator ever recurses without bound. Field names and string operands must be valid Unicode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np

from vecstore.errors import FilterError
from vecstore.records import MAX_SAFE_INT, Metadata, Scalar
from vecstore.validation import unicode_problem

CompareOp = Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$contains"]
EQUALITY_OPS: frozenset[str] = frozenset({"$eq", "$ne", "$contains"})
RANGE_OPS: frozenset[str] = frozenset({"$gt", "$gte", "$lt", "$lte"})
SET_OPS: frozenset[str] = frozenset({"$in", "$nin"})
LOGICAL_OPS: frozenset[str] = frozenset({"$and", "$or", "$not"})
MAX_DEPTH = 64
"""Levels a filter may nest (MongoDB allows 100; the store compilers each add frames per level)."""


@dataclass(frozen=True, slots=True)
class Compare:
    """``field op value``; ``value`` is a tuple for ``$in``/``$nin``."""

    field: str
    op: CompareOp
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Exists:
    """The key is present (``exists``) or absent."""

    field: str
    exists: bool


@dataclass(frozen=True, slots=True)
class And:
    """All children match."""

    children: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child matches."""

    children: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The child does not match."""

    child: Filter


Filter: TypeAlias = Compare | Exists | And | Or | Not
Where: TypeAlias = Mapping[str, Any] | Filter | None


def parse(where: Where) -> Filter | None:
    """Parse a filter dict into a syntax tree; ``None`` or ``{}`` match everything."""
    if where is None:
        return None
    if isinstance(where, Compare | Exists | And | Or | Not):
        if _depth(where) > MAX_DEPTH:
            raise FilterError(f"the filter nests deeper than {MAX_DEPTH} levels")
        return where
    if not isinstance(where, Mapping):
        raise FilterError(f"a filter must be a dict, got {type(where).__name__}")
    if not where:
        return None
    return _parse_doc(where, "where", 1)


def _deeper(path: str, depth: int) -> int:
    if depth > MAX_DEPTH:
        raise FilterError(f"{path[:60]}...: the filter nests deeper than {MAX_DEPTH} levels")
    return depth + 1


def _depth(node: Filter) -> int:
    """How many levels a syntax tree nests (counted without recursion)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(current, And | Or):
            stack.extend((c, level + 1) for c in current.children)
        elif isinstance(current, Not):
            stack.append((current.child, level + 1))
    return deepest


def _combine(nodes: list[Filter]) -> Filter:
    return nodes[0] if len(nodes) == 1 else And(tuple(nodes))


def _parse_doc(doc: Any, path: str, depth: int) -> Filter:
    if not isinstance(doc, Mapping) or not doc:
        raise FilterError(f"{path[:200]}: expected a non-empty filter dict, got {doc!r:.200}")
    deeper = _deeper(path, depth)
    nodes: list[Filter] = []
    for key, value in doc.items():
        here = f"{path}[{key!r}]"
        if not isinstance(key, str) or not key:
            raise FilterError(f"{here}: field names must be non-empty strings")
        problem = unicode_problem(key)
        if problem is not None:
            raise FilterError(f"{here}: the field name {problem}")
        if key in ("$and", "$or"):
            if not isinstance(value, list | tuple) or not value:
                raise FilterError(f"{here}: {key} takes a non-empty list of filters")
            children = tuple(_parse_doc(c, f"{here}[{i}]", deeper) for i, c in enumerate(value))
            nodes.append(And(children) if key == "$and" else Or(children))
        elif key == "$not":
            nodes.append(Not(_parse_doc(value, here, deeper)))
        elif key.startswith("$"):
            raise FilterError(f"{here}: unknown logical operator {key!r} (use $and, $or, $not)")
        else:
            nodes.append(_parse_field(key, value, here, deeper))
    return _combine(nodes)


def _parse_field(field: str, cond: Any, path: str, depth: int) -> Filter:
    if not isinstance(cond, Mapping):
        return Compare(field, "$eq", _operand_scalar(cond, "$eq", path))
    if not cond:
        raise FilterError(f"{path[:200]}: an empty operator dict says nothing")
    deeper = _deeper(path, depth)
    nodes: list[Filter] = []
    for op, operand in cond.items():
        here = f"{path}[{op!r}]"
        if not isinstance(op, str) or not op.startswith("$"):
            raise FilterError(
                f"{here}: expected an operator such as $eq; nested fields are not supported"
            )
        if op in EQUALITY_OPS:
            nodes.append(Compare(field, op, _operand_scalar(operand, op, here)))  # type: ignore[arg-type]
        elif op in RANGE_OPS:
            nodes.append(Compare(field, op, _operand_number(operand, op, here)))  # type: ignore[arg-type]
        elif op in SET_OPS:
            if not isinstance(operand, list | tuple) or not operand:
                raise FilterError(f"{here}: {op} takes a non-empty list of values")
            values = tuple(_operand_scalar(v, op, f"{here}[{i}]") for i, v in enumerate(operand))
            nodes.append(Compare(field, op, values))  # type: ignore[arg-type]
        elif op == "$exists":
            if not isinstance(operand, bool | np.bool_):
                raise FilterError(f"{here}: $exists takes true or false, got {operand!r}")
            nodes.append(Exists(field, bool(operand)))
        elif op == "$not":
            nodes.append(Not(_parse_field(field, operand, here, deeper)))
        else:
            raise FilterError(f"{here}: unknown operator {op!r}")
    return _combine(nodes)


def _operand_scalar(value: Any, op: str, path: str) -> Scalar:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        problem = unicode_problem(value)
        if problem is not None:
            raise FilterError(f"{path}: the {op} operand {problem}")
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _operand_number(value, op, path)
    hint = " (use $in for several values)" if isinstance(value, list | tuple) else ""
    raise FilterError(f"{path}: {op} takes a str, number or bool, got {value!r}{hint}")


def _operand_number(value: Any, op: str, path: str) -> int | float:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FilterError(f"{path}: {op} takes a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise FilterError(f"{path}: {op} takes a finite number, got {value!r}")
    if isinstance(value, int) and abs(value) > MAX_SAFE_INT:
        raise FilterError(
            f"{path}: {op} takes ints within +/-2**53 (the range metadata ints are kept in), "
            f"got {value}; write it as a float"
        )
    return value


def fields(node: Filter | None) -> set[str]:
    """Return every metadata key the filter reads."""
    if node is None:
        return set()
    if isinstance(node, Compare | Exists):
        return {node.field}
    if isinstance(node, Not):
        return fields(node.child)
    return set().union(*(fields(c) for c in node.children))


# The reference evaluator: deliberately plain, one record at a time.


def scalar_equal(a: Scalar, b: Scalar) -> bool:
    """Equality under the filter's type rules (bool is not a number, str is not a number)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return a == b


def _is_number(x: Scalar) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _compare(x: float, op: str, v: float) -> bool:
    if op == "$gt":
        return x > v
    if op == "$gte":
        return x >= v
    if op == "$lt":
        return x < v
    return x <= v


def _values(metadata: Metadata, field: str) -> Sequence[Scalar]:
    if field not in metadata:
        return ()
    value = metadata[field]
    return value if isinstance(value, list) else (value,)


def matches(node: Filter | None, metadata: Metadata) -> bool:
    """Return whether one record's metadata satisfies the filter."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(matches(c, metadata) for c in node.children)
    if isinstance(node, Or):
        return any(matches(c, metadata) for c in node.children)
    if isinstance(node, Not):
        return not matches(node.child, metadata)
    if isinstance(node, Exists):
        return (node.field in metadata) == node.exists
    values = _values(metadata, node.field)
    op = node.op
    if op in ("$eq", "$contains", "$ne"):
        hit = any(scalar_equal(x, node.value) for x in values)  # type: ignore[arg-type]
        return not hit if op == "$ne" else hit
    if op in ("$in", "$nin"):
        operands = node.value
        assert isinstance(operands, tuple)
        hit = any(scalar_equal(x, v) for x in values for v in operands)
        return not hit if op == "$nin" else hit
    assert isinstance(node.value, int | float)
    return any(_is_number(x) and _compare(float(x), op, node.value) for x in values)


def operators(node: Filter | None) -> set[str]:
    """Return every operator the filter uses (``$and`` for an implicit AND too)."""
    if node is None:
        return set()
    if isinstance(node, Compare):
        return {node.op}
    if isinstance(node, Exists):
        return {"$exists"}
    if isinstance(node, Not):
        return {"$not"} | operators(node.child)
    own = "$and" if isinstance(node, And) else "$or"
    return {own}.union(*(operators(c) for c in node.children))
