"""Every store emits the same spans, with its own ``db.system.name``, and nothing secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from integration_tests import framework_backends
from integration_tests.conftest import postgres_for
from integration_tests.framework_backends import MODES, backend_overrides
from tests import otel
from vecstore import Collection, HashEncoder, load_settings

DIM = 8
chroma = framework_backends.chroma
pinecone = framework_backends.pinecone_fixture(DIM)


@pytest.mark.parametrize("mode", MODES)
def test_each_store_emits_the_same_spans(
    mode: str,
    tmp_path: Path,
    chroma: tuple[str, int],
    pinecone: str,
    request: pytest.FixtureRequest,
) -> None:
    postgres = postgres_for(request, mode)
    overrides: dict[str, Any] = backend_overrides(mode, tmp_path, chroma, pinecone, postgres)
    settings = load_settings(**overrides)
    with otel.kept() as spans:
        col = Collection(f"tel-{mode}", encoder=HashEncoder(DIM), settings=settings)
        rows = [{"id": f"r{i}", "text": f"row {i} about {i % 3}", "k": i % 3} for i in range(12)]
        col.ingest(rows, quiet=True)
        col.update_metadata(["r1"], [{"k": 9}])
        col.query("row about 1", top_k=3, where={"k": 1})
        col.delete(["r2"])
        col.clear()
        col.close()
    system = overrides["backend"]
    names = {s.name for s in spans}
    assert names >= {
        "vecstore.ingest",
        "vecstore.encode",
        "vecstore.upsert",
        "vecstore.update_metadata",
        "vecstore.query",
        "vecstore.delete",
    }
    for span in spans:
        attrs = dict(span.attributes or {})
        assert attrs["db.system.name"] == system and attrs["db.collection.name"] == f"tel-{mode}"
        assert attrs["db.operation.name"] == span.name.removeprefix("vecstore.")
    assert "test-key" not in json.dumps([dict(s.attributes or {}) for s in spans])
