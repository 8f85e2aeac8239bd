"""Checks on user input, done once in Collection before anything reaches a backend.

Decisions (also in the README):

* Texts must be ``str`` with at least one non-space character: an empty text has no meaning to
  embed, so it is refused rather than stored as noise.
* Ids are non-empty ``str``, kept exactly as given. When none are given (or an entry of ``ids``
  is None), a record's id is derived from its text (``blake2b`` hex of the UTF-8 text; of the
  vector bytes when there is no text), so a re-run of the same job writes the same ids and never
  duplicates.
* The same id twice in one call is an error (:class:`~vecstore.errors.DuplicateId`) naming both
  positions: a silent "last wins" would hide a bug in the caller's data.
* Vectors are finite, non-zero, of the collection's dimension; stored unit-normalised as float32.
  The caller's arrays are never modified.
* Every string (text, id, metadata key and value, filter field and operand) must be valid
  Unicode: a Python ``str`` can hold a lone surrogate (``"\ud800"``, from ``json.loads`` of a
  broken escape, say) that no store, hash or encoder can write; it is refused, named.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vecstore.errors import DuplicateId, InvalidInput
from vecstore.records import Vectors

ID_DIGEST_BYTES = 16


def unicode_problem(text: str) -> str | None:
    """Why ``text`` is not valid Unicode (a lone surrogate, and where), or None when it is."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"is not valid Unicode (a lone surrogate at position {exc.start})"
    return None


def check_unicode(text: str, record: int | str | None, field: str | None) -> str:
    """Return ``text`` if it is valid Unicode, else raise InvalidInput naming record and field."""
    problem = unicode_problem(text)
    if problem is not None:
        raise InvalidInput(f"the {field or 'value'} {problem}", record=record, field=field)
    return text


def label(index: int, ids: Sequence[str] | None) -> int | str:
    """How an error names a record: the caller's id when there is one, else its position."""
    if ids is not None and index < len(ids) and isinstance(ids[index], str):
        return ids[index]
    return index


def as_list(values: Any, what: str) -> list[Any]:
    """A list from any iterable but a bare str or bytes (a common slip for a one-item list)."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidInput(f"{what} must be a list, got {type(values).__name__}", field=what)
    return list(values)


def row_count(vectors: Any) -> int:
    """Number of rows of an array-like of vectors, without copying it."""
    shape = getattr(vectors, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) > 1 else 1
    return len(as_list(vectors, "vectors"))


def check_length(values: Sequence[Any] | None, n: int, what: str) -> None:
    """Raise unless ``values`` is None or has ``n`` items."""
    if values is not None and len(values) != n:
        raise InvalidInput(f"{len(values)} {what} given for {n} records", field=what)


def check_text(text: Any, record: int | str) -> str:
    """Return a valid text or raise naming the record."""
    if not isinstance(text, str):
        raise InvalidInput(
            f"text must be a str, got {type(text).__name__}", record=record, field="text"
        )
    if not text.strip():
        raise InvalidInput("text is empty or whitespace only", record=record, field="text")
    return check_unicode(str(text), record, "text")  # plain str, also for numpy str_


def check_ids(ids: Sequence[Any], *, allow_missing: bool = False) -> list[Any]:
    """Return the ids if each is a non-empty str and none repeats.

    With ``allow_missing``, None entries (ids to derive) pass and stay None.
    """
    seen: dict[str, int] = {}
    for i, rid in enumerate(ids):
        if rid is None and allow_missing:
            continue
        if not isinstance(rid, str) or not rid:
            raise InvalidInput(f"id must be a non-empty str, got {rid!r}", record=i, field="id")
        check_unicode(rid, i, "id")
        if rid in seen:
            raise DuplicateId(
                f"appears at positions {seen[rid]} and {i} of one call; ids must be unique",
                record=rid,
                field="id",
            )
        seen[rid] = i
    # plain str: a numpy str_ id must not leak into stores
    return [None if rid is None else str(rid) for rid in ids]


def derived_id(text: str | None, vector: Vectors | None) -> str:
    """The deterministic id of a record given without one."""
    payload = text.encode() if text is not None else np.ascontiguousarray(vector).tobytes()
    return hashlib.blake2b(payload, digest_size=ID_DIGEST_BYTES).hexdigest()


UNIT_TOLERANCE = 1e-4
"""A row whose norm is this close to 1 is kept as it is: a model's unit vectors, bit for bit."""


def row_norms(arr: Vectors) -> npt.NDArray[np.float64]:
    """Each row's norm, its squares summed in float64.

    No float32 overflow (3e38) or underflow (1e-45); a row holding NaN or an infinity has a NaN
    or infinite norm.
    """
    norms: npt.NDArray[np.float64] = np.sqrt(np.einsum("ij,ij->i", arr, arr, dtype=np.float64))
    return norms


def make_unit(arr: Vectors, norms: npt.NDArray[np.float64]) -> Vectors:
    """``arr``'s rows made unit in place, by the one rule for every vector vecstore takes.

    Stored vectors (an encoder's or the caller's) and query vectors go through this same rule,
    so a query equal to a stored vector before it is bit for bit equal after: near-ties among
    cosines then break the same way as in the frameworks that compare the raw vectors. Rows
    within :data:`UNIT_TOLERANCE` of unit are kept; the rest are divided in float64.
    """
    off = np.abs(norms - 1.0) > UNIT_TOLERANCE
    if off.all():  # the usual case for raw vectors: one pass, divided in float64, no copies
        np.divide(arr, norms[:, None], out=arr, casting="unsafe")
    elif off.any():
        arr[off] = (arr[off].astype(np.float64) / norms[off, None]).astype(np.float32)
    return arr


def check_vectors(
    vectors: Any, dimension: int, ids: Sequence[str] | None, field: str = "vectors"
) -> Vectors:
    """Return a new (n, dimension) float32 array of unit rows, or raise naming the record."""
    try:
        arr = np.array(vectors, dtype=np.float32, copy=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{field} are not a numeric array: {exc}", field=field) from exc
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dimension:
        raise InvalidInput(
            f"shape {np.shape(vectors)}: this collection needs vectors of dimension {dimension}",
            field=field,
        )
    norms = row_norms(arr)
    finite = np.isfinite(norms)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise InvalidInput(
            "vector has NaN or infinite values", record=label(bad, ids), field="vector"
        )
    if not (norms > 0).all():
        bad = int(np.flatnonzero(norms <= 0)[0])
        raise InvalidInput(
            "vector is zero: it has no direction, so no cosine",
            record=label(bad, ids),
            field="vector",
        )
    return make_unit(arr, norms)


def check_top_k(top_k: Any) -> int:
    """Return ``top_k`` if it is an int >= 0 (0 asks for nothing, and gets nothing)."""
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 0:
        raise InvalidInput(f"top_k must be an int >= 0, got {top_k!r}", field="top_k")
    return int(top_k)


def query_vector(query: Any, dimension: int) -> Vectors:
    """A query given as a vector, checked: one-dimensional, finite, non-zero, of ``dimension``."""
    if np.ndim(query) != 1:
        raise InvalidInput(
            f"a query is a str or a one-dimensional vector, got {type(query).__name__}",
            field="query",
        )
    return check_vectors(query, dimension, ["query"], "query")
