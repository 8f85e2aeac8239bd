"""What the contract's mixins share: the vector size, the collection factory, small helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from vecstore.collection import Collection

DIM = 32
MakeCollection = Callable[[str], Collection]
ALL_LIST_ELEMENTS: tuple[type, ...] = (str, int, float, bool)


def holdable(meta: dict[str, Any], list_elements: tuple[type, ...]) -> dict[str, Any]:
    """``meta`` without list values whose elements the backend cannot hold."""
    return {
        k: v
        for k, v in meta.items()
        if not (isinstance(v, list) and not isinstance(v[0], list_elements))
    }


def unit(*values: float, dim: int = DIM) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A vector whose first components are ``values`` (rest zero)."""
    v = np.zeros(dim, dtype=np.float32)
    v[: len(values)] = values
    return v
