"""Copy a collection between two backends without re-encoding, then verify the copy.

Records stream out of the source (``scan``, with vectors) and into the target in batches, with
their ids, texts, metadata and content hashes, so the copy is idempotent (run it again to
finish an interrupted one). Verification: equal counts, and a sample of the source's own
vectors used as queries return the same top ids (up to the order of tied scores), with scores
within :data:`SCORE_TOLERANCE`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vecstore.errors import IncompatibleCollection
from vecstore.jobs.base import Target
from vecstore.records import Hit, RecordBatch
from vecstore.telemetry import Scope

MIGRATE_BATCH = 1000
SAMPLE_QUERIES = 20
SAMPLE_TOP_K = 10
SCORE_TOLERANCE = 1e-4


@dataclass(slots=True)
class MigrationReport:
    """What a migration copied and what its verification found."""

    copied: int = 0
    source_count: int = 0
    target_count: int = 0
    sampled: int = 0
    same_results: int = 0
    max_score_diff: float = 0.0
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Counts equal and every sampled query answered alike."""
        return self.source_count == self.target_count and self.same_results == self.sampled

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values."""
        return {**asdict(self), "ok": self.ok}


def same_answers(want: list[Hit], got: list[Hit], tolerance: float = SCORE_TOLERANCE) -> bool:
    """Same hits, rank by rank within ``tolerance``, up to the order of tied scores.

    Stores order equal scores differently; an id may differ only where its score ties with
    the id it replaces (including a tie at the top-k cut).
    """
    if len(want) != len(got):
        return False
    if any(abs(a.score - b.score) > tolerance for a, b in zip(got, want, strict=True)):
        return False
    expected = {h.id: h.score for h in want}
    for rank, hit in enumerate(got):
        if hit.id == want[rank].id:
            continue
        score = expected.get(hit.id, want[-1].score)  # not in want: must tie at the cut
        if abs(score - hit.score) > tolerance or abs(want[rank].score - hit.score) > tolerance:
            return False
    return True


def migrate(
    source: Target,
    target: Target,
    *,
    batch_size: int = MIGRATE_BATCH,
    sample: int = SAMPLE_QUERIES,
    progress: Callable[[int], None] | None = None,
) -> MigrationReport:
    """Copy every record of ``source`` into ``target``; verify; return the report."""
    if (source.info.model, source.info.dimension) != (target.info.model, target.info.dimension):
        raise IncompatibleCollection(
            f"cannot copy {source.info.model!r} ({source.info.dimension}) vectors into a "
            f"collection of {target.info.model!r} ({target.info.dimension})"
        )
    scope = source.backend.scope or Scope("unknown", source.name)
    to = target.backend.scope
    with scope.span("migrate", {"vecstore.target": to.system if to else "unknown"}) as span:
        report = _copy(source, target, batch_size, sample, progress)
        span.set({"vecstore.records.copied": report.copied, "vecstore.verified": report.ok})
    return report


def _copy(
    source: Target,
    target: Target,
    batch_size: int,
    sample: int,
    progress: Callable[[int], None] | None,
) -> MigrationReport:
    started = time.perf_counter()
    report = MigrationReport()
    probes: list[np.ndarray[Any, Any]] = []
    for records in source.backend.scan(batch_size, with_vectors=True):
        vectors = np.vstack([r.vector for r in records if r.vector is not None])
        batch = RecordBatch(
            [r.id for r in records],
            vectors.astype(np.float32, copy=False),
            [r.text for r in records],
            [dict(r.metadata) for r in records],
        )
        target.backend.upsert(batch)
        report.copied += len(batch)
        if len(probes) < sample:
            probes.extend(vectors[: sample - len(probes)])
        if progress is not None:
            progress(len(batch))
    report.source_count, report.target_count = source.backend.count(), target.backend.count()
    for probe in probes:
        (want,) = source.backend.query(probe[None, :], SAMPLE_TOP_K, None)
        (got,) = target.backend.query(probe[None, :], SAMPLE_TOP_K, None)
        report.sampled += 1
        diff = max((abs(a.score - b.score) for a, b in zip(got, want, strict=False)), default=0.0)
        report.max_score_diff = max(report.max_score_diff, diff)
        report.same_results += same_answers(want, got)
    report.duration_s = time.perf_counter() - started
    return report
