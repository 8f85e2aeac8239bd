"""The NumPy store's vector files: append-only, memory-mapped up to the committed row count.

Three files share one name (:data:`~vecstore.adapters.numpy.format2.VECTOR_FILES`): ``.f32``
the float32 unit vectors, ``.q8`` their int8 codes, ``.qe`` each row's scale and error bound
(:mod:`vecstore.adapters.numpy.quantization`). None has a header: the manifest gives the committed
row count and the collection its dimension, and a file shorter than that is
:class:`~vecstore.errors.StoreCorrupted`. A writer first cuts each file back to the committed
count (what a stopped writer appended is debris), then appends and fsyncs before committing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vecstore.adapters.numpy.files import open_plain
from vecstore.adapters.numpy.format2 import VectorsEntry
from vecstore.adapters.numpy.quantization import quantize
from vecstore.errors import StoreCorrupted
from vecstore.records import Vectors

Array = npt.NDArray[Any]


def _row_shapes(dimension: int) -> dict[str, tuple[type[Any], int]]:
    return {"f32": (np.float32, dimension), "q8": (np.int8, dimension), "qe": (np.float32, 2)}


@dataclass(frozen=True, slots=True)
class VectorMaps:
    """The committed rows of one set of vector files, memory-mapped (read-only)."""

    name: str
    rows: int
    f32: Vectors
    q8: npt.NDArray[np.int8] | None
    qe: npt.NDArray[np.float32] | None


def open_maps(directory: Path, entry: VectorsEntry, dimension: int) -> VectorMaps:
    """Map the first ``entry.rows`` rows of each file; a short file is StoreCorrupted."""
    maps: dict[str, Array] = {}
    for ext, (dtype, width) in _row_shapes(dimension).items():
        path = directory / f"{entry.name}.{ext}"
        try:
            fh = open_plain(path)
        except FileNotFoundError as exc:
            raise StoreCorrupted(f"{path} is missing") from exc
        with fh:
            need = entry.rows * width * np.dtype(dtype).itemsize
            size = os.fstat(fh.fileno()).st_size
            if size < need:
                raise StoreCorrupted(
                    f"{path} is {size} bytes; the manifest's {entry.rows} rows need {need}"
                )
            if entry.rows == 0:
                maps[ext] = np.empty((0, width), dtype)
            else:
                maps[ext] = np.memmap(fh, dtype, "r", 0, (entry.rows, width))
    return VectorMaps(entry.name, entry.rows, maps["f32"], maps["q8"], maps["qe"])


def append(
    directory: Path, entry: VectorsEntry, dimension: int, blocks: Iterable[Vectors]
) -> VectorsEntry:
    """Append row blocks after the committed rows of ``entry`` (files created if new); fsynced.

    Returns the entry counting the new rows; nothing is committed until a manifest says so.
    """
    shapes = _row_shapes(dimension)
    fds = {}
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        for ext, (dtype, width) in shapes.items():
            fd = fds[ext] = os.open(directory / f"{entry.name}.{ext}", flags, 0o644)
            os.ftruncate(fd, entry.rows * width * np.dtype(dtype).itemsize)
        rows = entry.rows
        for block in blocks:
            f32 = np.ascontiguousarray(block, dtype=np.float32)
            q = quantize(f32)
            qe = np.stack([q["scale"], q["err"]], axis=1)
            for ext, data in (("f32", f32), ("q8", q["codes"]), ("qe", qe)):
                dtype, width = shapes[ext]
                _write_all(
                    fds[ext],
                    memoryview(np.ascontiguousarray(data).data).cast("B"),
                    rows * width * np.dtype(dtype).itemsize,
                )
            rows += len(f32)
        for fd in fds.values():
            os.fsync(fd)
    finally:
        for fd in fds.values():
            os.close(fd)
    return VectorsEntry(entry.name, rows)


def _write_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        done = os.pwrite(fd, data, offset)
        data, offset = data[done:], offset + done
