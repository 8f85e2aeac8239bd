from __future__ import annotations

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from vecstore import SentenceTransformerEncoder  # noqa: E402


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEncoder:
    """The bundled all-MiniLM-L6-v2, loaded once for the session."""
    return SentenceTransformerEncoder()
