"""The NumPy store's files tampered with, linked or planted: StoreCorrupted naming the file,
nothing written outside the store, and a running reader keeps its last good state.

Format 2 (tables, append-only vectors, dead lists) and format 1 (collections written before it,
still opened) are both attacked.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from tests import store_files
from tests.conftest import DIM, intact, make_collection, reopened
from vecstore import HashEncoder
from vecstore.adapters.numpy import records as numpy_records
from vecstore.adapters.numpy import table as numpy_table
from vecstore.collection import Collection
from vecstore.errors import StoreCorrupted
from vecstore.records import CollectionInfo


@pytest.fixture
def seeded_v1(store_path: Path) -> Iterator[Collection]:
    """The same records in a collection written by vecstore before format 2."""
    texts: list[str | None] = ["kept one", "kept two"]
    vectors = HashEncoder(DIM).encode(["kept one", "kept two"])
    info = CollectionInfo("test", f"hash:{DIM}", DIM)
    metas: list[Any] = [{"n": 1}, {"n": 2}]
    store_files.write_format_1(store_path / "test", info, [(vectors, ["k1", "k2"], texts, metas)])
    col = make_collection(store_path)
    yield col
    col.close()


def directory_of(col: Collection) -> Path:
    path: Path = col.store.directory  # type: ignore[attr-defined]
    return path


# -- planted links --------------------------------------------------------------------------


def test_a_link_planted_at_a_file_name_is_not_followed(seeded: Collection, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    directory = directory_of(seeded)
    for generation in range(1, 40):  # whatever names the next files take
        for kind, suffix in (("rec", ".tbl.tmp"), ("dead", ".npy.tmp"), ("vec", ".f32")):
            path = directory / f"{kind}-{generation:08d}{suffix}"
            if not path.exists():
                path.symlink_to(victim)
    (directory / "manifest.json.tmp").symlink_to(victim)
    for i in range(12):  # enough writes for merges and a compaction
        seeded.upsert([f"a third {i}"], ids=[f"k3-{i}"])
        seeded.delete([f"k3-{i}"])
    assert victim.read_text() == "precious"
    intact(reopened(seeded))


def test_manifest_naming_files_outside_the_collection(seeded: Collection, tmp_path: Path) -> None:
    directory = directory_of(seeded)
    manifest = store_files.manifest(directory)
    real = manifest["segments"][0][0]
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(directory / f"{real}.tbl", outside / f"{real}.tbl")
    for name in (f"../../outside/{real}", str(outside / real), "rec-1", "manifest", ""):
        for edit in ("segments", "vectors"):
            changed = json.loads(json.dumps(manifest))
            if edit == "segments":
                changed["segments"][0][0] = name
            else:
                changed["vectors"][0] = name
            (directory / "manifest.json").write_text(json.dumps(changed))
            with pytest.raises(StoreCorrupted, match="manifest"):
                reopened(seeded).count()


@pytest.mark.parametrize("suffix", [".tbl", ".f32", ".q8"])
def test_a_data_file_that_is_a_link_is_refused(
    seeded: Collection, tmp_path: Path, suffix: str
) -> None:
    directory = directory_of(seeded)
    (path,) = [p for p in directory.iterdir() if p.name.endswith(suffix)]
    moved = tmp_path / "moved"
    shutil.move(path, moved)
    path.symlink_to(moved)
    with pytest.raises(StoreCorrupted, match="link"):
        reopened(seeded).count()


# -- tampered manifests ---------------------------------------------------------------------


def _tamper_manifest(directory: Path, edit: Callable[[Any], Any]) -> None:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


COMMON_EDITS: dict[str, Callable[[Any], Any]] = {
    "generation not a number": lambda m: m.update(generation="7"),
    "generation negative": lambda m: m.update(generation=-1),
    "generation behind its files": lambda m: m.update(generation=1),
    "format wrong": lambda m: m.update(format=99),
    "dimension a string": lambda m: m["info"].update(dimension="32"),
    "dimension zero": lambda m: m["info"].update(dimension=0),
    "model not a string": lambda m: m["info"].update(model=5),
    "segments not a list": lambda m: m.update(segments={"a": 1}),
    "info missing": lambda m: m.pop("info"),
    "not an object": lambda m: m.clear(),
}
FORMAT_2_EDITS: dict[str, Callable[[Any], Any]] = {
    **COMMON_EDITS,
    "segment not a list": lambda m: m.update(segments=[1]),
    "rows not an int": lambda m: m["segments"][0].__setitem__(1, "2"),
    "rows negative": lambda m: m["segments"][0].__setitem__(1, -2),
    "rows not the vectors' rows": lambda m: m["segments"][0].__setitem__(1, 3),
    "vector rows past the files": lambda m: m["vectors"].__setitem__(1, 3),
    "vectors missing": lambda m: m.pop("vectors"),
    "a table's size wrong": lambda m: m["segments"][0].__setitem__(2, 5),
    "more dead rows than rows": lambda m: m["segments"][0].extend(["dead-00000001", 5, 10]),
    "a dead list that is not there": lambda m: m["segments"][0].extend(["dead-00000001", 1, 10]),
    "one file listed twice": lambda m: m.update(segments=m["segments"] * 2),
}
FORMAT_1_EDITS: dict[str, Callable[[Any], Any]] = {
    **{k: v for k, v in COMMON_EDITS.items() if k != "generation behind its files"},
    "segment not an object": lambda m: m.update(segments=[1]),
    "rows not an int": lambda m: m["segments"][0].update(rows="2"),
    "dead past the end": lambda m: m["segments"][0].update(dead=[5]),
    "dead a bool": lambda m: m["segments"][0].update(dead=[True]),
    "sizes not ints": lambda m: m["segments"][0].update(npy_bytes="x"),
    "two segments of one name": lambda m: m.update(segments=m["segments"] * 2),
}


@pytest.mark.parametrize("edit", FORMAT_2_EDITS, ids=list(FORMAT_2_EDITS))
def test_tampered_manifest_is_store_corrupted(seeded: Collection, edit: str) -> None:
    _tamper_manifest(directory_of(seeded), FORMAT_2_EDITS[edit])
    with pytest.raises(StoreCorrupted, match=r"manifest\.json|dead-00000001|vec-\d+\.|rec-\d+"):
        reopened(seeded).count()


@pytest.mark.parametrize("edit", FORMAT_1_EDITS, ids=list(FORMAT_1_EDITS))
def test_tampered_format_1_manifest_is_store_corrupted(seeded_v1: Collection, edit: str) -> None:
    _tamper_manifest(directory_of(seeded_v1), FORMAT_1_EDITS[edit])
    with pytest.raises(StoreCorrupted, match="manifest.json"):
        reopened(seeded_v1).count()


# -- tampered tables ------------------------------------------------------------------------


def _table(directory: Path) -> Path:
    return directory / f"{store_files.manifest(directory)['segments'][0][0]}.tbl"


def _rewrite_header(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit a table's header and give it the digest of the edited list (a careful forger)."""
    raw = path.read_bytes()
    length = int.from_bytes(raw[8:16], "little")
    header = orjson.loads(raw[16 : 16 + length])
    edit(header["arrays"])
    header["digest"] = numpy_table._digest(header["arrays"])
    new = orjson.dumps(header)
    room = length + (-(16 + length) % numpy_table.ALIGN)  # the header and its padding
    assert len(new) <= room, "the edit must fit where the header was"
    rest = raw[16 + room :]
    path.write_bytes(raw[:8] + len(new).to_bytes(8, "little") + new.ljust(room, b"\0") + rest)


