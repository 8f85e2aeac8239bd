"""The collections of a NumPy store, and their manifests read whatever their format.

:func:`parse_any` tells format 1 (:mod:`.format1`) from format 2 (:mod:`.format2`);
:func:`summaries` lists a store's collections from their manifests alone, no record read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vecstore.adapters.base import CollectionSummary
from vecstore.adapters.numpy import format1, format2
from vecstore.adapters.numpy.files import MANIFEST
from vecstore.adapters.numpy.format2 import Layout
from vecstore.adapters.numpy.manifest import read
from vecstore.errors import StoreCorrupted


def parse_any(raw: Any, path: Path) -> Layout | format1.Manifest:
    """A manifest of either format from its JSON; StoreCorrupted naming ``path`` if damaged."""
    old = isinstance(raw, dict) and raw.get("format") == format1.FORMAT
    try:
        return format1.parse(raw) if old else format2.parse(raw)
    except (ValueError, TypeError) as exc:
        raise StoreCorrupted(f"{path} is damaged: {exc}") from exc


def live(parsed: Layout | format1.Manifest) -> int:
    """Records a manifest of either format counts."""
    if isinstance(parsed, Layout):
        return parsed.live
    return sum(e.rows - len(e.dead) for e in parsed.segments)


def summaries(root: Path) -> list[CollectionSummary]:
    """Every collection under a store's root (a directory holding a manifest), by name.

    Counted from the manifests alone, of either format: no records are read.
    """
    out = []
    for manifest_path in sorted(root.glob(f"*/{MANIFEST}")):
        raw, _ = read(manifest_path.parent)
        parsed = parse_any(raw, manifest_path)
        info = parsed.info
        name = manifest_path.parent.name
        out.append(CollectionSummary(name, live(parsed), info.model, info.dimension))
    return out
