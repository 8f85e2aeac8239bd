"""The encoder's ONNX graph: exported once from the model's local weights, cached, shared.

The whole sentence-transformers pipeline after tokenisation (the transformer, the pooling its
config names, any Dense layers, the normalisation) is traced from the loaded model with
``torch.onnx.export``, so the graph computes exactly what the model computes; tokenisation,
truncation and prompts stay sentence-transformers' own (:mod:`vecstore.onnx_encoder`). Never
from a hub: the weights are the ones already loaded.

The trace uses the transformer's plain ("eager") attention, whose pattern onnxruntime's
transformer optimizer recognises: attention, embedding and layer norms, and GELU are fused into
its CPU kernels (measured 1.3x the unfused graph here). The fused graph is kept only if it gives
the plain graph's vectors on a sample (cosine >= :data:`FUSION_AGREEMENT`); otherwise, or for a
model type the optimizer does not know, the plain graph is kept.

The cache lives under ``cache_dir`` (setting ``cache_dir``; default ``$XDG_CACHE_HOME/vecstore``,
else ``~/.cache/vecstore``) in ``onnx/<key>/``, keyed by the model's content (a hash of every
file of its directory), the export recipe, torch and onnxruntime versions. Several processes
exporting at once end with one valid file: the export runs under a file lock, into a fresh
directory that is renamed into place only once complete and fsynced. Each graph carries its own
digest; a truncated or edited file fails the check and is rebuilt, never loaded blindly (the
digests of files that have not changed since they were last hashed, by size, inode, modification
and change times, are remembered in ``onnx/digests/``, so a warm open hashes nothing). A cache
that cannot be written (read-only, full) is replaced by a temporary directory for this process,
with one warning.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from vecstore.errors import ConfigError

log = logging.getLogger(__name__)

RECIPE = "st-pipeline-v2-eager-fused"
"""Bumped whenever the export changes what the graph computes."""
OPSET = 17
GRAPH = "model.onnx"
DIGEST = "model.onnx.blake2b"
LOCK_TIMEOUT_S = 600.0
CHUNK = 1 << 20
FUSION_AGREEMENT = 0.99999
FUSABLE = {
    "bert": "bert",
    "roberta": "bert",
    "xlm-roberta": "bert",
    "mpnet": "bert",
    "distilbert": "bert",
}
"""Model types whose encoder blocks onnxruntime's optimizer fuses, and the pattern it uses."""
CHECK_TEXTS = (
    "a short text",
    "a somewhat longer text, to have some padding in the batch",
    "word " * 400,  # past the window: truncated
)


class ExportUnsupported(Exception):
    """The model cannot be exported (its modules, or its inputs, are not ones the export knows)."""


@dataclass(frozen=True, slots=True)
class Exported:
    """A valid graph on disk, and the names of its inputs."""

    path: Path
    inputs: tuple[str, ...]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/vecstore``, else ``~/.cache/vecstore``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vecstore"


def _file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _memo_digest(path: Path, memo: Path | None) -> str:
    """``path``'s digest, read from ``memo`` when the file is the one it was computed from.

    The memo is keyed by the file's path, size, inode and modification and change times: any
    write to the file (or ``touch``, or a replace) changes one of them, so it is hashed again;
    an unchanged file costs a ``stat`` instead of reading ~90 MB. A memo that cannot be
    written is skipped.
    """
    if memo is None:
        return _file_digest(path)
    st = path.stat()
    identity = f"{path.resolve()}\0{st.st_size}\0{st.st_ino}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
    entry = memo / hashlib.blake2b(identity.encode(), digest_size=16).hexdigest()
    try:
        recorded = entry.read_text().strip()
        if len(recorded) == 32:
            return recorded
    except OSError:
        pass
    digest = _file_digest(path)
    tmp = None
    try:
        memo.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=memo, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(digest)
        os.replace(tmp, entry)
    except OSError:  # a read-only or full cache: hashed again next time
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return digest


