"""A table file: named NumPy arrays in one file, memory-mapped, read lazily.

Layout::

    b"VSTABLE2"                     8 bytes of magic
    header length                   8 bytes, little-endian
    header                          JSON: {"arrays": {name: [dtype, shape, offset]}, "digest": ...}
    arrays                          each 64-byte aligned, C order, little-endian

Opening a table reads the header only; each array is a read-only view of one memory map of the
file, so nothing is read until a page is touched. The header carries a blake2b digest of its
own array list, and every array must lie inside the file: an edited header or a truncated file
is :class:`~vecstore.errors.StoreCorrupted` naming the file. The array bytes are not hashed at
open (that would read them all); what they hold is checked where it is used.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from vecstore.adapters.numpy.files import create, durable, open_plain
from vecstore.errors import StoreCorrupted

MAGIC = b"VSTABLE2"
ALIGN = 64
DTYPES = frozenset({"|b1", "|i1", "|u1", "<i4", "<u4", "<i8", "<u8", "<f4", "<f8"})
MAX_HEADER = 64 << 20

Array = npt.NDArray[Any]


def _digest(arrays: Any) -> str:
    return hashlib.blake2b(orjson.dumps(arrays), digest_size=16).hexdigest()


def _pad(n: int) -> int:
    return -n % ALIGN


def write_table(path: Path, arrays: Mapping[str, Array]) -> int:
    """Write ``arrays`` to ``path`` via a temporary name, fsynced; return the file's size."""
    listed: dict[str, list[Any]] = {}
    blocks = []
    offset = 0
    for name, array in arrays.items():
        block = np.ascontiguousarray(array)
        descr = block.dtype.newbyteorder("<").str if block.dtype.itemsize > 1 else block.dtype.str
        if descr not in DTYPES:
            raise TypeError(f"table array {name!r} has unsupported dtype {block.dtype}")
        listed[name] = [descr, list(block.shape), offset]
        blocks.append(block.astype(descr, copy=False))
        offset += block.nbytes + _pad(block.nbytes)
    header = orjson.dumps({"arrays": listed, "digest": _digest(listed)})
    start = 16 + len(header)
    start += _pad(start)
    tmp = path.with_name(path.name + ".tmp")
    with create(tmp) as fh:
        fh.write(MAGIC + len(header).to_bytes(8, "little") + header)
        fh.write(b"\0" * (start - 16 - len(header)))
        for block in blocks:
            fh.write(block.data)
            fh.write(b"\0" * _pad(block.nbytes))
        return durable(fh, tmp, path)


def _check_header(
    raw: Any, data_start: int, size: int
) -> dict[str, tuple[np.dtype[Any], tuple[int, ...], int]]:
    if not isinstance(raw, dict) or not isinstance(raw.get("arrays"), dict):
        raise ValueError("the header has no array list")
    listed = raw["arrays"]
    if raw.get("digest") != _digest(listed):
        raise ValueError("the header does not match its digest")
    out = {}
    for name, spec in listed.items():
        if not (isinstance(spec, list) and len(spec) == 3 and spec[0] in DTYPES):
            raise ValueError(f"array {name!r} is described as {spec!r}")
        descr, shape, offset = spec
        if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
            raise ValueError(f"array {name!r} has shape {shape!r}")
        if type(offset) is not int or offset < 0 or offset % ALIGN:
            raise ValueError(f"array {name!r} has offset {offset!r}")
        dtype = np.dtype(descr)
        nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        if data_start + offset + nbytes > size:
            raise ValueError(f"array {name!r} runs past the end of the file ({size} bytes)")
        out[name] = (dtype, tuple(shape), data_start + offset)
    return out


class Table(Mapping[str, "Array"]):
    """A table file opened read-only: its arrays by name, views of one memory map."""

    def __init__(self, path: Path, expected_size: int | None = None) -> None:
        self.path = path
        try:
            with open_plain(path) as fh:
                size = os.fstat(fh.fileno()).st_size
                if expected_size is not None and size != expected_size:
                    raise StoreCorrupted(
                        f"{path} is {size} bytes, the manifest says {expected_size}"
                    )
                head = fh.read(16)
                if len(head) < 16 or head[:8] != MAGIC:
                    raise StoreCorrupted(f"{path} is not a vecstore table file")
                length = int.from_bytes(head[8:], "little")
                if length > min(MAX_HEADER, size):
                    raise StoreCorrupted(f"{path} has a header of {length} bytes")
                raw_header = fh.read(length)
                start = 16 + length
                start += _pad(start)
                try:
                    self._specs = _check_header(orjson.loads(raw_header), start, size)
                except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
                    raise StoreCorrupted(f"{path} is damaged: {exc}") from exc
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        except FileNotFoundError as exc:
            raise StoreCorrupted(f"{path} is missing") from exc
        self._arrays: dict[str, Array] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __getitem__(self, name: str) -> Array:
        array = self._arrays.get(name)
        if array is None:
            dtype, shape, offset = self._specs[name]  # KeyError, as a mapping does
            count = int(np.prod(shape, dtype=np.int64))
            if count == 0 or self._map is None:
                array = np.empty(shape, dtype)
            else:
                array = np.frombuffer(self._map, dtype, count, offset).reshape(shape)
            self._arrays[name] = array
        return array
