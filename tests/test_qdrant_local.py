"""The shared contract on Qdrant's local mode (in memory), which CI always has."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vecstore import Collection, HashEncoder, load_settings
from vecstore.testing.conformance import (
    DIM,
    BadInputContract,
    CrudContract,
    FilterContract,
    IdContract,
    MakeCollection,
    MetadataContract,
    ReplaceContract,
    ScoreContract,
)
from vecstore.testing.congruence import check_congruence
from vecstore.testing.strategies import filters, metadata

pytest.importorskip("qdrant_client", reason="qdrant-client is not installed (vecstore[qdrant])")

from vecstore.adapters.qdrant import QdrantBackend  # noqa: E402


@pytest.fixture
def make_collection() -> Iterator[MakeCollection]:
    from qdrant_client import QdrantClient

    client = QdrantClient(location=":memory:")

    def make(name: str) -> Collection:
        return Collection(
            name,
            backend=QdrantBackend(name, client=client),
            encoder=HashEncoder(DIM),
            settings=load_settings(),
        )

    yield make
    client.close()


class TestQdrantLocalContract(
    CrudContract,
    IdContract,
    ReplaceContract,
    ScoreContract,
    FilterContract,
    MetadataContract,
    BadInputContract,
):
    pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    metas=st.lists(metadata, min_size=1, max_size=20), where=filters, seed=st.integers(0, 10_000)
)
def test_congruent_with_numpy_reference(
    tmp_path_factory: pytest.TempPathFactory,
    metas: list[dict[str, Any]],
    where: dict[str, Any],
    seed: int,
) -> None:
    from qdrant_client import QdrantClient

    from tests.conftest import make_collection as numpy_collection

    reference = numpy_collection(tmp_path_factory.mktemp("ref"), "c")
    client = QdrantClient(location=":memory:")
    other = Collection(
        "c",
        backend=QdrantBackend("c", client=client),
        encoder=HashEncoder(DIM),
        settings=load_settings(),
    )
    try:
        check_congruence(reference, other, metas, where, seed)
    finally:
        reference.close()
        client.close()