def model_key(directory: Path, versions: dict[str, str], memo: Path | None = None) -> str:
    """What the cached graph depends on: every file of the model, the recipe, the versions."""
    h = hashlib.blake2b(digest_size=16)
    for name, version in sorted({**versions, "recipe": RECIPE, "opset": str(OPSET)}.items()):
        h.update(f"{name}={version}\n".encode())
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(directory)).encode() + b"\0")
        h.update(_memo_digest(path, memo).encode())
    return h.hexdigest()


def digests(cache: Path) -> Path:
    """Where ``cache`` keeps its memo of file digests."""
    return cache / "onnx" / "digests"


def valid(directory: Path) -> bool:
    """Whether ``directory`` holds a complete graph whose bytes match its recorded digest."""
    try:
        recorded = (directory / DIGEST).read_text().strip()
        memo = directory.parent / "digests"
        return bool(recorded) and _memo_digest(directory / GRAPH, memo) == recorded
    except OSError:
        return False


class _Pipeline:
    """The model after tokenisation, as a module of plain tensor inputs (what the export traces).

    ``constants``: what preprocessing gives besides tensors (its ``modality``, say), the same
    for every batch of text, fixed in the graph.
    """

    def __new__(cls, model: Any, names: tuple[str, ...], constants: dict[str, Any]) -> Any:
        import torch

        class Pipeline(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *tensors: Any) -> Any:
                features = {**constants, **dict(zip(names, tensors, strict=True))}
                return self.model(features)["sentence_embedding"]

        return Pipeline().eval()


