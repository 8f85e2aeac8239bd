"""What vecstore keeps in PostgreSQL: a registry table of collections and one table each.

* ``vecstore_collections`` (in the configured schema): one row a collection, its name, table,
  model, dimension, metric, index kind and ``version`` (the layout of its table, see
  :data:`VERSION`; ``vecstore upgrade`` brings an older one to it).
* One table a collection, ``vs_<name as letters>_<hash>``: ``id`` (primary key), ``embedding``
  (``vector(d)``, unit length), ``text``, ``metadata`` (jsonb, GIN-indexed for filters),
  ``n_tokens``/``terms``/``weights`` (the record's BM25 vector, :mod:`vecstore.keywords`:
  term ids as int8, weights as float4; ``terms`` GIN-indexed), and an HNSW index on
  ``embedding`` (``vector_cosine_ops``) unless the index is ``exact``.

Creating and altering runs under a transaction-scoped advisory lock, so several processes
opening one collection at once create it once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vecstore.errors import ConfigError, IncompatibleCollection, InvalidName

VERSION = 1
"""The table layout this vecstore writes; a newer one is refused, an older one upgraded."""
REGISTRY = "vecstore_collections"
LOCK_KEY = 0x76656373  # "vecs": the advisory lock of vecstore's DDL
MAX_NAME = 255
SLUG = re.compile(r"[^a-z0-9]+")

Migration = Callable[[Any, Any, "Layout"], None]
MIGRATIONS: dict[int, Migration] = {}
"""From version ``v`` to ``v + 1``: a function of (cursor, sql module, layout)."""


def check_pg_name(name: str) -> str:
    """A collection name PostgreSQL can hold in the registry: 1-255 characters, no controls."""
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidName(
            f"pgvector collection name {name[:80]!r}: 1-{MAX_NAME} characters, no control "
            "characters (NUL, newline, tab)"
        )
    return name


def table_name(name: str) -> str:
    """The table of collection ``name``: readable, within 63 bytes, unique by a hash."""
    slug = SLUG.sub("_", name.lower()).strip("_")[:40]
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"vs_{slug}_{digest}" if slug else f"vs_{digest}"


@dataclass(frozen=True, slots=True)
class Layout:
    """Where one collection lives: its schema and table, and how its vectors are indexed."""

    schema: str
    table: str
    dimension: int
    index: str

    def ident(self, psycopg_sql: Any, suffix: str = "") -> Any:
        """The table (or, with ``suffix``, an object named after it) as a quoted identifier."""
        return psycopg_sql.Identifier(self.schema, self.table + suffix)


def lock(cur: Any) -> None:
    """Hold vecstore's DDL lock until the transaction ends."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))


def ensure_extension(cur: Any, errors: tuple[type[BaseException], ...]) -> None:
    """The ``vector`` extension, created if missing; ConfigError if this server cannot."""
    cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
    if cur.fetchone() is not None:
        return
    cur.execute("SAVEPOINT vecstore_extension")
    try:
        cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except errors as exc:
        cur.execute("ROLLBACK TO SAVEPOINT vecstore_extension")
        raise ConfigError(
            "PostgreSQL has no `vector` extension here and this role cannot create it: install "
            "pgvector on the server (https://github.com/pgvector/pgvector) and run "
            f"`CREATE EXTENSION vector;` as a superuser in this database ({type(exc).__name__})"
        ) from None


def ensure_registry(cur: Any, q: Any, schema: str) -> None:
    """The schema and the registry table, created if missing."""
    cur.execute(q.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(q.Identifier(schema)))
    cur.execute(
        q.SQL(
            "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, table_name text UNIQUE NOT "
            "NULL, model text NOT NULL, dimension int NOT NULL, metric text NOT NULL, "
            "index_kind text NOT NULL, version int NOT NULL)"
        ).format(q.Identifier(schema, REGISTRY))
    )


def create_table(cur: Any, q: Any, layout: Layout) -> None:
    """A collection's table and its indexes."""
    t = layout.ident(q)
    cur.execute(
        q.SQL(
            "CREATE TABLE {} (id text PRIMARY KEY, embedding vector({}) NOT NULL, text text, "
            "metadata jsonb NOT NULL, n_tokens int NOT NULL, terms int8[] NOT NULL, weights "
            "float4[] NOT NULL)"
        ).format(t, q.Literal(layout.dimension))
    )
    name = q.Identifier
    cur.execute(
        q.SQL("CREATE INDEX {} ON {} USING gin (metadata)").format(name(layout.table + "_m"), t)
    )
    cur.execute(
        q.SQL("CREATE INDEX {} ON {} USING gin (terms)").format(name(layout.table + "_t"), t)
    )
    if layout.index == "hnsw":
        cur.execute(
            q.SQL("CREATE INDEX {} ON {} USING hnsw (embedding vector_cosine_ops)").format(
                name(layout.table + "_v"), t
            )
        )


def check_version(name: str, version: int) -> None:
    """Refuse a table written by a newer vecstore."""
    if version > VERSION:
        raise IncompatibleCollection(
            f"pgvector collection {name!r} has table layout {version}, newer than this "
            f"vecstore's ({VERSION}): upgrade vecstore"
        )


def migrate(cur: Any, q: Any, name: str, layout: Layout, version: int) -> int:
    """Bring the table from ``version`` to :data:`VERSION`; the number of steps taken."""
    steps = 0
    while version < VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ConfigError(f"no migration of pgvector collection {name!r} from v{version}")
        step(cur, q, layout)
        version += 1
        steps += 1
    return steps
