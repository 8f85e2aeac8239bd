"""psycopg's errors as vecstore's: which PostgreSQL failures are worth another try.

=====================================================  ========================================
the chain holds                                        raised as
=====================================================  ========================================
a connection that failed or was lost (no SQLSTATE,     ``BackendUnavailable`` (retried)
``psycopg.OperationalError``/``InterfaceError``),
SQLSTATE class 08, a pool with no free connection
(``psycopg_pool.PoolTimeout``)
SQLSTATE 40001 serialization failure, 40P01           ``BackendUnavailable`` (retried: the
deadlock, 55P03 lock not available, 57014 statement    transaction rolled back whole)
cancelled (a timeout), 57P01-57P03 shut down or
starting, 53300 too many connections
any other psycopg error (constraint, data, syntax)    ``BackendError``, permanent
=====================================================  ========================================

A message never holds the DSN's password (it is cut out if a server echoes it).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from vecstore.adapters.translate import DETAIL_CHARS, StoreErrors, chain
from vecstore.errors import BackendError, BackendUnavailable

TRANSIENT_STATES = frozenset(
    {"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03", "53300"}
)


def _transient(link: BaseException) -> bool:
    psycopg = sys.modules.get("psycopg")
    pool = sys.modules.get("psycopg_pool")
    if pool is not None and isinstance(link, pool.PoolTimeout):
        return True
    if psycopg is None or not isinstance(link, psycopg.Error):
        return False
    state = link.sqlstate
    if state is None:
        return isinstance(link, psycopg.OperationalError | psycopg.InterfaceError)
    return state.startswith("08") or state in TRANSIENT_STATES


@dataclass(frozen=True)
class PostgresErrors(StoreErrors):
    """The error boundary of the pgvector adapter (module docstring)."""

    secret: str = ""

    def translate(self, exc: BaseException) -> BackendError | None:
        """The vecstore error for ``exc`` (the table above), or None if not a store failure."""
        found: BackendError | None = None
        for link in chain(exc):
            if _transient(link):
                detail = f"{type(link).__name__}: {link}".strip()[:DETAIL_CHARS]
                found = BackendUnavailable(f"{self.store} at {self.where}: {detail}")
                break
        if found is None:
            found = super().translate(exc)
        if found is not None and self.secret and self.secret in str(found):
            text = str(found).replace(self.secret, "***")
            found = type(found)(text, status=found.status)
            found.transient = isinstance(found, BackendUnavailable)
        return found
