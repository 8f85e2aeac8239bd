"""Hostile input, tampered files, broken disks: only vecstore errors, nothing written outside the
store, nothing stored before lost.

Each case asserts the typed error, that what was stored before is intact and readable, and,
where a cause can go away (a full or read-only disk, a planted link), that the next write
succeeds once it has.
"""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import intact, make_collection, reopened
from tests.disks import fill
from vecstore import errors
from vecstore.adapters.numpy import files
from vecstore.collection import Collection
from vecstore.errors import (
    FilterError,
    InvalidInput,
    StoreCorrupted,
    StoreError,
    StoreUnwritable,
    VecstoreError,
)
from vecstore.filters import MAX_DEPTH, parse

LONE = "\ud800"  # a lone surrogate: a str Python holds, but no valid Unicode text


def test_a_lock_file_that_is_a_link(seeded: Collection, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    lock = seeded.store.directory / ".lock"  # type: ignore[attr-defined]
    lock.unlink(missing_ok=True)
    lock.symlink_to(victim)
    with pytest.raises(StoreCorrupted, match=r"\.lock"):
        seeded.upsert(["more"], ids=["k3"])
    assert victim.read_text() == "precious"
    intact(seeded)
    lock.unlink()
    seeded.upsert(["more"], ids=["k3"])
    assert seeded.count() == 3


def test_a_collection_directory_that_is_a_link_is_followed(tmp_path: Path) -> None:
    """Documented: a store or collection directory may be a link (to another disk, say)."""
    real = tmp_path / "elsewhere"
    (tmp_path / "store").mkdir()
    real.mkdir()
    (tmp_path / "store" / "test").symlink_to(real, target_is_directory=True)
    col = make_collection(tmp_path / "store")
    col.upsert(["through the link"], ids=["l"])
    assert (real / "manifest.json").is_file() and reopened(col).count() == 1


# -- broken disks ----------------------------------------------------------------------------------


def test_a_full_disk(small_disk: Path) -> None:
    col = make_collection(small_disk / "store")
    col.upsert(["kept one", "kept two"], ids=["k1", "k2"], metadata=[{"n": 1}, {"n": 2}])
    filler = fill(small_disk)
    big = [f"record {i}" for i in range(500)]
    for write in (
        lambda: col.upsert(big),
        lambda: col.update_metadata(["k1"], [{"n": 10}]),
        lambda: col.delete(["k2"]),
        col.clear,
    ):
        with pytest.raises(StoreUnwritable, match="No space left") as info:
            write()
        assert str(small_disk) in str(info.value)
        intact(col)
    filler.unlink()
    col.upsert(big)
    assert col.count() == 502
    debris = [p.name for p in col.store.directory.iterdir() if p.name.endswith(".tmp")]  # type: ignore[attr-defined]
    assert debris == []
    intact(reopened(col), 502)


def test_a_read_only_disk(small_disk: Path) -> None:
    col = make_collection(small_disk / "store")
    col.upsert(["kept one", "kept two"], ids=["k1", "k2"], metadata=[{"n": 1}, {"n": 2}])
    col.close()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    col = make_collection(small_disk / "store")
    intact(col)  # reading never needs to write
    for write in (lambda: col.upsert(["x"], ids=["x"]), lambda: col.delete(["k1"]), col.clear):
        with pytest.raises(StoreUnwritable, match="Read-only") as info:
            write()
        assert str(small_disk) in str(info.value)
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    col.upsert(["x"], ids=["x"])
    assert col.count() == 3


# -- text that is not valid Unicode ------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "record", "field"),
    [
        (lambda c: c.upsert([f"bad {LONE}"], ids=["u"]), "u", "text"),
        (lambda c: c.upsert(["fine"], ids=[f"id{LONE}"]), 0, "id"),
        (lambda c: c.upsert(["fine"], ids=["u"], metadata=[{"k": f"v{LONE}"}]), "u", "metadata.k"),
        (lambda c: c.upsert(["fine"], ids=["u"], metadata=[{f"k{LONE}": 1}]), "u", None),
        (lambda c: c.upsert(["fine"], ids=["u"], metadata=[{"k": ["a", LONE]}]), "u", "metadata.k"),
        (lambda c: c.update_metadata(["k1"], [{"k": LONE}]), "k1", "metadata.k"),
        (lambda c: c.query(f"query {LONE}"), "query", "text"),
        (lambda c: c.get([f"k{LONE}"]), 0, "id"),
        (lambda c: c.delete([f"k{LONE}"]), 0, "id"),
    ],
)
def test_surrogates_are_invalid_input(
    seeded: Collection, call: Any, record: Any, field: str | None
) -> None:
    with pytest.raises(InvalidInput, match="not valid Unicode") as info:
        call(seeded)
    assert (info.value.record, info.value.field) == (record, field)
    intact(seeded)


