"""Collection never trusts an encoder, and asks the right side of it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import make_collection
from vecstore import Collection, EncoderError, HashEncoder, IncompatibleCollection
from vecstore.adapters.numpy import NumpyBackend
from vecstore.encoders import prompts_name

DIM = 8


class Broken:
    """An encoder returning whatever it was told to."""

    def __init__(self, out: Any, name: str = "broken", dim: int = DIM) -> None:
        self.out, self._name, self._dim = out, name, dim

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> Any:
        return self.out(len(texts)) if callable(self.out) else self.out


class Sided(HashEncoder):
    """A two-sided encoder that marks which side was asked."""

    def __init__(self) -> None:
        super().__init__(DIM)
        self.calls: list[str] = []

    def encode_documents(self, texts: Sequence[str]) -> Any:
        self.calls.append("documents")
        return self.encode(texts)

    def encode_queries(self, texts: Sequence[str]) -> Any:
        self.calls.append("queries")
        return self.encode(["query " + t for t in texts])


def open_with(tmp_path: Path, encoder: Any, name: str = "enc") -> Collection:
    return Collection(name, backend=NumpyBackend(name, path=tmp_path), encoder=encoder)


@pytest.mark.parametrize(
    ("out", "message"),
    [
        (lambda n: np.ones((n, DIM + 1)), r"shape \(2, 9\) for 2 texts, expected \(2, 8\)"),
        (lambda n: np.ones((n + 1, DIM)), r"shape \(3, 8\)"),
        (lambda n: np.full((n, DIM), np.nan), "NaN or infinite values for text 0"),
        (lambda n: np.vstack([np.ones(DIM), np.zeros(DIM)]), "zero vector for text 1 of 2"),
        (lambda n: [["x"] * DIM] * n, "no numeric array"),
    ],
)
def test_a_broken_encoder_is_named_and_nothing_is_written(
    tmp_path: Path, out: Any, message: str
) -> None:
    good = open_with(tmp_path, Broken(lambda n: np.ones((n, DIM))))
    good.upsert(["kept"], ids=["k"])
    good.close()
    col = open_with(tmp_path, Broken(out))
    with pytest.raises(EncoderError, match=message) as info:
        col.upsert(["one", "two"], ids=["a", "b"])
    assert "'broken'" in str(info.value)
    assert col.count() == 1
    col.close()


def test_rows_that_are_not_unit_are_normalised_and_the_encoder_array_kept(tmp_path: Path) -> None:
    raw = np.arange(1, 2 * DIM + 1, dtype=np.float32).reshape(2, DIM)
    keep = raw.copy()
    col = open_with(tmp_path, Broken(raw))
    col.upsert(["a", "b"], ids=["a", "b"])
    vectors = [r.vector for r in col.get(["a", "b"], with_vectors=True)]
    np.testing.assert_allclose(np.linalg.norm(np.stack(vectors), axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(raw, keep)
    col.close()


def test_queries_use_the_query_side_and_stored_texts_the_document_side(tmp_path: Path) -> None:
    enc = Sided()
    col = open_with(tmp_path, enc)
    col.upsert(["stored text"], ids=["s"])
    assert enc.calls == ["documents"]
    (hit,) = col.query("stored text", top_k=1)
    assert enc.calls == ["documents", "queries"]
    query = HashEncoder(DIM).encode(["query stored text"])[0]
    expected = float(query @ col.encode(["stored text"])[0])
    assert hit.score == pytest.approx(expected, abs=1e-6)
    col.close()


def test_a_one_sided_third_party_encoder_serves_both_sides(tmp_path: Path) -> None:
    calls: list[int] = []

    def out(n: int) -> Any:
        calls.append(n)
        return np.ones((n, DIM), np.float32)

    col = open_with(tmp_path, Broken(out, name="third-party"))
    col.upsert(["a", "b"], ids=["a", "b"])
    assert len(col.query("a", top_k=2)) == 2
    assert calls == [2, 1]
    col.close()


def test_prompts_are_part_of_the_recorded_name(tmp_path: Path) -> None:
    assert prompts_name("m", "", "") == "m"
    with_prompts = prompts_name("m", "query: ", "passage: ")
    assert with_prompts.startswith("m#prompts:") and with_prompts != prompts_name("m", "q: ", "")
    col = make_collection(tmp_path / "store", name="p")
    col.upsert(["x"], ids=["x"])
    col.close()
    same = open_with(tmp_path / "store", Broken(None, name="hash:32", dim=32), "p")
    same.close()
    other = Broken(None, name=prompts_name("hash:32", "q: ", ""), dim=32)
    with pytest.raises(IncompatibleCollection, match="prompts"):
        open_with(tmp_path / "store", other, "p")
