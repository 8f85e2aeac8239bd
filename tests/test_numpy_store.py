"""The NumPy store on disk: persistence, atomic commits, one writer, damage, names, compaction."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tests import store_files
from tests.conftest import make_collection
from vecstore import (
    HashEncoder,
    IncompatibleCollection,
    InvalidName,
    StoreCorrupted,
    StoreError,
)
from vecstore.adapters.numpy import format2, writer

REPO = Path(__file__).resolve().parents[1]


def test_round_trip_across_processes(store_path: Path) -> None:
    col = make_collection(store_path)
    col.upsert(
        ["first text", "second text"],
        ids=["a", "b"],
        metadata=[{"topic": "x", "tags": ["p", "q"]}, {"year": 2020}],
    )
    col.close()
    script = textwrap.dedent(f"""
        from tests.conftest import make_collection
        from pathlib import Path
        col = make_collection(Path({str(store_path)!r}))
        print([(r.id, r.text, r.metadata) for r in col.get(["a", "b"])])
        print(col.query("first text", top_k=1)[0].id)
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [
        "[('a', 'first text', {'topic': 'x', 'tags': ['p', 'q']}), "
        "('b', 'second text', {'year': 2020})]",
        "a",
    ]


def test_vectors_are_memory_mapped_float32(store_path: Path) -> None:
    col = make_collection(store_path)
    col.upsert(["some text"], ids=["a"])
    col.close()
    col = make_collection(store_path)
    ((_, maps),) = col.store._current().parts  # type: ignore[attr-defined]
    assert isinstance(maps.f32, np.memmap) and maps.f32.dtype == np.float32
    assert isinstance(maps.q8, np.memmap) and maps.q8.dtype == np.int8
    col.close()


def test_reader_sees_other_writers_commits(store_path: Path) -> None:
    writer = make_collection(store_path)
    reader = make_collection(store_path)
    writer.upsert(["one"], ids=["1"])
    assert reader.count() == 1
    writer.upsert(["two"], ids=["2"])
    assert [r.id for r in reader.get(["1", "2"])] == ["1", "2"]
    writer.close()
    reader.close()


def test_two_writers_take_turns(store_path: Path) -> None:
    first = make_collection(store_path)
    first.upsert(["held"], ids=["h"])
    second = make_collection(store_path)  # the lock is held only during a write, not until close
    second.upsert(["also written"], ids=["b"])
    first.upsert(["third"], ids=["c"])
    assert first.count() == second.count() == 3
    first.close()
    second.close()


