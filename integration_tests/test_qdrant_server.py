"""The shared contract on a real Qdrant server, when VECSTORE_QDRANT__URL names one.

There is no Qdrant binary or Docker engine on the development machines, so CI skips this
module with the reason below; `docker compose up -d qdrant` provides the server elsewhere.
"""

from __future__ import annotations

import os
import uuid

import pytest

from vecstore import Collection, HashEncoder, load_settings
from vecstore.testing.concurrency import ReopenCollection
from vecstore.testing.conformance import DIM, BackendContract, MakeCollection

URL = os.environ.get("VECSTORE_QDRANT__URL")
pytestmark = pytest.mark.skipif(
    not URL, reason="no Qdrant server: set VECSTORE_QDRANT__URL (docker compose up -d qdrant)"
)


class TestQdrantServerContract(BackendContract):
    @pytest.fixture
    def make_collection(self) -> MakeCollection:
        s = load_settings(backend="qdrant", qdrant={"url": URL})
        return lambda name: Collection(
            f"{name}-{uuid.uuid4().hex[:8]}", encoder=HashEncoder(DIM), settings=s
        )

    @pytest.fixture
    def reopen_collection(self) -> ReopenCollection:
        s = load_settings(backend="qdrant", qdrant={"url": URL})

        def reopen(col: Collection) -> Collection:
            col.close()
            return Collection(col.name, encoder=HashEncoder(DIM), settings=s)

        return reopen
