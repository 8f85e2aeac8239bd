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


@pytest.fixture
def seeded(store_path: Path) -> Iterator[Collection]:
    """Two records, for tests that damage what holds them."""
    c = make_collection(store_path)
    c.upsert(["kept one", "kept two"], ids=["k1", "k2"], metadata=[{"n": 1}, {"n": 2}])
    yield c
    c.close()


def intact(col: Collection, count: int = 2) -> None:
    """What ``seeded`` stored is still there, readable, and searchable."""
    assert [(r.id, r.metadata) for r in col.get(["k1", "k2"])] == [
        ("k1", {"n": 1}),
        ("k2", {"n": 2}),
    ]
    assert col.count() == count and col.query("kept one", top_k=1)[0].id == "k1"


def reopened(col: Collection) -> Collection:
    """``col`` closed and opened again (the NumPy store)."""
    path = col.store.directory.parent  # type: ignore[attr-defined]
    col.close()
    return make_collection(path)
