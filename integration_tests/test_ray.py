"""Ray Data ingest on a local Ray (2 CPUs): exactly once under task retries, on each store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from integration_tests.distributed_cases import (  # noqa: F401 - fixtures
    DIM,
    N,
    assert_tasks_failed,
    check_stored_exactly,
    failing_writes,
    source,
    store,
    unique,
)
from vecstore import open_collection

ray = pytest.importorskip("ray", reason="ray is not installed (vecstore[ray])")
# Ray 2.60 warns about its own defaults (use_push_based_shuffle) when a context is read.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")

from vecstore.integrations.ray import Encode, VecstoreDatasink, ingest  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray(failing_writes: Any) -> Iterator[None]:  # noqa: F811
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield
    ray.shutdown()


# Ray's part is the same on every store (each task's write path is Collection.ingest, which
# every store's own suite and Spark's cover): each store is run under Ray once, NumPy (writers
# taking turns on its file lock) under both paths.
@pytest.mark.parametrize("store", ["numpy", "chroma", "pgvector"], indirect=True)
def test_ingest_is_exact_under_task_retries_and_reruns(
    store: dict[str, Any],  # noqa: F811
    failing_writes: Path,  # noqa: F811
) -> None:
    name = unique("ray")
    records = source()
    report = ingest(ray.data.from_items(records), collection=name, **store)
    check_stored_exactly(name, store, records, report)
    assert_tasks_failed(failing_writes, name)
    # Counted where it happened: the encoder actors encoded each record once, and the write
    # tasks (a failed attempt's rows skipped on retry) none.
    assert report.encoded == N and report.carried == 0
    # A re-run of the whole job writes nothing, and its encoder stage encodes nothing.
    again = ingest(ray.data.from_items(records), collection=name, **store)
    check_stored_exactly(name, store, records, again)
    assert (again.written, again.unchanged, again.encoded) == (0, N, 0)
    if store["backend"] != "numpy":
        return  # what follows is the engine's path, the same on every store: run once
    vectors = (
        ray.data.from_items(records)
        .map_batches(
            Encode,
            fn_constructor_kwargs={"collection": name, **store},
            compute=ray.data.ActorPoolStrategy(size=1),
            batch_format="pandas",
        )
        .take_all()
    )
    assert all(v["vector"] is None for v in vectors)
    # A new edition: every tenth text changed; only those are encoded and written.
    edition = source(edition=1)
    third = ingest(ray.data.from_items(edition), collection=name, **store)
    check_stored_exactly(name, store, edition, third)
    assert third.written == third.encoded == N // 10
    # Metadata alone changes (a fifth of the years): rewritten, never encoded.
    repriced = [{**r, "year": r["year"] + 100} if i % 5 == 0 else r for i, r in enumerate(edition)]
    fourth = ingest(ray.data.from_items(repriced), collection=name, **store)
    check_stored_exactly(name, store, repriced, fourth)
    assert (fourth.encoded, fourth.metadata_only, fourth.written) == (0, N // 5, N // 5)


@pytest.mark.parametrize("store", ["numpy", "pinecone"], indirect=True)
def test_datasink_alone_encodes_in_the_task_and_survives_a_partition_written_twice(
    store: dict[str, Any],  # noqa: F811
    failing_writes: Path,  # noqa: F811
) -> None:
    name = unique("sink")
    records = source(2000)
    sink = VecstoreDatasink(name, **store)
    # A few blocks each: every write task opens its own client, and that is not what is tested.
    twice = ray.data.from_items(records, override_num_blocks=4).union(
        ray.data.from_items(records, override_num_blocks=4)
    )
    twice.write_datasink(sink, ray_remote_args={"retry_exceptions": True, "max_retries": 3})
    assert sink.report is not None
    assert sink.report.read == 2 * len(records) and sink.report.failed == 0
    assert_tasks_failed(failing_writes, name)  # blocks of 500 rows: each task failed once
    with open_collection(name, create=False, **store) as col:
        assert col.count() == len(records)
        assert sorted(r.id for r in col.get([r["id"] for r in records])) == sorted(
            r["id"] for r in records
        )


def test_real_model_matches_a_single_process_encode(tmp_path: Any) -> None:
    """The bundled model in Ray's actors gives the vectors one process gives (bf16 tolerance)."""
    overrides: dict[str, Any] = {"backend": "numpy", "numpy": {"path": str(tmp_path)}}
    records = source(200)
    report = ingest(ray.data.from_items(records), collection="real", **overrides)
    assert report.written + report.unchanged == 200
    with open_collection("real", create=False, **overrides) as col:
        stored = col.get([r["id"] for r in records], with_vectors=True)
        expected = col.encode([r["text"] for r in records])
    got = np.stack([r.vector for r in stored])
    cosines = np.sum(got * expected, axis=1)
    assert cosines.min() > 0.99
    assert got.shape == (200, 384) != (200, DIM)


def test_documents_are_chunked_in_the_write_tasks(tmp_path: Path) -> None:
    overrides: dict[str, Any] = {"model": "hash:16", "numpy": {"path": str(tmp_path)}}
    texts = {
        f"doc{d}": "\n\n".join(f"Document {d}, paragraph {i}: " + "words " * 60 for i in range(20))
        for d in range(6)
    }
    rows = [{"id": k, "text": v, "lang": "en"} for k, v in texts.items()]
    report = ingest(ray.data.from_items(rows), collection="docs", documents=True, **overrides)
    assert report.documents == 6 and report.failed == 0 and report.chunks > 6
    with open_collection("docs", create=False, **overrides) as col:
        assert col.count() == report.chunks
        for doc_id, text in texts.items():
            found = col.get_document(doc_id)
            assert found is not None and found.text == text and found.metadata == {"lang": "en"}