@pytest.mark.parametrize(
    "where",
    [{"k": LONE}, {LONE: 1}, {"k": {"$in": ["a", LONE]}}, {"k": {"$ne": f"x{LONE}"}}],
)
def test_surrogates_in_filters(seeded: Collection, where: dict[str, Any]) -> None:
    with pytest.raises(FilterError, match="not valid Unicode"):
        seeded.count(where)


def test_surrogates_in_ingest_are_dead_lettered(seeded: Collection) -> None:
    source = [
        {"id": "ok", "text": "fine"},
        {"id": "t", "text": f"bad {LONE}"},
        {"id": f"i{LONE}", "text": "fine too"},
        {"id": "m", "text": "fine three", "k": LONE},
    ]
    report = seeded.ingest(source)
    assert (report.written, report.failed) == (1, 3)
    assert all("not valid Unicode" in f.reason for f in report.failures)
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        seeded.ingest([{"id": "x", "text": "y"}], source_tag=LONE)


# -- deep filters --------------------------------------------------------------------------------


def nested(op: str, depth: int) -> dict[str, Any]:
    where: dict[str, Any] = {"n": 1}
    for _ in range(depth - 1):
        if op == "$not-field":
            where = {"n": {"$not": where["n"] if isinstance(where.get("n"), dict) else {"$eq": 1}}}
        elif op == "$not":
            where = {"$not": where}
        else:
            where = {op: [where]}
    return where


@pytest.mark.parametrize("op", ["$and", "$or", "$not"])
def test_filters_deeper_than_the_limit_are_refused(seeded: Collection, op: str) -> None:
    assert seeded.count(nested(op, MAX_DEPTH)) in (0, 1, 2)  # at the limit: answered
    for depth in (MAX_DEPTH + 1, 5000):
        with pytest.raises(FilterError, match=f"deeper than {MAX_DEPTH}"):
            seeded.count(nested(op, depth))
    intact(seeded)


def test_field_level_not_nesting_is_bounded_too() -> None:
    where: dict[str, Any] = {"$eq": 1}
    for _ in range(5000):
        where = {"$not": where}
    with pytest.raises(FilterError, match=f"deeper than {MAX_DEPTH}"):
        parse({"n": where})


# -- exceptions cross processes ----------------------------------------------------------------


def _instances() -> list[VecstoreError]:
    return [
        errors.VecstoreError("plain"),
        errors.ConfigError("bad config"),
        errors.MissingDependency("qdrant-client", "qdrant"),
        errors.InvalidInput("bad", record="r1", field="metadata.k"),
        errors.FilterError("bad filter", field="where"),
        errors.DuplicateId("twice", record="x", field="id"),
        errors.InvalidName("bad name"),
        errors.IncompatibleCollection("other model"),
        errors.CapabilityError("no keyword search here"),
        errors.EncoderError("broken"),
        errors.StoreError("failed"),
        errors.StoreCorrupted("damaged"),
        errors.StoreLocked("locked"),
        errors.StoreUnwritable("full"),
        errors.CollectionNotFound("missing"),
        errors.BackendError("refused", transient=False, status=400),
        errors.BackendUnavailable("down", retry_after=2.5, status=503),
    ]


@pytest.mark.parametrize("exc", _instances(), ids=lambda e: type(e).__name__)
def test_every_error_pickles_with_its_fields(exc: VecstoreError) -> None:
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and str(back) == str(exc) and back.args == exc.args
    assert back.__dict__ == exc.__dict__ and back.transient == exc.transient
    assert isinstance(back, StoreError) == isinstance(exc, StoreError)


def test_every_error_class_is_covered() -> None:
    covered = {type(e) for e in _instances()}
    assert covered == {getattr(errors, name) for name in errors.__all__}


# -- vectors that are not what they seem ---------------------------------------------------------


def test_huge_and_subnormal_vectors(seeded: Collection) -> None:
    tiny = np.full(32, 1e-45, np.float32)  # subnormal: its norm underflows in float32
    huge = np.full(32, 3e38, np.float32)  # its norm overflows in float32
    for vector in (tiny, huge):
        seeded.upsert(None, ids=["v"], vectors=[vector])
        (rec,) = seeded.get(["v"], with_vectors=True)
        assert rec.vector is not None and abs(float(np.linalg.norm(rec.vector)) - 1) < 1e-5
    intact_ids = [r.id for r in seeded.query(huge, top_k=3)]
    assert intact_ids[0] == "v"


def test_numpy_files_write_only_regular_files(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    (tmp_path / "f.json.tmp").symlink_to(tmp_path / "elsewhere")
    files.write_file(target, b"{}")
    assert target.read_bytes() == b"{}" and not (tmp_path / "elsewhere").exists()
