"""Ray Data: ingest a Dataset into a collection, each record exactly once whatever is retried.

``pip install 'vecstore[ray]'``. Three pieces, each usable alone:

* :class:`Encode`, a callable class for ``Dataset.map_batches(Encode, compute=ActorPoolStrategy(
  size=n), fn_constructor_kwargs={...})``: each actor loads the model once, with the encoder
  settings (device, precision, threads) from vecstore's configuration, and encodes only the rows
  the collection does not already hold unchanged (the others get a null vector);
* :class:`VecstoreDatasink`, for ``Dataset.write_datasink``: each write task opens the collection
  from settings it carries, encodes the rows that have no vector, skips unchanged records by
  content hash, upserts the rest (with the store-layer retries) and returns its part of the
  report; :attr:`VecstoreDatasink.report` holds the merged :class:`~vecstore.IngestReport`;
* :func:`ingest`: the whole job in one call, with write-task retries switched on.

Ray runs a failed write task again only when asked (``retry_exceptions``); :func:`ingest` asks.
A task run again, or a job run again, rewrites nothing it already wrote (see
:mod:`vecstore.integrations.partitions`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from vecstore.errors import MissingDependency
from vecstore.integrations.partitions import (
    WriteSpec,
    encode_rows,
    engine_encoded,
    plain,
    write_rows,
)
from vecstore.jobs.report import IngestReport, merge, report_from_dict

try:
    import ray
    from ray.data import ActorPoolStrategy, Dataset
    from ray.data.block import Block, BlockAccessor
    from ray.data.datasource import Datasink
except ImportError as exc:  # pragma: no cover - exercised by the smoke install
    raise MissingDependency("ray", "ray") from exc

__all__ = ["Encode", "VecstoreDatasink", "ingest"]
WRITE_TASK_CPUS = 0.25


class _Stage:
    """What the encoder stage and the sink share: the collection, its fields, the settings.

    ``collection`` is a name (the other arguments as :meth:`WriteSpec.of` takes them), or a
    whole :class:`WriteSpec`.
    """

    def __init__(self, collection: str | WriteSpec, **kwargs: Any) -> None:
        self.spec = (
            collection if isinstance(collection, WriteSpec) else WriteSpec.of(collection, **kwargs)
        )


class Encode(_Stage):
    """A ``map_batches`` stage adding ``vector_field``: one model per actor, only what is needed.

    Batches are pandas frames (``batch_format="pandas"``). A row already stored unchanged gets
    a null vector, and the write skips it. Arguments as :class:`VecstoreDatasink`'s.
    """

    def __init__(self, collection: str | WriteSpec, **kwargs: Any) -> None:
        super().__init__(collection, **kwargs)
        self.collection = self.spec.open()  # held for the actor's life: one model, one client

    def __call__(self, batch: Any) -> Any:
        rows = [plain(r) for r in batch.to_dict("records")]
        out = batch.copy()
        out[self.spec.vector_field] = encode_rows(self.collection, self.spec, rows)
        return out


class VecstoreDatasink(_Stage, Datasink[dict[str, Any]]):
    """Write a Dataset's rows into a vecstore collection (see the module doc).

    ``collection``, ``id_field`` (None: ids derived from the text), ``text_field``,
    ``metadata_fields`` (None: every other column), ``vector_field`` (rows without one are
    encoded in the task), and settings overrides as for :func:`vecstore.open_collection`.
    """

    def __init__(self, collection: str | WriteSpec, **kwargs: Any) -> None:
        super().__init__(collection, **kwargs)
        self.report: IngestReport | None = None

    def write(self, blocks: Iterable[Block], ctx: Any) -> dict[str, Any]:
        """One write task: its rows into the collection; its report as plain values."""
        rows = _rows(blocks)
        report = write_rows(self.spec, rows, task=f"ray-{ctx.task_idx}")
        return report.as_dict()  # plain ints: Ray's own counts are numpy ints

    def on_write_complete(self, write_result: Any) -> None:
        """Merge the tasks' reports into :attr:`report`."""
        self.report = merge(report_from_dict(r) for r in write_result.write_returns)

    def get_name(self) -> str:
        return f"Vecstore({self.spec.collection})"


def _rows(blocks: Iterable[Block]) -> Iterator[Mapping[str, Any]]:
    for block in blocks:
        yield from BlockAccessor.for_block(block).iter_rows(True)


def ingest(
    dataset: Dataset,
    *,
    collection: str,
    id_field: str | None = "id",
    text_field: str = "text",
    metadata_fields: Sequence[str] | None = None,
    documents: bool = False,
    **settings: Any,
) -> IngestReport:
    """Ingest ``dataset`` into ``collection``: partition by id, encode, write, merge the reports.

    ``documents=True``: each row's text is a document, chunked and encoded in the write task
    (``Collection.upsert_documents``), with no encoder stage.

    Rows with the same id land in the same task (so two tasks never write one id). Encoding
    runs on ``distributed.encoders`` actors (default: the cluster's CPUs / ``threads``); at most
    ``distributed.max_writers`` write tasks run at once; a failed write task is run again up
    to ``distributed.task_retries`` times. ``settings`` are overrides as for
    :func:`vecstore.open_collection`.
    """
    started = time.perf_counter()
    spec = WriteSpec.of(
        collection,
        id_field=id_field,
        text_field=text_field,
        metadata_fields=metadata_fields,
        **settings,
    )
    spec = replace(spec, documents=documents)
    cfg = spec.settings()
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
    actors = cfg.distributed.encoders or max(1, cpus // (cfg.threads or 1))
    fields = spec.fields
    key = fields.id_field if isinstance(fields.id_field, str) else fields.text_field
    blocks = max(actors, cfg.distributed.max_writers or 0, 1) * 2
    # Materialised first: the shuffle's own actors need CPUs the encoder actors would hold.
    shuffled = dataset.repartition(blocks, keys=[key]).materialize()
    encoded = (
        shuffled
        if documents
        else shuffled.map_batches(
            Encode,
            fn_constructor_kwargs={"collection": spec},
            compute=ActorPoolStrategy(size=actors),
            batch_format="pandas",
            batch_size=cfg.distributed.window,
            num_cpus=cfg.threads or 1,
        )
    )
    sink = VecstoreDatasink(spec)
    encoded.write_datasink(
        sink,
        ray_remote_args={
            "retry_exceptions": True,
            "max_retries": cfg.distributed.task_retries,
            # The encoder actors hold the CPUs for the whole job; writes mostly wait on I/O.
            "num_cpus": WRITE_TASK_CPUS,
        },
        concurrency=cfg.distributed.max_writers,
    )
    assert sink.report is not None
    sink.report.duration_s = time.perf_counter() - started
    return sink.report if documents else engine_encoded(sink.report)