def _poke(path: Path, array: str, data: bytes, at: int = 0) -> None:
    """Overwrite bytes of one array in place (size and header unchanged)."""
    table = numpy_table.Table(path)
    offset = table._specs[array][2]
    del table
    raw = bytearray(path.read_bytes())
    raw[offset + at : offset + at + len(data)] = data
    path.write_bytes(bytes(raw))


TABLE_EDITS: dict[str, Callable[[Path], object]] = {
    "magic wrong": lambda p: p.write_bytes(b"NOTTABLE" + p.read_bytes()[8:]),
    "header length past the file": lambda p: p.write_bytes(
        p.read_bytes()[:8] + (10**9).to_bytes(8, "little") + p.read_bytes()[16:]
    ),
    "header edited, digest not": lambda p: p.write_bytes(
        p.read_bytes().replace(b'"ids.off"', b'"IDS.off"', 1)
    ),
    "an array past the end": lambda p: _rewrite_header(
        p, lambda a: a["ids.blob"].__setitem__(2, 1 << 30)
    ),
    "an unknown dtype": lambda p: _rewrite_header(p, lambda a: a["ids.off"].__setitem__(0, "<c8")),
    "a negative shape": lambda p: _rewrite_header(p, lambda a: a["ids.off"].__setitem__(1, [-1])),
    "an array missing": lambda p: _rewrite_header(p, lambda a: a.pop("texts.none")),
    "an id not UTF-8": lambda p: _poke(p, "ids.blob", b"\xff\xfe"),
    "metadata not JSON": lambda p: _poke(p, "meta.blob", b"{{{{"),
    "metadata not an object": lambda p: _poke(p, "meta.blob", b"[1,2,3]"),
    "offsets out of range": lambda p: _poke(p, "ids.off", (1 << 40).to_bytes(8, "little"), 8),
    "the id index naming no row": lambda p: _poke(p, "ids.perm", (99).to_bytes(8, "little")),
}


