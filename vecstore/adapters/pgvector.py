"""PostgreSQL with pgvector, through psycopg 3, a connection pool and the pgvector adapter.

* Layout: :mod:`vecstore.adapters.pgvector_schema` (a registry table and one table a
  collection, versioned); filters: :mod:`vecstore.adapters.pgvector_filters` (SQL over jsonb,
  the reference meaning); errors: :mod:`vecstore.adapters.pgvector_errors`.
* Writes: a batch is copied in binary (``COPY ... FROM STDIN (FORMAT BINARY)``) into a
  temporary staging table, then merged by one ``INSERT ... ON CONFLICT (id) DO UPDATE``, in one
  transaction: a batch is stored whole or not at all, and a retried batch writes the same rows.
* Dense search: ``ORDER BY embedding <=> q`` with the HNSW index and pgvector's iterative index
  scans (``hnsw.iterative_scan = relaxed_order``, re-sorted exactly), so a selective filter
  still returns ``top_k`` when that many match; ``hnsw.ef_search`` from settings. With
  ``index = "exact"`` there is no vector index and the scan is exact. Equal scores by id.
* Keyword search: BM25 (:mod:`vecstore.keywords`) in one statement: ``N`` and each term's
  ``df`` counted over the live rows in the same snapshot as the scores (a delete counts at
  once, as on the NumPy store), then each candidate's sum of ``idf * weight``.
* Identifiers are quoted by ``psycopg.sql.Identifier``, every value is bound; a string holding
  NUL (PostgreSQL's text cannot) is refused with ``InvalidInput``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vecstore.adapters.base import Capabilities, CollectionSummary, StoreDescription
from vecstore.adapters.common import check_compatible, clip_score, ordered, require
from vecstore.adapters.network import NetworkBackend, reads, writes
from vecstore.adapters.pgvector_copy import COLUMNS, check_strings, rows
from vecstore.adapters.pgvector_copy import TYPES as COPY_TYPES
from vecstore.adapters.pgvector_copy import register as register_arrays
from vecstore.adapters.pgvector_errors import PostgresErrors
from vecstore.adapters.pgvector_filters import compile_where
from vecstore.adapters.pgvector_schema import (
    REGISTRY,
    VERSION,
    Layout,
    check_pg_name,
    check_version,
    create_table,
    ensure_extension,
    ensure_registry,
    lock,
    migrate,
    table_name,
)
from vecstore.errors import (
    BackendError,
    CollectionNotFound,
    ConfigError,
)
from vecstore.filters import Filter
from vecstore.keywords import Terms
from vecstore.records import (
    CollectionInfo,
    Hit,
    Metadata,
    RecordBatch,
    StoredRecord,
    Vectors,
)

if TYPE_CHECKING:
    from vecstore.config import PgvectorSettings, Settings

CONNECT_TIMEOUT_S = 10
CONNECT_ATTEMPTS = 4


def _where_of(conninfo: dict[str, Any]) -> str:
    """host:port/database, never the password."""
    host = str(conninfo.get("host") or conninfo.get("hostaddr") or "localhost")
    port = conninfo.get("port") or 5432
    return f"{host}:{port}/{conninfo.get('dbname') or conninfo.get('user') or 'postgres'}"


class PgvectorBackend(NetworkBackend):
    """One collection in PostgreSQL with pgvector."""

    capabilities = Capabilities()

    def __init__(self, collection: str, settings: Settings | None = None) -> None:
        super().__init__()
        self.name = check_pg_name(collection)
        self._psycopg = require("psycopg", "psycopg[binary]", "pgvector")
        self._pool_mod = require("psycopg_pool", "psycopg-pool", "pgvector")
        self._pgv = require("pgvector.psycopg.vector", "pgvector", "pgvector")
        self.sql = require("psycopg.sql", "psycopg[binary]", "pgvector")
        self.jsonb = require("psycopg.types.json", "psycopg[binary]", "pgvector").Jsonb
        self._typeinfo = require("psycopg.types", "psycopg[binary]", "pgvector").TypeInfo
        self._vector_info: Any = None
        self._staged: weakref.WeakSet[Any] = weakref.WeakSet()
        self._plain: dict[bool, Any] = {}  # unfiltered dense statements, as bytes once composed
        cfg: PgvectorSettings | None = settings.pgvector if settings is not None else None
        if cfg is None or cfg.dsn is None:
            raise ConfigError(
                "pgvector needs pgvector.dsn (VECSTORE_PGVECTOR__DSN), a PostgreSQL connection "
                "string such as postgresql://user:password@host:5432/database"
            )
        self.cfg = cfg
        self._dsn = cfg.dsn.get_secret_value()
        try:
            info = self._psycopg.conninfo.conninfo_to_dict(self._dsn)
        except self._psycopg.ProgrammingError:
            raise ConfigError("pgvector.dsn is not a valid PostgreSQL connection string") from None
        self.where = _where_of(info)
        self.errors = PostgresErrors(
            "PostgreSQL",
            self.where,
            ("psycopg", "psycopg_pool", "pgvector"),
            secret=str(info.get("password") or ""),
        )
        self.layout = Layout(cfg.schema_, table_name(self.name), 0, cfg.index)

    # -- connection ------------------------------------------------------------------------------

    def _configure(self, conn: Any) -> None:
        """A new pooled connection: the vector type known from the first (no round trip)."""
        self._pgv.register_vector_info(conn, self._vector_info)
        register_arrays(conn, self._vector_info.oid)

    def _connection_class(self) -> Any:
        """The Connection class: its ``connect`` tries again at once a few times.

        A connection takes a few exchanges (TLS request, start-up) and a flaky network can
        break any: without this, each broken attempt would cost the pool's own backoff
        (1 s, then doubling), much slower than vecstore's retry of a failed call.
        """
        psycopg = self._psycopg

        class Connection(psycopg.Connection):  # type: ignore[misc,name-defined]
            @classmethod
            def connect(cls, *args: Any, **kwargs: Any) -> Any:
                for attempt in range(CONNECT_ATTEMPTS):
                    try:
                        return super().connect(*args, **kwargs)
                    except psycopg.OperationalError:
                        if attempt == CONNECT_ATTEMPTS - 1:
                            raise
                        time.sleep(0.05 * (attempt + 1))
                raise AssertionError("unreachable")

        return Connection

    def _connect_kwargs(self) -> dict[str, Any]:
        # Session settings travel in the start-up packet: no statement per connection.
        options = f"-c hnsw.ef_search={self.cfg.ef_search} -c hnsw.iterative_scan=relaxed_order"
        return {
            "autocommit": True,  # a read is one statement, one round trip; writes say BEGIN
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "vecstore",
            "options": options,
        }

    def _make_client(self) -> Any:
        return self._pool_mod.ConnectionPool(
            self._dsn,
            min_size=1,
            max_size=self.cfg.pool_size,
            kwargs=self._connect_kwargs(),
            connection_class=self._connection_class(),
            configure=self._configure,
            timeout=30.0,
            open=True,
            name=f"vecstore:{self.name}",
        )

    def _connect_check(self) -> None:
        """One plain connection first: an unreachable server fails now, not in the pool."""
        privilege = (
            self._psycopg.errors.InsufficientPrivilege,
            self._psycopg.errors.FeatureNotSupported,
            self._psycopg.errors.UndefinedFile,
        )
        with self._connection_class().connect(self._dsn, **self._connect_kwargs()) as conn:
            with conn.transaction(), conn.cursor() as cur:
                lock(cur)
                ensure_extension(cur, privilege)
                ensure_registry(cur, self.sql, self.layout.schema)
            self._vector_info = self._typeinfo.fetch(conn, "vector")

    @property
    def pool(self) -> Any:
        if self.client is None:
            raise BackendError("the pgvector collection is not open")
        return self.client

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self, info: CollectionInfo, *, create: bool = True) -> CollectionInfo:
        with self.errors:
            if self.client is None:
                self._connect_check()
            self.connect(self._make_client)
            return self._open(info, create)

    def _open(self, info: CollectionInfo, create: bool) -> CollectionInfo:
        q = self.sql
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            row = self._registry_row(cur)
            if row is None:
                if not create:
                    raise CollectionNotFound(f"pgvector collection {self.name!r} does not exist")
                lock(cur)
                row = self._registry_row(cur)  # another process may have created it meanwhile
            if row is None:
                layout = Layout(
                    self.layout.schema, self.layout.table, info.dimension, self.cfg.index
                )
                create_table(cur, q, layout)
                cur.execute(
                    q.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s, %s)").format(
                        q.Identifier(self.layout.schema, REGISTRY)
                    ),
                    (
                        self.name,
                        layout.table,
                        info.model,
                        info.dimension,
                        info.metric,
                        layout.index,
                        VERSION,
                    ),
                )
                self.layout = layout
                return info
        table, model, dimension, metric, index, version = row
        check_version(self.name, version)
        self.layout = Layout(self.layout.schema, table, dimension, index)
        stored = CollectionInfo(self.name, model, dimension, metric)
        check_compatible(f"pgvector collection {self.name!r}", stored, info)
        return stored

    def _registry_row(self, cur: Any) -> tuple[Any, ...] | None:
        q = self.sql
        cur.execute(
            q.SQL(
                "SELECT table_name, model, dimension, metric, index_kind, version FROM {} "
                "WHERE name = %s"
            ).format(q.Identifier(self.layout.schema, REGISTRY)),
            (self.name,),
        )
        row = cur.fetchone()
        return tuple(row) if row is not None else None

    def close(self) -> None:
        self.close_client(lambda pool: pool.close())

    def describe(self) -> StoreDescription:
        return StoreDescription(
            "pgvector",
            self.where,
            {"schema": self.layout.schema, "table": self.layout.table, "index": self.layout.index},
        )

    @reads
    def collections(self) -> list[CollectionSummary]:
        """The registry's collections with their counts; none where vecstore never wrote.

        Needs no open collection (``vecstore list``): one plain connection, nothing created.
        """
        q = self.sql
        out = []
        registry = q.Identifier(self.layout.schema, REGISTRY)
        connect = self._connection_class().connect
        with connect(self._dsn, **self._connect_kwargs()) as conn, conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (registry.as_string(conn),))
            if cur.fetchone()[0] is None:
                return []
            cur.execute(
                q.SQL("SELECT name, table_name, model, dimension FROM {} ORDER BY name").format(
                    registry
                )
            )
            for name, table, model, dimension in cur.fetchall():
                cur.execute(
                    q.SQL("SELECT count(*) FROM {}").format(q.Identifier(self.layout.schema, table))
                )
                out.append(CollectionSummary(name, int(cur.fetchone()[0]), model, dimension))
        return out

    @writes
    def upgrade(self, batch_size: int = 0) -> int:
        """Bring the collection's table to this vecstore's layout; the steps taken."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            lock(cur)
            row = self._registry_row(cur)
            if row is None:
                raise CollectionNotFound(f"pgvector collection {self.name!r} does not exist")
            steps = migrate(cur, self.sql, self.name, self.layout, row[5])
            if steps:
                cur.execute(
                    self.sql.SQL("UPDATE {} SET version = %s WHERE name = %s").format(
                        self.sql.Identifier(self.layout.schema, REGISTRY)
                    ),
                    (VERSION, self.name),
                )
        return steps

    # -- writes ----------------------------------------------------------------------------------

    @writes
    def upsert(self, batch: RecordBatch) -> None:
        """One transaction a batch: the old versions deleted, the batch copied in (binary).

        Copying into the table itself is several times faster than a staging table and
        ``INSERT ... ON CONFLICT`` (bench_pgvector.py). A writer that stored one of these ids
        between the delete and the copy makes the copy fail on the primary key: the batch
        is then written again through a staging table with ``ON CONFLICT DO UPDATE``.
        """
        if not len(batch):
            return
        check_strings(batch.ids, batch.texts, batch.metadata)
        unique = self._psycopg.errors.UniqueViolation
        try:
            self._copy_in(batch, staged=False)
        except unique:
            self._copy_in(batch, staged=True)

    def _copy_in(self, batch: RecordBatch, *, staged: bool) -> None:
        q, t = self.sql, self.layout.ident(self.sql)
        cols = q.SQL(", ").join(q.Identifier(c) for c in COLUMNS)
        target = q.Identifier(self.layout.table + "_stage") if staged else t
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if staged and conn not in self._staged:  # the session's own, emptied at commit
                cur.execute(
                    q.SQL(
                        "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS"
                    ).format(target, t)
                )
                self._staged.add(conn)
            if not staged:
                cur.execute(q.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(t), (batch.ids,))
            copy_sql = q.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(target, cols)
            with cur.copy(copy_sql) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows(batch):
                    copy.write_row(row)
            if staged:
                updates = q.SQL(", ").join(
                    q.SQL("{} = EXCLUDED.{}").format(q.Identifier(c), q.Identifier(c))
                    for c in COLUMNS[1:]
                )
                cur.execute(
                    q.SQL(
                        "INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT (id) DO UPDATE SET {}"
                    ).format(t, cols, cols, target, updates)
                )

    @writes
    def update_metadata(self, ids: Sequence[str], metadata: Sequence[Metadata]) -> list[str]:
        if not ids:
            return []
        check_strings(ids, [], metadata)
        q = self.sql
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(
                q.SQL(
                    "UPDATE {} AS t SET metadata = v.m FROM unnest(%s::text[], %s::jsonb[]) "
                    "AS v(id, m) WHERE t.id = v.id RETURNING t.id"
                ).format(self.layout.ident(q)),
                (list(ids), [self.jsonb(m) for m in metadata]),
            )
            done = {r[0] for r in cur.fetchall()}
        return [i for i in ids if i in done]

    @writes
    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        q = self.sql
        if ids is not None:
            ids = [i for i in ids if "\x00" not in i]  # never stored: nothing to delete
            if not ids:
                return
            condition, params = q.SQL("id = ANY(%s)"), [list(ids)]
        else:
            condition, params = compile_where(q, self.jsonb, where)
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(
                q.SQL("DELETE FROM {} WHERE {}").format(self.layout.ident(q), condition), params
            )

    # -- reads -----------------------------------------------------------------------------------

    def _select(self, with_vectors: bool) -> Any:
        q = self.sql
        names = ["id", "text", "metadata"] + (["embedding"] if with_vectors else [])
        return q.SQL(", ").join(q.Identifier(c) for c in names)

    @staticmethod
    def _stored(row: Sequence[Any], with_vectors: bool) -> StoredRecord:
        vector = None
        if with_vectors:
            held = row[3]
            vector = np.asarray(getattr(held, "to_numpy", lambda: held)(), dtype=np.float32)
        return StoredRecord(row[0], row[1], dict(row[2]), vector)

    @reads
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredRecord]:
        wanted = [i for i in dict.fromkeys(ids) if "\x00" not in i]
        if not wanted:
            return []
        q = self.sql
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(
                q.SQL("SELECT {} FROM {} WHERE id = ANY(%s)").format(
                    self._select(with_vectors), self.layout.ident(q)
                ),
                (wanted,),
            )
            found = [self._stored(r, with_vectors) for r in cur.fetchall()]
        return ordered(ids, found)

    @reads
    def count(self, where: Filter | None = None) -> int:
        q = self.sql
        condition, params = compile_where(q, self.jsonb, where)
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(
                q.SQL("SELECT count(*) FROM {} WHERE {}").format(self.layout.ident(q), condition),
                params,
            )
            return int(cur.fetchone()[0])

    def scan(
        self, batch_size: int, with_vectors: bool = True, where: Filter | None = None
    ) -> Iterator[list[StoredRecord]]:
        """Every selected record, in id order, through a server-side cursor in one snapshot."""
        q = self.sql
        condition, params = compile_where(q, self.jsonb, where)
        statement = q.SQL("SELECT {} FROM {} WHERE {} ORDER BY id").format(
            self._select(with_vectors), self.layout.ident(q), condition
        )
        with self.errors, self.pool.connection() as conn, conn.transaction():
            with conn.cursor(name="vecstore_scan") as cur:
                cur.itersize = batch_size
                cur.execute(statement, params)
                while True:
                    rows = cur.fetchmany(batch_size)
                    if not rows:
                        return
                    yield [self._stored(r, with_vectors) for r in rows]

    @reads
    def query(
        self, vectors: Vectors, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[list[Hit]]:
        condition, params = compile_where(self.sql, self.jsonb, where)
        out = []
        with self.pool.connection() as conn, conn.cursor() as cur:
            statement = self._plain.get(with_vectors) if where is None else None
            if statement is None:
                statement = self._dense_sql(condition, with_vectors).as_bytes(conn)
                if where is None:  # the same text every time: composed once (a tenth of a query)
                    self._plain[with_vectors] = statement
            for v in vectors:
                cur.execute(statement, [v, *params, v, top_k])
                out.append(
                    [
                        self._hit(r, clip_score(1.0 - float(r[-1])), with_vectors)
                        for r in cur.fetchall()
                    ]
                )
        return out

    def _dense_sql(self, condition: Any, with_vectors: bool) -> Any:
        q = self.sql
        return q.SQL(
            "WITH found AS MATERIALIZED (SELECT {cols}, embedding <=> %s AS d FROM {t} WHERE {w} "
            "ORDER BY embedding <=> %s LIMIT %s) SELECT * FROM found ORDER BY d + 0, id"
        ).format(cols=self._select(with_vectors), t=self.layout.ident(q), w=condition)

    def _hit(self, row: Sequence[Any], score: float, with_vectors: bool) -> Hit:
        rec = self._stored(row, with_vectors)
        return Hit(rec.id, score, rec.text, rec.metadata, rec.vector)

    @reads
    def keyword_query(
        self, terms: Terms, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[Hit]:
        if not len(terms):
            return []
        q = self.sql
        condition, params = compile_where(q, self.jsonb, where)
        wanted = terms.astype(np.int64).tolist()
        # Each CTE is computed once (MATERIALIZED): inlined, PostgreSQL would count the corpus
        # and the document frequencies again for every candidate row.
        statement = q.SQL(
            "WITH corpus AS MATERIALIZED "
            "(SELECT count(*)::float8 AS n FROM {t} WHERE n_tokens > 0), "
            "idf AS MATERIALIZED (SELECT qt.term, "
            "ln(1 + (corpus.n - df.df + 0.5) / (df.df + 0.5)) AS idf "
            "FROM unnest(%s::int8[]) AS qt(term) CROSS JOIN corpus CROSS JOIN LATERAL "
            "(SELECT count(*)::float8 AS df FROM {t} WHERE terms @> ARRAY[qt.term]) AS df), "
            "top AS MATERIALIZED (SELECT r.id, (SELECT sum(idf.idf * u.w) "
            "FROM unnest(r.terms, r.weights) AS u(term, w) JOIN idf ON idf.term = u.term) "
            "AS score FROM {t} AS r WHERE r.terms && %s::int8[] AND {w} "
            "ORDER BY score DESC, r.id LIMIT %s) "
            "SELECT {cols}, top.score FROM top JOIN {t} AS x USING (id) "
            "ORDER BY top.score DESC, id"
        ).format(t=self.layout.ident(q), w=condition, cols=self._select(with_vectors))
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(statement, [wanted, wanted, *params, top_k])
            return [self._hit(r, float(r[-1]), with_vectors) for r in cur.fetchall()]
