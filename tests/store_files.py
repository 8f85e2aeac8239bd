"""Helpers for tests of the NumPy store's files: what a manifest names, what lies on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vecstore.adapters import numpy_files as v1
from vecstore.adapters import numpy_layout as layouts
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


def write_format_1(
    directory: Path,
    info: CollectionInfo,
    segments: list[tuple[np.ndarray[Any, Any], list[str], list[str | None], list[Any]]],
    dead: dict[int, list[int]] | None = None,
) -> None:
    """A collection as vecstore wrote it before format 2: one JSON and one .npy per segment."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for n, (vectors, ids, texts, metas) in enumerate(segments, start=1):
        data = v1.SegmentData(vectors.astype(np.float32), ids, texts, metas)
        entry = v1.write_segment(directory, f"seg-{n:08d}", data)
        rows = (dead or {}).get(n - 1, [])
        entries.append(
            v1.SegmentEntry(entry.name, entry.rows, tuple(rows), entry.npy_bytes, entry.json_bytes)
        )
    v1.write_manifest(directory, v1.Manifest(info, len(segments), tuple(entries)))