@pytest.mark.parametrize("edit", TABLE_EDITS, ids=list(TABLE_EDITS))
def test_tampered_table_is_store_corrupted(seeded: Collection, edit: str) -> None:
    TABLE_EDITS[edit](_table(directory_of(seeded)))
    with pytest.raises(StoreCorrupted, match=r"rec-\d+\.tbl"):
        col = reopened(seeded)
        col.count()
        col.get(["k1", "k2"])
        col.query("kept one", top_k=2)
        col.count({"n": 1})


def test_a_table_of_other_records_is_refused(seeded: Collection) -> None:
    path = _table(directory_of(seeded))
    numpy_table.write_table(path, numpy_records.build(["x"], ["x"], [{}]))
    _tamper_manifest(
        directory_of(seeded), lambda m: m["segments"][0].__setitem__(2, path.stat().st_size)
    )
    with pytest.raises(StoreCorrupted, match=r"rec-\d+\.tbl holds 1 rows"):
        reopened(seeded).count()


FORMAT_1_SEGMENT_EDITS: dict[str, Callable[[Any], Any]] = {
    "ids are numbers": lambda b: b.update(ids=[1, 2]),
    "ids repeat": lambda b: b.update(ids=["k1", "k1"]),
    "metadata value nested": lambda b: b.update(metadata=[{"n": {"deep": 1}}, {"n": 2}]),
    "text a number": lambda b: b.update(texts=[5, "kept two"]),
    "a field missing": lambda b: b.pop("texts"),
}


@pytest.mark.parametrize("edit", FORMAT_1_SEGMENT_EDITS, ids=list(FORMAT_1_SEGMENT_EDITS))
def test_tampered_format_1_segment_is_store_corrupted(seeded_v1: Collection, edit: str) -> None:
    directory = directory_of(seeded_v1)
    manifest = store_files.manifest(directory)
    entry = manifest["segments"][0]
    path = directory / f"{entry['name']}.json"
    body = json.loads(path.read_text())
    FORMAT_1_SEGMENT_EDITS[edit](body)
    path.write_bytes(json.dumps(body).encode())
    entry["json_bytes"] = path.stat().st_size  # the size matches: only the content lies
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreCorrupted, match=r"seg-\d+\.json"):
        reopened(seeded_v1).count()


def test_the_last_good_commit_stays_readable_in_a_running_reader(seeded: Collection) -> None:
    """A reader holding the last good state keeps answering when a later manifest is damaged."""
    directory = directory_of(seeded)
    intact(seeded)
    _tamper_manifest(directory, FORMAT_2_EDITS["rows negative"])
    with pytest.raises(StoreCorrupted):
        seeded.count()
    with pytest.raises(StoreCorrupted):
        seeded.upsert(["x"], ids=["x"])  # nothing written over a manifest it cannot read


def test_format_1_is_intact_through_the_fixture(seeded_v1: Collection) -> None:
    intact(seeded_v1)
    assert seeded_v1.store.describe().details["format"] == 1
    np.testing.assert_allclose(
        seeded_v1.get(["k1"], with_vectors=True)[0].vector,  # type: ignore[arg-type]
        HashEncoder(DIM).encode(["kept one"])[0],
        atol=1e-6,
    )
