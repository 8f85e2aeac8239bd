"""The filter tree compiled to SQL over the ``metadata`` jsonb column, with the reference meaning.

Keys and values are always bound parameters, never text in the statement:

* ``$eq``/``$contains``/``$in`` are jsonb containment, ``m @> {key: v} OR m @> {key: [v]}``
  (the second form matches a list holding ``v``): jsonb compares a number with a number (1
  equals 1.0), a string with a string and a bool with a bool, never across types, as the
  reference does. The GIN index on the column serves both.
* ``$ne``/``$nin`` are ``NOT`` around the positive form: true where the key is missing.
* ``$exists`` is jsonb's key test ``m ? key`` (GIN-indexed too).
* ``$gt``/``$gte``/``$lt``/``$lte`` hold when any numeric value of the key (the value, or an
  element of a list) compares true as float8, as the reference compares floats; strings and
  bools never compare with numbers.
* ``$and``/``$or``/``$not`` are ``AND``/``OR``/``NOT``; every part is never NULL (the column is
  ``NOT NULL``), so ``NOT`` means "does not match".
"""

from __future__ import annotations

from typing import Any

from vecstore.errors import InvalidInput
from vecstore.filters import And, Compare, Exists, Filter, Not, Or
from vecstore.records import Scalar

RANGE_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def no_nul(value: str, field: str, what: str = "a string") -> str:
    """``value``, or InvalidInput: PostgreSQL's text cannot hold a NUL character."""
    if "\x00" in value:
        raise InvalidInput(
            f"{what} holds a NUL character, which PostgreSQL cannot store", field=field
        )
    return value


class Compiler:
    """One filter's SQL text (``%s`` placeholders) and its parameters, in order."""

    def __init__(self, psycopg_sql: Any, jsonb: Any, column: str = "metadata") -> None:
        self.sql = psycopg_sql
        self.jsonb = jsonb
        self.column = psycopg_sql.Identifier(column)
        self.params: list[Any] = []

    def compile(self, node: Filter) -> Any:
        """A ``sql.Composable`` for ``node``; its parameters are appended to ``self.params``."""
        q = self.sql
        if isinstance(node, And | Or):
            joiner = q.SQL(" AND " if isinstance(node, And) else " OR ")
            return q.SQL("({})").format(joiner.join(self.compile(c) for c in node.children))
        if isinstance(node, Not):
            return q.SQL("(NOT {})").format(self.compile(node.child))
        if isinstance(node, Exists):
            self.params.append(no_nul(node.field, "where", "a filter key"))
            test = q.SQL("({} ? %s)").format(self.column)
            return test if node.exists else q.SQL("(NOT {})").format(test)
        return self._compare(node)

    def _compare(self, node: Compare) -> Any:
        q, op, field = self.sql, node.op, no_nul(node.field, "where", "a filter key")
        if op in ("$eq", "$contains", "$ne"):
            assert not isinstance(node.value, tuple)
            test = self._equal(field, node.value)
            return q.SQL("(NOT {})").format(test) if op == "$ne" else test
        if op in ("$in", "$nin"):
            assert isinstance(node.value, tuple)
            test = q.SQL("({})").format(
                q.SQL(" OR ").join(self._equal(field, v) for v in node.value)
            )
            return q.SQL("(NOT {})").format(test) if op == "$nin" else test
        assert isinstance(node.value, int | float)
        self.params.extend([field, field, field, float(node.value)])
        return q.SQL(
            "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof({c} -> %s) = "
            "'array' THEN {c} -> %s ELSE jsonb_build_array({c} -> %s) END) AS e(v) WHERE CASE "
            "WHEN jsonb_typeof(e.v) = 'number' THEN e.v::float8 {op} %s::float8 ELSE false END)"
        ).format(c=self.column, op=q.SQL(RANGE_OPS[op]))

    def _equal(self, field: str, value: Scalar) -> Any:
        if isinstance(value, str):
            no_nul(value, "where", "a filter value")
        self.params.extend([self.jsonb({field: value}), self.jsonb({field: [value]})])
        return self.sql.SQL("({c} @> %s OR {c} @> %s)").format(c=self.column)


def compile_where(psycopg_sql: Any, jsonb: Any, node: Filter | None) -> tuple[Any, list[Any]]:
    """``(condition, params)`` for ``node``: ``TRUE`` and no parameters for no filter."""
    if node is None:
        return psycopg_sql.SQL("TRUE"), []
    compiler = Compiler(psycopg_sql, jsonb)
    return compiler.compile(node), compiler.params
