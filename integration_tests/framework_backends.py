"""The backend modes the framework integrations are tested on, as settings overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODES = ["numpy", "qdrant-local", "chroma-server", "chroma-embedded", "pinecone-server"]


def backend_overrides(
    mode: str, tmp: Path, chroma: tuple[str, int] | None, pinecone: str | None
) -> dict[str, Any]:
    """Settings overrides that put a store on one backend mode."""
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