def split_features(features: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The tensor inputs' names, and the plain values (str, int, bool, None) beside them."""
    import torch

    names = tuple(k for k, v in features.items() if isinstance(v, torch.Tensor))
    constants = {k: v for k, v in features.items() if k not in names}
    if not all(v is None or isinstance(v, str | int | bool) for v in constants.values()):
        raise ExportUnsupported(
            f"has preprocessing outputs the export cannot fix: {sorted(constants)}"
        )
    return names, constants


def export(model: Any, sample: dict[str, Any], target: Path) -> tuple[str, ...]:
    """Trace ``model`` (a loaded SentenceTransformer) into ``target``; return the input names.

    ``sample`` is what the model's own preprocessing made of two texts.
    """
    import torch

    names, constants = split_features(sample)
    if not names or any(sample[n].ndim != 2 for n in names):
        raise ExportUnsupported("has inputs that are not (batch, tokens) tensors")
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    plain = target / "plain.onnx"
    transformer = getattr(model[0], "auto_model", None)
    attention = getattr(getattr(transformer, "config", None), "_attn_implementation", None)
    try:
        if attention not in (None, "eager"):
            transformer.set_attn_implementation("eager")  # type: ignore[union-attr]
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes: noise in a job
            torch.onnx.export(
                _Pipeline(model, names, constants),
                tuple(sample[n] for n in names),
                str(plain),
                input_names=list(names),
                output_names=["sentence_embedding"],
                dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
    except OSError:
        raise  # a disk that is full or read-only: the cache's problem, not the model's
    except Exception as exc:  # the exporter's own many error types: the model is not exportable
        raise ExportUnsupported(f"cannot be exported ({type(exc).__name__}: {exc})") from exc
    finally:
        if attention not in (None, "eager"):
            transformer.set_attn_implementation(attention)  # type: ignore[union-attr]
    _keep_fused_if_faithful(model, transformer, plain, target / GRAPH, names)
    (target / DIGEST).write_text(_file_digest(target / GRAPH))
    (target / "inputs").write_text("\n".join(names))
    return names


def _keep_fused_if_faithful(
    model: Any, transformer: Any, plain: Path, graph_path: Path, names: tuple[str, ...]
) -> None:
    """Fuse ``plain`` into ``graph_path`` when the optimizer can and the vectors stay the same."""
    config = getattr(transformer, "config", None)
    kind = FUSABLE.get(str(getattr(config, "model_type", "")))
    heads = getattr(config, "num_attention_heads", None)
    hidden = getattr(config, "hidden_size", None)
    fused = graph_path.with_name("fused.onnx")
    if kind is not None and isinstance(heads, int) and isinstance(hidden, int):
        try:
            from onnxruntime.transformers import optimizer

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                optimized = optimizer.optimize_model(
                    str(plain), model_type=kind, num_heads=heads, hidden_size=hidden, opt_level=0
                )
            optimized.save_model_to_file(str(fused))
        except Exception as exc:  # the optimizer's own errors: keep the plain graph
            log.info("graph fusion skipped (%s); the plain graph is kept", exc)
            fused.unlink(missing_ok=True)
    if fused.exists() and _agree(model, plain, fused, names):
        os.replace(fused, graph_path)
        plain.unlink()
    else:
        fused.unlink(missing_ok=True)
        os.replace(plain, graph_path)


def _agree(model: Any, plain: Path, fused: Path, names: tuple[str, ...]) -> bool:
    import numpy as np
    import onnxruntime as ort

    features = model.preprocess(list(CHECK_TEXTS))
    feed = {n: features[n].numpy() for n in names}
    a, b = (
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feed)[0]
        for p in (plain, fused)
    )
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return bool((a * b).sum(axis=1).min() >= FUSION_AGREEMENT)


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        with path.open("rb") as fh:
            os.fsync(fh.fileno())
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_inputs(directory: Path) -> tuple[str, ...]:
    return tuple((directory / "inputs").read_text().split())


def cached_graph(cache: Path, key: str, model: Any, sample: dict[str, Any]) -> Exported:
    """The graph for ``key``: from the cache when valid, else exported now (under a lock)."""
    final = cache / "onnx" / key
    if valid(final):
        return Exported(final / GRAPH, _read_inputs(final))
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final) + ".lock", timeout=LOCK_TIMEOUT_S):
        if valid(final):  # another process finished it while this one waited
            return Exported(final / GRAPH, _read_inputs(final))
        if final.exists():
            log.warning("rebuilding the damaged ONNX graph at %s", final)
            shutil.rmtree(final)
        work = Path(tempfile.mkdtemp(prefix=f"{key}.", suffix=".tmp", dir=final.parent))
        try:
            names = export(model, sample, work)
            _fsync_tree(work)
            os.replace(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return Exported(final / GRAPH, names)


TEXT_FEATURES = "text-features.ok"
"""Beside a graph: the model's tokenizer without torch gave the loaded model's own features."""


def existing(cache: Path, key: str) -> Exported | None:
    """The cached graph for ``key`` when it is valid and known to take torch-free features."""
    final = cache / "onnx" / key
    if not (final / TEXT_FEATURES).is_file() or not valid(final):
        return None
    return Exported(final / GRAPH, _read_inputs(final))


def mark_text_features(exported: Exported) -> None:
    """Record that the torch-free tokenizer gives this graph's model its own features."""
    with contextlib.suppress(OSError):  # a read-only cache: the next process checks again
        (exported.path.parent / TEXT_FEATURES).write_text("checked against the model\n")


def versions() -> dict[str, str]:
    """What the graph depends on besides the model's files, read without importing any of it."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "onnxruntime", "sentence-transformers", "transformers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def graph(cache: Path | None, key: str, model: Any, sample: dict[str, Any]) -> Exported:
    """The graph, in the cache, or for this process alone when the cache cannot be written."""
    where = cache or default_cache_dir()
    try:
        return cached_graph(where, key, model, sample)
    except OSError as exc:
        log.warning(
            "cannot use the ONNX cache at %s (%s): exporting into a temporary directory for "
            "this process (set cache_dir to a writable place to keep it)",
            where,
            exc.strerror or exc,
        )
    scratch = Path(tempfile.mkdtemp(prefix="vecstore-onnx-"))
    atexit.register(shutil.rmtree, scratch, True)
    try:
        return cached_graph(scratch, key, model, sample)
    except OSError as exc:
        raise ConfigError(f"cannot export the ONNX graph anywhere: {exc}") from exc
