"""Collections in the NumPy store's format 1 open, answer, and upgrade in place, resumably."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import store_files
from tests.conftest import DIM, make_collection
from vecstore import HashEncoder, StoreError
from vecstore.adapters.numpy import upgrade, vectors
from vecstore.collection import Collection
from vecstore.records import CollectionInfo

REPO = Path(__file__).resolve().parents[1]
INFO = CollectionInfo("test", f"hash:{DIM}", DIM)


def old_collection(path: Path, segments: int = 3, rows: int = 40) -> list[str]:
    """A format-1 collection of ``segments`` segments; its first row of each segment is dead."""
    encoder = HashEncoder(DIM)
    parts = []
    for s in range(segments):
        ids = [f"s{s}-{i}" for i in range(rows)]
        texts: list[str | None] = [f"record {s} {i}" for i in range(rows)]
        metas: list[Any] = [{"seg": s, "i": i, "tags": ["x", f"t{i % 3}"]} for i in range(rows)]
        parts.append((encoder.encode(texts), ids, texts, metas))  # type: ignore[arg-type]
    store_files.write_format_1(path / "test", INFO, parts, {s: [0] for s in range(segments)})
    return [f"s{s}-{i}" for s in range(segments) for i in range(1, rows)]


def answers(col: Collection) -> list[Any]:
    """Everything a reader can ask, as plain values."""
    return [
        col.count(),
        col.count({"seg": 1}),
        col.count({"tags": "t1", "i": {"$lt": 20}}),
        [(r.id, r.text, r.metadata) for r in col.get(["s0-0", "s0-1", "s2-39", "nope"])],
        [(h.id, round(h.score, 6)) for h in col.query("record 1 7", top_k=5)],
        [h.id for h in col.query("record 2 3", top_k=5, where={"seg": {"$ne": 2}})],
        sorted(r.id for batch in col.store.scan(17, False) for r in batch),  # type: ignore[attr-defined]
    ]


def test_an_old_collection_answers_as_it_did(store_path: Path) -> None:
    live = old_collection(store_path)
    col = make_collection(store_path)
    assert col.store.describe().details["format"] == 1  # type: ignore[attr-defined]
    before = answers(col)
    assert before[0] == len(live) and before[3][0][0] == "s0-1"
    assert col.upgrade() == len(live)
    assert col.store.describe().details["format"] == 2  # type: ignore[attr-defined]
    assert answers(col) == before
    directory = store_path / "test"
    assert store_files.on_disk(directory) == store_files.listed(directory)  # old files gone
    assert not (directory / upgrade.PROGRESS).exists()
    assert col.upgrade() == 0  # nothing left to do
    col.close()
    again = make_collection(store_path)
    assert answers(again) == before
    vector = again.get(["s1-5"], with_vectors=True)[0].vector
    assert np.array_equal(vector, HashEncoder(DIM).encode(["record 1 5"])[0])  # bit for bit
    again.close()


def test_the_first_write_upgrades(store_path: Path) -> None:
    live = old_collection(store_path)
    col = make_collection(store_path)
    reader = make_collection(store_path)
    assert reader.count() == len(live)
    col.upsert(["a new one"], ids=["new"], metadata=[{"seg": 9}])
    assert col.store.describe().details["format"] == 2  # type: ignore[attr-defined]
    assert reader.count() == len(live) + 1  # a reader of the old format follows the switch
    assert reader.count({"seg": 9}) == 1 and reader.get(["s0-0"]) == []
    col.close()
    reader.close()


def test_an_interrupted_upgrade_goes_on_from_where_it_stopped(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = old_collection(store_path, segments=4, rows=50)
    monkeypatch.setattr(upgrade, "PROGRESS_ROWS", 30)
    starts: list[int] = []
    failed: list[bool] = []
    real = vectors.append

    def failing(directory: Path, entry: Any, dimension: int, blocks: Any) -> Any:
        starts.append(entry.rows)
        if len(starts) == 3 and not failed:
            failed.append(True)
            raise OSError(28, "No space left on device")
        return real(directory, entry, dimension, blocks)

    monkeypatch.setattr(upgrade, "append", failing)
    col = make_collection(store_path)
    with pytest.raises(StoreError, match="No space left"):
        col.upgrade()
    assert col.count() == len(live) and col.store.describe().details["format"] == 1  # type: ignore[attr-defined]
    assert (store_path / "test" / upgrade.PROGRESS).exists()
    starts.clear()
    assert col.upgrade() == len(live)
    assert starts[0] == 50  # two blocks (30 + 20 rows) were kept, not written again
    assert col.count() == len(live) and col.count({"seg": 3}) == 49
    col.close()


def test_a_killed_upgrade_is_finished_by_the_next(store_path: Path) -> None:
    live = old_collection(store_path, segments=6, rows=400)
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from tests.conftest import make_collection
        from vecstore.adapters.numpy import upgrade
        upgrade.PROGRESS_ROWS = 100
        real = upgrade.append
        def slow(*args):
            print("block", flush=True)
            time.sleep(0.2)
            return real(*args)
        upgrade.append = slow
        make_collection(Path({str(store_path)!r})).upgrade()
    """)
    with subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        for _ in range(5):
            assert proc.stdout.readline().strip() == "block"
        os.kill(proc.pid, signal.SIGKILL)
    col = make_collection(store_path)
    assert col.count() == len(live)  # still the old format, whole
    started = time.monotonic()
    assert col.upgrade() == len(live)
    assert time.monotonic() - started < 30
    assert col.count() == len(live) and col.get(["s5-399"])[0].metadata["i"] == 399
    col.close()
