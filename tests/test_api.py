"""The public surface: explicit sorted __all__, no heavy imports, the registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import vecstore
from vecstore.adapters.base import Backend, registry
from vecstore.adapters.numpy import NumpyBackend

EXPECTED = {
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "Capabilities",
    "CapabilityError",
    "Collection",
    "CollectionInfo",
    "CollectionNotFound",
    "ConfigError",
    "DuplicateId",
    "Encoder",
    "EncoderError",
    "FilterError",
    "HashEncoder",
    "Hit",
    "IncompatibleCollection",
    "IngestReport",
    "InvalidInput",
    "InvalidName",
    "MissingDependency",
    "Pair",
    "RecordBatch",
    "SentenceTransformerEncoder",
    "Settings",
    "StoreCorrupted",
    "StoreError",
    "StoreLocked",
    "StoreUnwritable",
    "StoredRecord",
    "VecstoreError",
    "load_settings",
    "open_collection",
    "registry",
}


def test_all_is_sorted_explicit_and_importable() -> None:
    assert vecstore.__all__ == sorted(vecstore.__all__)
    assert set(vecstore.__all__) == EXPECTED
    for name in vecstore.__all__:
        assert hasattr(vecstore, name)


def test_every_error_is_a_vecstore_error() -> None:
    for name in vecstore.__all__:
        obj = getattr(vecstore, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, vecstore.VecstoreError)
    assert issubclass(vecstore.MissingDependency, ImportError)
    assert issubclass(vecstore.InvalidInput, ValueError)
    assert vecstore.BackendUnavailable("down").transient
    assert "pip install 'vecstore[qdrant]'" in str(
        vecstore.MissingDependency("qdrant-client", "qdrant")
    )


def test_import_loads_no_torch_and_no_store_sdk() -> None:
    heavy = (
        "torch",
        "sentence_transformers",
        "transformers",
        "chromadb",
        "qdrant_client",
        "pinecone",
        "langchain_core",
        "llama_index",
        "ray",
        "pyspark",
    )
    code = f"import sys, vecstore; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_registry_finds_numpy_by_name_and_by_entry_point() -> None:
    assert "numpy" in registry.names()
    assert registry.factory("numpy") is NumpyBackend
    assert isinstance(NumpyBackend("x", path="/nonexistent"), Backend)


def test_third_party_backend_can_register(tmp_path: object) -> None:
    calls = []

    def factory(name: str, settings: vecstore.Settings) -> Backend:
        calls.append(name)
        return NumpyBackend(name, path=str(tmp_path))

    registry.register("mine", factory)
    col = vecstore.open_collection("c", backend="mine", model="hash:8")
    col.upsert(["via a registered backend"])
    assert calls == ["c"] and col.count() == 1
    col.close()


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qdrant_client", None)  # as if not installed
    with pytest.raises(vecstore.MissingDependency, match=r"pip install 'vecstore\[qdrant\]'"):
        vecstore.open_collection("x", backend="qdrant", model="hash:8")


@pytest.mark.parametrize(
    ("module", "sdk", "extra"),
    [
        ("langchain", "langchain_core", "langchain"),
        ("llama_index", "llama_index", "llama-index"),
        ("ray", "ray", "ray"),
        ("spark", "pyspark", "spark"),
    ],
)
def test_missing_framework_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, sdk: str, extra: str
) -> None:
    import importlib

    for name in list(sys.modules):
        if name == sdk or name.startswith(f"{sdk}.") or name == f"vecstore.integrations.{module}":
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, sdk, None)  # as if not installed
    with pytest.raises(vecstore.MissingDependency, match=rf"pip install 'vecstore\[{extra}\]'"):
        importlib.import_module(f"vecstore.integrations.{module}")


def test_empty_name_is_refused_and_none_means_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VECSTORE_NUMPY__PATH", str(tmp_path))
    monkeypatch.setenv("VECSTORE_MODEL", "hash:8")
    with pytest.raises(vecstore.InvalidName):
        vecstore.open_collection("")
    with vecstore.open_collection(None) as col:
        assert col.name == "default"


def test_empty_upserts_do_nothing(tmp_path: Path) -> None:
    import numpy as np

    from vecstore.adapters.numpy import NumpyBackend

    col = vecstore.Collection(
        "empty", backend=NumpyBackend("empty", path=tmp_path), encoder=vecstore.HashEncoder(8)
    )
    assert col.upsert([], vectors=[]) == []
    assert col.upsert(None, vectors=np.zeros((0, 8), np.float32)) == []
    assert col.upsert([], ids=[], metadata=[]) == []
    assert col.count() == 0 and not (tmp_path / "empty").exists()
    col.close()


def test_open_without_create_refuses_a_missing_collection(tmp_path: Path) -> None:
    settings = vecstore.load_settings(numpy={"path": str(tmp_path)}, model="hash:8")
    with pytest.raises(vecstore.CollectionNotFound):
        vecstore.Collection("absent", settings=settings, create=False)
    assert not (tmp_path / "absent").exists()


def test_a_closed_collection_says_so(tmp_path: Path) -> None:
    import asyncio

    col = vecstore.Collection(
        "closed", backend=NumpyBackend("closed", path=tmp_path), encoder=vecstore.HashEncoder(8)
    )
    col.upsert(["before the close"])
    col.close()
    col.close()  # a second close does nothing
    for call in (lambda: col.count(), lambda: col.query("x"), lambda: col.upsert(["y"])):
        with pytest.raises(vecstore.StoreError, match="'closed' is closed"):
            call()
    with pytest.raises(vecstore.StoreError, match="is closed"):
        asyncio.run(col.aget(["x"]))
