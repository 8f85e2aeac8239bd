"""The rerank stage: a cross-encoder (or any scorer) orders a query's first-stage candidates.

``rerank=`` takes a path or a model name of a sentence-transformers ``CrossEncoder`` that is on
this machine (resolved offline; a name not in the local cache is a ``ConfigError``, never a
download; a model that is not a sequence-classification model with one output is a
``ConfigError`` too), or any object with ``score(query, texts) -> scores``. A model is loaded
on first use, once per collection, whichever thread asks first (the others wait for it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vecstore.errors import ConfigError, InvalidInput, MissingDependency
from vecstore.model_files import local_directory


@runtime_checkable
class Scorer(Protocol):
    """Anything that scores texts against a query (higher: more relevant)."""

    def score(self, query: str, texts: Sequence[str]) -> Sequence[float]:
        """One score per text, in order."""


class CrossEncoderScorer:
    """A loaded ``sentence_transformers.CrossEncoder``, scoring (query, text) pairs."""

    def __init__(self, model: Any, name: str) -> None:
        self.model = model
        self.name = name

    def score(self, query: str, texts: Sequence[str]) -> Sequence[float]:
        """``CrossEncoder.predict`` of each (query, text) pair."""
        out = np.asarray(self.model.predict([(query, t) for t in texts], show_progress_bar=False))
        return [float(s) for s in out.reshape(len(texts))]


def _check_files(directory: Path, name: str) -> None:
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"rerank model {name!r} has no readable config.json") from exc
    kinds = config.get("architectures") or []
    if not any(str(k).endswith("ForSequenceClassification") for k in kinds):
        raise ConfigError(
            f"rerank model {name!r} is not a cross-encoder (architectures {kinds}); "
            "give a sentence-transformers CrossEncoder"
        )
    labels = config.get("num_labels", len(config.get("id2label") or {0: ""}))
    if labels != 1:
        raise ConfigError(f"rerank model {name!r} has {labels} outputs; a reranker has one")


def load(name: str) -> CrossEncoderScorer:
    """The cross-encoder at a path or cached under a name, loaded offline."""
    directory = local_directory(name)
    if directory is None:
        raise ConfigError(
            f"rerank model {name!r} is not on this machine (not a directory, not in the local "
            "Hugging Face cache); vecstore never downloads one: save it and give its path"
        )
    _check_files(directory, name)
    try:
        from sentence_transformers import CrossEncoder
    except ImportError as exc:
        raise MissingDependency("sentence-transformers", "model") from exc
    try:
        model = CrossEncoder(str(directory), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"rerank model {name!r} could not be loaded: {exc}") from exc
    return CrossEncoderScorer(model, name)


class Rerankers:
    """The reranker models of one collection, each loaded once (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, CrossEncoderScorer] = {}

    def get(self, spec: Any) -> Scorer:
        """The scorer ``spec`` names (a path or name), or ``spec`` itself if it scores."""
        if isinstance(spec, Path):
            spec = str(spec)
        if not isinstance(spec, str):
            if isinstance(spec, Scorer):
                return spec
            if callable(getattr(spec, "predict", None)):  # a CrossEncoder already loaded
                return CrossEncoderScorer(spec, type(spec).__name__)
            raise InvalidInput(
                "rerank is a CrossEncoder path or name, or an object with score(query, texts), "
                f"got {type(spec).__name__}",
                field="rerank",
            )
        with self._lock:
            found = self._loaded.get(spec)
            if found is None:
                found = self._loaded[spec] = load(spec)
            return found
