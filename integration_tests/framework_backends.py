"""The backend modes the framework integrations are tested on: settings overrides and servers.

A test module imports ``chroma`` and binds ``pinecone = pinecone_fixture(dimension)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from integration_tests.pinecone_server import pinecone_server
from integration_tests.servers import chroma_server

MODES = [
    "numpy",
    "qdrant-local",
    "chroma-server",
    "chroma-embedded",
    "pinecone-server",
    "pgvector",
]


def backend_overrides(
    mode: str,
    tmp: Path,
    chroma: tuple[str, int] | None,
    pinecone: str | None,
    postgres: str | None = None,
) -> dict[str, Any]:
    """Settings overrides that put a store on one backend mode (``postgres``: a DSN)."""
    if mode == "pgvector":
        assert postgres is not None
        return {"backend": "pgvector", "pgvector": {"dsn": postgres, "index": "exact"}}
    if mode == "numpy":
        return {"backend": "numpy", "numpy": {"path": str(tmp)}}
    if mode == "qdrant-local":
        return {"backend": "qdrant", "qdrant": {"path": str(tmp / "qdrant")}}
    if mode == "chroma-server":
        assert chroma is not None
        return {"backend": "chroma", "chroma": {"host": chroma[0], "port": chroma[1]}}
    if mode == "chroma-embedded":
        return {"backend": "chroma", "chroma": {"path": str(tmp / "chroma")}}
    assert mode == "pinecone-server" and pinecone is not None
    return {"backend": "pinecone", "pinecone": {"host": pinecone, "api_key": "test-key"}}


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A `chroma run` server for the module."""
    with chroma_server(tmp_path_factory.mktemp("chroma")) as address:
        yield address


def pinecone_fixture(dimension: int) -> Callable[[], Iterator[str]]:
    """A module-scoped fixture serving a Pinecone stand-in index of ``dimension``."""

    @pytest.fixture(scope="module")
    def pinecone() -> Iterator[str]:
        with pinecone_server(dimension) as (host, _):
            yield host

    return pinecone  # type: ignore[no-any-return]
