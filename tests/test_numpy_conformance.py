"""The NumPy reference store against the shared contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_collection as build
from vecstore.collection import Collection
from vecstore.testing.conformance import BackendContract, MakeCollection


@pytest.fixture
def make_collection(tmp_path: Path) -> Iterator[MakeCollection]:
    opened: list[Collection] = []

    def make(name: str) -> Collection:
        opened.append(build(tmp_path, name))
        return opened[-1]

    yield make
    for col in opened:
        col.close()


class TestNumpyContract(BackendContract):
    pass


def test_numpy_strings_are_stored_as_plain_str(tmp_path: Path) -> None:
    import numpy as np

    col = build(tmp_path, "np-str")
    ids = col.upsert(np.array(["numpy text one", "numpy text two"]), ids=np.array(["a", "b"]))
    assert [type(i) for i in ids] == [str, str]
    assert [type(r.text) for r in col.get(["a", "b"])] == [str, str]
    col.close()
