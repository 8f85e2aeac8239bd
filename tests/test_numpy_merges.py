"""Merges of the NumPy store that fail: a full disk defers them, a kill leaves only debris."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests import store_files
from tests.conftest import DIM, make_collection
from vecstore.adapters.numpy import writer

REPO = Path(__file__).resolve().parents[1]


def fill(col: Any, batches: int, start: int = 0) -> None:
    for b in range(start, start + batches):
        col.upsert([f"record {b} {i}" for i in range(5)], ids=[f"{b}-{i}" for i in range(5)])


def test_a_merge_the_disk_cannot_take_is_deferred(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    col = make_collection(store_path)
    real = writer.merge

    def full(*args: Any) -> Any:
        real(*args)  # its files written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer, "merge", full)
    fill(col, writer.TIER + 2)  # every write past the eighth wants a merge
    assert "deferred" in caplog.text
    assert len(col.store.segments) > writer.TIER  # type: ignore[attr-defined]
    assert col.count() == 5 * (writer.TIER + 2)  # every acknowledged write stands
    monkeypatch.undo()
    fill(col, 1, start=100)  # the next writer merges, and removes what the failed one left
    directory = store_path / "test"
    assert len(col.store.segments) < writer.TIER  # type: ignore[attr-defined]
    assert store_files.on_disk(directory) == store_files.listed(directory)
    assert col.count() == 5 * (writer.TIER + 3) and col.get(["3-4"])[0].text == "record 3 4"
    col.close()


def test_a_writer_killed_mid_merge_leaves_what_the_next_cleans(store_path: Path) -> None:
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from tests.conftest import make_collection
        from tests.test_numpy_merges import fill
        from vecstore.adapters.numpy import writer
        real = writer.merge
        def slow(*args):
            layout = real(*args)  # the merged table written, not committed
            print("merged", flush=True)
            time.sleep(60)
            return layout
        writer.merge = slow
        fill(make_collection(Path({str(store_path)!r})), writer.TIER + 1)
    """)
    with subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "merged"
        os.kill(proc.pid, signal.SIGKILL)
    directory = store_path / "test"
    assert store_files.on_disk(directory) != store_files.listed(directory)  # debris
    col = make_collection(store_path)
    assert col.count() == 5 * writer.TIER  # the last commit, whole
    fill(col, 1, start=50)
    assert store_files.on_disk(directory) == store_files.listed(directory)
    assert store_files.committed_sizes_match(directory, DIM)
    assert col.count() == 5 * (writer.TIER + 1)
    col.close()
