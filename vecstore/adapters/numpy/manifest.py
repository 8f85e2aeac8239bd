"""What the manifests of both formats share: the file, its head, and reading it.

A collection's ``manifest.json`` is its commit point. Every format holds the collection's info
(name, model, dimension, metric), a generation (the newest file number given out) and a list of
segments; what a segment entry holds is the format's own (:mod:`.format1`, :mod:`.format2`).
:func:`head` checks the shared part, each format the rest, before any code uses a field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeGuard

import orjson

from vecstore.adapters.numpy.files import MANIFEST, open_plain
from vecstore.errors import StoreCorrupted
from vecstore.records import CollectionInfo

Signature = tuple[int, int, int]
"""A manifest file's (inode, mtime in ns, size): whether it changed since it was read."""


def read(directory: Path) -> tuple[Any, Signature]:
    """The manifest's JSON and the signature of the file it came from (one open file)."""
    path = directory / MANIFEST
    with open_plain(path) as fh:
        st = os.fstat(fh.fileno())
        raw = fh.read()
    try:
        return orjson.loads(raw), (st.st_ino, st.st_mtime_ns, st.st_size)
    except orjson.JSONDecodeError as exc:
        raise StoreCorrupted(f"{path} is damaged: {exc}") from exc


def is_count(value: Any) -> TypeGuard[int]:
    """Whether ``value`` is an int >= 0 (a bool is not)."""
    return type(value) is int and value >= 0


def info_json(info: CollectionInfo) -> dict[str, Any]:
    """A collection's info as manifests of every format hold it."""
    return {
        "name": info.name,
        "model": info.model,
        "dimension": info.dimension,
        "metric": info.metric,
    }


def head(raw: Any, version: int) -> tuple[CollectionInfo, int, list[Any]]:
    """What manifests of every format hold, checked: (info, generation, the segment list).

    ValueError says what is wrong.
    """
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    if type(raw.get("format")) is not int or raw["format"] != version:
        raise ValueError(f"unknown format {raw.get('format')!r}")
    info = raw.get("info")
    if not isinstance(info, dict):
        raise ValueError("no info object")
    name, model, dimension = info.get("name"), info.get("model"), info.get("dimension")
    if not isinstance(name, str) or not isinstance(model, str) or not model:
        raise ValueError("info has no name or model")
    if not is_count(dimension) or dimension == 0:
        raise ValueError(f"info has dimension {dimension!r}")
    if info.get("metric", "cosine") != "cosine":
        raise ValueError(f"info has metric {info.get('metric')!r}")
    generation = raw.get("generation")
    if not is_count(generation):
        raise ValueError(f"generation {generation!r} is not a count")
    listed = raw.get("segments")
    if not isinstance(listed, list):
        raise ValueError("segments is not a list")
    return CollectionInfo(name, model, dimension), generation, listed
