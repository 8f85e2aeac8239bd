"""On-disk format of the NumPy store: immutable segments committed by one manifest.

A collection is a directory::

    manifest.json         the commit point: collection info, the segments, their dead rows
    seg-00000001.npy      float32 (rows, dimension) unit vectors, memory-mapped on open
    seg-00000001.json     {"ids": [...], "texts": [...], "metadata": [...]} (no pickle)
    .lock                 held by the writer while it writes (flock: freed if it dies)

Segment files are written under fresh names and fsynced before the manifest that names them
replaces the old one with ``os.replace``: a crash at any point leaves the previous manifest and
every file it names intact. Files no manifest names are debris of such a crash, removed by the
next writer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from vecstore.errors import StoreCorrupted
from vecstore.records import Metadata, Vectors

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class SegmentData:
    """The contents of one segment's files."""

    vectors: Vectors
    ids: list[str]
    texts: list[str | None]
    metadata: list[Metadata]


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes | Vectors) -> int:
    """Write ``path`` via a temporary name, fsynced; return its size in bytes."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        if isinstance(data, bytes):
            fh.write(data)
        else:
            np.save(fh, data, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path.stat().st_size


def write_vectors(path: Path, shape: tuple[int, int], parts: Iterable[Vectors]) -> int:
    """Write row blocks, one at a time, into one .npy through a memory map; fsynced."""
    tmp = path.with_name(path.name + ".tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
    at = 0
    for part in parts:
        out[at : at + len(part)] = part
        at += len(part)
    out.flush()
    del out
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path.stat().st_size


def write_segment(
    directory: Path, name: str, data: SegmentData, parts: Iterable[Vectors] | None = None
) -> dict[str, Any]:
    """Write a segment's two files; return its manifest entry.

    With ``parts``, the vectors are those row blocks, written in turn (``data.vectors`` unused).
    """
    npy = directory / f"{name}.npy"
    if parts is not None:
        npy_bytes = write_vectors(npy, (len(data.ids), data.vectors.shape[1]), parts)
    else:
        npy_bytes = write_file(npy, np.ascontiguousarray(data.vectors))
    body = {"ids": data.ids, "texts": data.texts, "metadata": data.metadata}
    json_bytes = write_file(directory / f"{name}.json", orjson.dumps(body))
    return {
        "name": name,
        "rows": len(data.ids),
        "dead": [],
        "npy_bytes": npy_bytes,
        "json_bytes": json_bytes,
    }


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Commit: atomically replace the manifest, then make the rename durable."""
    write_file(directory / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    fsync_dir(directory)


def read_manifest(directory: Path) -> tuple[dict[str, Any], tuple[int, int, int]]:
    """Read and sanity-check a manifest; return it with the (inode, mtime, size) it was read at.

    Both come from one open file, so the signature is that of the content returned even when a
    writer replaces the manifest meanwhile.
    """
    path = directory / MANIFEST
    try:
        with path.open("rb") as fh:
            st = os.fstat(fh.fileno())
            raw = fh.read()
        manifest = orjson.loads(raw)
        if manifest.get("format") != FORMAT_VERSION:
            raise StoreCorrupted(f"{path}: unknown format {manifest.get('format')!r}")
        info = manifest["info"]
        _ = (info["model"], int(info["dimension"]), manifest["generation"])
        for seg in manifest["segments"]:
            _ = (seg["name"], int(seg["rows"]), list(seg["dead"]))
    except StoreCorrupted:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StoreCorrupted(f"{path} is damaged ({type(exc).__name__}: {exc})") from exc
    return dict(manifest), (st.st_ino, st.st_mtime_ns, st.st_size)


def read_segment(directory: Path, entry: dict[str, Any], dimension: int) -> SegmentData:
    """Open a segment: vectors memory-mapped, records parsed; every mismatch is StoreCorrupted."""
    name = entry["name"]
    npy, js = directory / f"{name}.npy", directory / f"{name}.json"
    for path, key in ((npy, "npy_bytes"), (js, "json_bytes")):
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise StoreCorrupted(f"{path} is missing") from exc
        if size != entry[key]:
            raise StoreCorrupted(f"{path} is {size} bytes, the manifest says {entry[key]}")
    try:
        vectors = np.load(npy, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise StoreCorrupted(f"{npy} is not a readable .npy file: {exc}") from exc
    rows = int(entry["rows"])
    if vectors.dtype != np.float32 or vectors.shape != (rows, dimension):
        raise StoreCorrupted(
            f"{npy} holds {vectors.dtype} {vectors.shape}, expected float32 ({rows}, {dimension})"
        )
    try:
        body = orjson.loads(js.read_bytes())
        ids, texts, metadata = body["ids"], body["texts"], body["metadata"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise StoreCorrupted(f"{js} is damaged ({type(exc).__name__}: {exc})") from exc
    if not (len(ids) == len(texts) == len(metadata) == rows):
        raise StoreCorrupted(f"{js} does not hold {rows} records")
    return SegmentData(vectors, ids, texts, metadata)


def remove_unlisted(directory: Path, manifest: dict[str, Any]) -> None:
    """Delete segment files the manifest does not name (left by a crashed writer)."""
    listed = {seg["name"] for seg in manifest.get("segments", [])}
    for path in directory.glob("seg-*"):
        if path.name.split(".")[0] not in listed:
            path.unlink(missing_ok=True)
