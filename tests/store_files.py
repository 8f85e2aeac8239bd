"""Helpers for tests of the NumPy store's files: what a manifest names, what lies on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from vecstore.adapters.numpy import format1 as v1
from vecstore.adapters.numpy import format2 as layouts
from vecstore.adapters.numpy.files import create, durable, fsync_dir, write_file
from vecstore.adapters.numpy.manifest import info_json
from vecstore.records import CollectionInfo


def manifest(directory: Path) -> dict[str, Any]:
    """The manifest's JSON."""
    raw: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
    return raw


def listed(directory: Path) -> set[str]:
    """The files the committed manifest names."""
    return layouts.parse(manifest(directory)).files()


def on_disk(directory: Path) -> set[str]:
    """The store's data files on disk (temporary files included, the lock and manifest not)."""
    return {
        p.name
        for p in directory.iterdir()
        if layouts.NAME.fullmatch(p.name.split(".")[0]) or p.name.startswith("seg-")
    }


def committed_sizes_match(directory: Path, dimension: int) -> bool:
    """Whether the vector files hold exactly the committed rows (debris cut off)."""
    vectors = layouts.parse(manifest(directory)).vectors
    widths = {"f32": dimension * 4, "q8": dimension, "qe": 8}
    return all(
        (directory / f"{vectors.name}.{ext}").stat().st_size == vectors.rows * width
        for ext, width in widths.items()
    )


def _write_npy(path: Path, vectors: np.ndarray[Any, Any]) -> int:
    tmp = path.with_name(path.name + ".tmp")
    with create(tmp) as fh:
        np.lib.format.write_array(fh, np.ascontiguousarray(vectors, dtype=np.float32))
        return durable(fh, tmp, path)


def write_format_1(
    directory: Path,
    info: CollectionInfo,
    segments: list[tuple[np.ndarray[Any, Any], list[str], list[str | None], list[Any]]],
    dead: dict[int, list[int]] | None = None,
) -> None:
    """A collection as vecstore wrote it before format 2: one JSON and one .npy per segment.

    vecstore no longer writes format 1: this is that writer, kept for the tests of reading and
    upgrading such collections.
    """
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for n, (vectors, ids, texts, metas) in enumerate(segments, start=1):
        name = f"seg-{n:08d}"
        npy_bytes = _write_npy(directory / f"{name}.npy", vectors)
        body = {"ids": ids, "texts": texts, "metadata": metas}
        json_bytes = write_file(directory / f"{name}.json", orjson.dumps(body))
        rows = (dead or {}).get(n - 1, [])
        entries.append(
            {"name": name, "rows": len(ids), "dead": rows, "npy_bytes": npy_bytes,
             "json_bytes": json_bytes}
        )
    raw = {"format": v1.FORMAT, "info": info_json(info), "generation": len(segments),
           "segments": entries}
    v1.parse(raw)  # what format 1 accepts
    write_file(directory / "manifest.json", orjson.dumps(raw, option=orjson.OPT_INDENT_2))
    fsync_dir(directory)