def test_a_writer_waits_then_is_refused_naming_the_lock(store_path: Path) -> None:
    from filelock import FileLock

    col = make_collection(store_path)
    col.upsert(["first"], ids=["a"])
    held = FileLock(store_path / "test" / ".lock")
    held.acquire()
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from vecstore import Collection, HashEncoder, StoreLocked, load_settings
        from vecstore.adapters.numpy import NumpyBackend
        col = Collection("test", encoder=HashEncoder(32), settings=load_settings(),
                         backend=NumpyBackend("test", path=Path({str(store_path)!r}),
                                              lock_timeout_s=0.5))
        started = time.monotonic()
        print("readers never block:", col.count())
        try:
            col.upsert(["x"], ids=["x"])
        except StoreLocked as exc:
            print("waited", round(time.monotonic() - started, 1), "locked:", exc)
    """)
    try:
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
    finally:
        held.release()
    assert "readers never block: 1" in out
    assert "locked:" in out and str(store_path / "test" / ".lock") in out
    assert float(out.split("waited ")[1].split()[0]) >= 0.5
    col.upsert(["now fine"], ids=["b"])
    assert col.count() == 2
    col.close()


def test_lock_timeout_comes_from_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    from vecstore import load_settings

    monkeypatch.setenv("VECSTORE_NUMPY__LOCK_TIMEOUT_S", "2.5")
    assert load_settings().numpy.lock_timeout_s == 2.5


def test_crash_before_commit_keeps_previous_state(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    col = make_collection(store_path)
    col.upsert(["before"], ids=["a"], metadata=[{"v": 1}])

    def crash(*args: object) -> None:
        raise OSError("simulated crash before the manifest is replaced")

    monkeypatch.setattr(format2, "write", crash)
    with pytest.raises(StoreError, match="simulated crash"):  # a vecstore error, not a raw one
        col.upsert(["after", "new"], ids=["a", "b"], metadata=[{"v": 2}, None])
    monkeypatch.undo()
    col.close()
    col = make_collection(store_path)
    assert col.count() == 1 and col.get(["a"])[0].metadata == {"v": 1}
    directory = store_path / "test"
    assert not store_files.committed_sizes_match(directory, 32)  # the crashed write's rows
    col.upsert(["third"], ids=["c"])  # the next writer removes the crashed write's debris
    assert store_files.on_disk(directory) == store_files.listed(directory)
    assert store_files.committed_sizes_match(directory, 32)
    assert col.count() == 2 and col.get(["b"]) == []
    col.close()


def test_sigkill_during_writes_leaves_a_consistent_store(store_path: Path) -> None:
    script = textwrap.dedent(f"""
        from tests.conftest import make_collection
        from pathlib import Path
        col = make_collection(Path({str(store_path)!r}))
        print("ready", flush=True)
        for i in range(100000):
            col.upsert([f"text {{i}} {{j}}" for j in range(50)],
                       ids=[f"{{i}}-{{j}}" for j in range(50)],
                       metadata=[{{"batch": i}}] * 50)
    """)
    for delay in (0.3, 0.7, 1.1):
        with subprocess.Popen(
            [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
        ) as proc:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
        col = make_collection(store_path)
        n = col.count()
        assert n > 0 and n % 50 == 0, n
        batches = n // 50
        assert col.count({"batch": {"$lt": batches}}) == n
        sample = col.get([f"{batches - 1}-49", f"{batches}-0"])
        assert [r.id for r in sample] == [f"{batches - 1}-49"]
        col.close()


DAMAGE = [
    "truncate_f32",
    "truncate_q8",
    "truncate_qe",
    "remove_f32",
    "garble_table",
    "truncate_table",
    "table_header_edited",
    "remove_table",
    "garble_manifest",
    "manifest_not_object",
    "dead_list_garbled",
    "dead_list_out_of_range",
]


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_files_raise_store_corrupted(store_path: Path, damage: str) -> None:
    col = make_collection(store_path)
    col.upsert(["some text", "more text"] + [f"t{i}" for i in range(8)], ids=list("abcdefghij"))
    col.delete(["j"])
    col.close()
    directory = store_path / "test"
    layout = format2.parse(store_files.manifest(directory))
    vec = directory / layout.vectors.name
    table = directory / f"{layout.segments[0].name}.tbl"
    assert layout.segments[0].dead is not None
    dead = directory / f"{layout.segments[0].dead.name}.npy"
    manifest = directory / "manifest.json"
    named = {
        "f32": vec.with_suffix(".f32"),
        "q8": vec.with_suffix(".q8"),
        "qe": vec.with_suffix(".qe"),
    }
    if damage.startswith("truncate_") and damage[9:] in named:
        path = named[damage[9:]]
        path.write_bytes(path.read_bytes()[:-3])
    elif damage == "remove_f32":
        named["f32"].unlink()
    elif damage == "garble_table":
        path = table
        table.write_bytes(b"\x00" * table.stat().st_size)
    elif damage == "truncate_table":
        table.write_bytes(table.read_bytes()[:-5])
    elif damage == "table_header_edited":
        raw = bytearray(table.read_bytes())
        at = raw.index(b'"ids.off"')
        raw[at + 1 : at + 4] = b"IDS"  # same size, another name: the digest no longer matches
        table.write_bytes(bytes(raw))
    elif damage == "remove_table":
        table.unlink()
    elif damage == "garble_manifest":
        manifest.write_text("{not json")
    elif damage == "dead_list_garbled":
        dead.write_bytes(b"\x93NUMPY" + b"\x00" * 40)
    elif damage == "dead_list_out_of_range":
        np.save(dead, np.array([70], dtype=np.int64))
    else:
        manifest.write_text("[1, 2]")
    with pytest.raises(StoreCorrupted) as info:
        make_collection(store_path).count()
    assert str(directory) in str(info.value)


def test_other_model_or_dimension_is_refused(store_path: Path) -> None:
    col = make_collection(store_path, dim=32)
    col.upsert(["text"], ids=["a"])
    col.close()
    with pytest.raises(IncompatibleCollection, match="hash:32"):
        make_collection(store_path, dim=16)


@pytest.mark.parametrize("name", ["../x", "", "a/b", ".hidden", "x" * 200, "a..b", "-x", "é"])
def test_unsafe_collection_names(store_path: Path, name: str) -> None:
    with pytest.raises(InvalidName):
        make_collection(store_path, name=name)
    assert not store_path.exists()


def test_compaction_bounds_segments_and_keeps_records(store_path: Path) -> None:
    col = make_collection(store_path)
    for i in range(40):
        col.upsert([f"record {i}"], ids=[f"r{i}"], metadata=[{"i": i}])
        col.upsert([f"record {i} again"], ids=[f"r{i // 2}"], metadata=[{"i": i}])
    assert len(col.store.segments) < 2 * writer.TIER  # type: ignore[attr-defined]
    assert col.count() == 40
    assert col.get(["r5"])[0].text == "record 11 again"
    directory = store_path / "test"
    assert store_files.on_disk(directory) == store_files.listed(directory)
    layout = format2.parse(store_files.manifest(directory))
    assert layout.rows - layout.live <= writer.MAX_DEAD_FRACTION * layout.rows
    (rec,) = col.get(["r5"], with_vectors=True)  # vectors survive the merges row for row
    np.testing.assert_allclose(rec.vector, HashEncoder(32).encode([rec.text or ""])[0], atol=1e-6)
    col.close()
    col = make_collection(store_path)
    assert col.count() == 40 and col.get(["r39"])[0].text == "record 39"
    col.close()
