from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from vecstore import Collection, HashEncoder, load_settings  # noqa: E402
from vecstore.adapters.numpy import NumpyBackend  # noqa: E402

DIM = 32


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store"


def make_collection(path: Path, name: str = "test", dim: int = DIM) -> Collection:
    return Collection(
        name,
        backend=NumpyBackend(name, path=path),
        encoder=HashEncoder(dim),
        settings=load_settings(),
    )


@pytest.fixture
def col(store_path: Path) -> Iterator[Collection]:
    c = make_collection(store_path)
    yield c
    c.close()
