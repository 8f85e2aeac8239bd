"""The encoder on ONNX Runtime: the model's own vectors, cached graphs, chosen automatically.

The reference is sentence-transformers' own fp32 encode on torch; real text is the standard
library's docstrings (benchmarks/real_text.py), which nobody on the project wrote.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.real_text import summaries
from vecstore import Collection, ConfigError, SentenceTransformerEncoder, load_settings, onnx_export
from vecstore.errors import InvalidInput
from vecstore.hardware import resolve_runtime

TEXTS = summaries(600)


@pytest.fixture(scope="module")
def reference() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(runtime="torch", precision="fp32")


def onnx_encoder(cache: Path, **kwargs: Any) -> SentenceTransformerEncoder:
    """The ONNX path, in fp32 (what it runs in) on any CPU, native bf16 or not."""
    return SentenceTransformerEncoder(runtime="onnx", precision="fp32", cache_dir=cache, **kwargs)


def graph_dirs(cache: Path) -> list[Path]:
    """The cache's exported graphs (beside them: locks and the memo of file digests)."""
    return [p for p in (cache / "onnx").iterdir() if p.is_dir() and p.name != "digests"]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_onnx_agrees_with_sentence_transformers_on_real_text(
    tmp_path: Path, reference: SentenceTransformerEncoder
) -> None:
    enc = onnx_encoder(tmp_path)
    got = enc.encode(TEXTS)
    assert enc.runtime == "onnx" and enc.precision == "fp32"
    want = reference.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert cosines(got, want).min() >= 0.9999
    # truncated exactly where sentence-transformers truncates: a 20,000-character text
    long = ("The quick brown fox jumps over the lazy dog. " * 460)[:20_000]
    assert len(long) == 20_000
    one = reference.model.encode([long], normalize_embeddings=True, convert_to_numpy=True)
    assert float(cosines(enc.encode([long]), one)[0]) >= 0.9999
    assert enc.encode([TEXTS[0]]).shape == (1, 384)  # a batch of one


def test_auto_takes_onnx_on_a_cpu_without_native_bf16(tmp_path: Path) -> None:
    enc = SentenceTransformerEncoder(cache_dir=tmp_path)
    enc.encode(["x y z"])
    from vecstore.hardware import detect_hardware

    expected = "torch" if detect_hardware().cpu_bf16 else "onnx"
    assert enc.runtime == expected


def test_the_graph_is_cached_reused_and_rebuilt_when_damaged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = onnx_encoder(tmp_path)
    want = first.encode(TEXTS[:20])
    (graph_dir,) = graph_dirs(tmp_path)
    graph = graph_dir / onnx_export.GRAPH
    stamp = graph.stat().st_mtime_ns
    second = onnx_encoder(tmp_path)
    np.testing.assert_allclose(second.encode(TEXTS[:20]), want, atol=1e-6)
    assert graph.stat().st_mtime_ns == stamp  # reused, not exported again
    assert list((tmp_path / "onnx" / "digests").iterdir())  # a warm open hashes nothing
    for damage in ("truncate", "edit", "edit, times put back"):
        raw, before = graph.read_bytes(), graph.stat()
        graph.write_bytes(raw[: len(raw) // 2] if damage == "truncate" else raw[:-8] + b"XXXXXXXX")
        if damage == "edit, times put back":  # size and mtime as recorded: the ctime still tells
            os.utime(graph, ns=(before.st_atime_ns, before.st_mtime_ns))
        with caplog.at_level(logging.WARNING, logger="vecstore.onnx_export"):
            again = onnx_encoder(tmp_path)
            np.testing.assert_allclose(again.encode(TEXTS[:20]), want, atol=1e-6)
        assert "rebuilding the damaged ONNX graph" in caplog.text
        assert onnx_export.valid(graph_dir)
        caplog.clear()


def _export_in_a_process(cache: str) -> str:
    enc = SentenceTransformerEncoder(runtime="onnx", precision="fp32", cache_dir=cache)
    return str(enc.encode(["one text, several exporters"])[0][:4])


def test_processes_exporting_at_once_end_with_one_valid_graph(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        results = pool.map(_export_in_a_process, [str(tmp_path)] * 3)
    assert len(set(results)) == 1
    entries = sorted(p.name for p in (tmp_path / "onnx").iterdir())
    graphs = graph_dirs(tmp_path)
    assert len(graphs) == 1 and onnx_export.valid(graphs[0]), entries
    assert not [e for e in entries if e.endswith(".tmp")]  # nothing half-written left


def test_a_cache_that_cannot_be_written_falls_back_to_a_temporary_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, reference: SentenceTransformerEncoder
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "onnx").write_text("a file where the cache's folder should be")  # unwritable there
    with caplog.at_level(logging.WARNING, logger="vecstore.onnx_export"):
        enc = onnx_encoder(cache)
        got = enc.encode(TEXTS[:10])
    assert enc.runtime == "onnx"
    assert caplog.text.count("cannot use the ONNX cache") == 1
    want = reference.model.encode(TEXTS[:10], normalize_embeddings=True, convert_to_numpy=True)
    assert cosines(got, want).min() >= 0.9999


@pytest.mark.parametrize("runtime", ["onnx", "auto"])
def test_a_full_cache_disk(
    small_disk: Path,
    runtime: str,
    caplog: pytest.LogCaptureFixture,
    reference: SentenceTransformerEncoder,
) -> None:
    """A graph does not fit on a 2 MiB disk: exported into a temporary directory instead."""
    with caplog.at_level(logging.WARNING, logger="vecstore"):
        enc = SentenceTransformerEncoder(runtime=runtime, precision="fp32", cache_dir=small_disk)
        got = enc.encode(TEXTS[:10])
    assert enc.runtime == "onnx"
    assert caplog.text.count("No space left") == 1, caplog.text
    want = reference.model.encode(TEXTS[:10], normalize_embeddings=True, convert_to_numpy=True)
    assert cosines(got, want).min() >= 0.9999
    left = [p for p in (small_disk / "onnx").rglob("*") if p.is_file()]
    assert all(p.suffix == ".lock" or p.parent.name == "digests" for p in left), left
    assert not [p for p in left if p.suffix == ".tmp"]  # nothing half-written for the next


def test_a_read_only_cache_disk(
    small_disk: Path, caplog: pytest.LogCaptureFixture, reference: SentenceTransformerEncoder
) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with caplog.at_level(logging.WARNING, logger="vecstore"):
        enc = onnx_encoder(small_disk)
        got = enc.encode(TEXTS[:10])
    assert caplog.text.count("Read-only file system") == 1, caplog.text
    want = reference.model.encode(TEXTS[:10], normalize_embeddings=True, convert_to_numpy=True)
    assert cosines(got, want).min() >= 0.9999


def test_empty_and_blank_batches_keep_their_errors(tmp_path: Path) -> None:
    enc = onnx_encoder(tmp_path)
    assert enc.encode([]).shape == (0, 384)
    s = load_settings(
        runtime="onnx",
        precision="fp32",
        cache_dir=str(tmp_path),
        numpy={"path": str(tmp_path / "s")},
    )
    with Collection("blank", settings=s) as col:
        assert col.upsert([]) == []
        with pytest.raises(InvalidInput, match="empty or whitespace") as info:
            col.upsert(["fine", " \t\n "], ids=["a", "b"])
        assert info.value.record == "b" and info.value.field == "text"
        with pytest.raises(InvalidInput, match="empty or whitespace"):
            col.query("   ")
        assert col.count() == 0
        assert col.encoder.runtime == "onnx"  # type: ignore[attr-defined]


def test_explicit_onnx_where_it_cannot_run_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="runs in fp32"):
        resolve_runtime("onnx", "cpu", "bf16", True)
    with pytest.raises(ConfigError, match="runs on the CPU"):
        resolve_runtime("onnx", "cuda:0", "fp16", True)
    with pytest.raises(ConfigError, match="pip install onnxruntime"):
        resolve_runtime("onnx", "cpu", "fp32", False)
    assert resolve_runtime("auto", "cpu", "fp32", False) == "torch"
    assert resolve_runtime("auto", "cuda", "fp16", True) == "torch"


def test_a_model_the_export_cannot_handle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*args: Any) -> tuple[str, ...]:
        raise onnx_export.ExportUnsupported("cannot be exported (a module of its own)")

    monkeypatch.setattr(onnx_export, "export", refuse)
    with caplog.at_level(logging.WARNING, logger="vecstore.st_encoder"):
        auto = SentenceTransformerEncoder(cache_dir=tmp_path, precision="fp32")
        assert auto.encode(["falls back"]).shape == (1, 384)
    assert auto.runtime == "torch" and caplog.text.count("runs on torch") == 1
    with pytest.raises(ConfigError, match="runtime 'onnx'.*cannot be exported"):
        onnx_encoder(tmp_path).encode(["refused"])


def test_switching_runtime_re_encodes_nothing(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "text": t} for i, t in enumerate(TEXTS[:50])]
    for runtime in ("torch", "onnx", "auto", "torch"):
        s = load_settings(
            runtime=runtime,
            precision="fp32",
            cache_dir=str(tmp_path / "c"),
            numpy={"path": str(tmp_path / "store")},
        )
        with Collection("switch", settings=s) as col:
            report = col.ingest(rows)
            assert report.encoded == (50 if runtime == "torch" and report.unchanged == 0 else 0)
            assert col.count() == 50


def test_main_job_in_a_fresh_process_uses_onnx(tmp_path: Path) -> None:
    """What a fresh clone's main job does here: encode on the ONNX path, no hub."""
    script = (
        "import vecstore\n"
        "col = vecstore.open_collection('fresh')\n"
        "col.upsert(['a first text', 'a second text'])\n"
        "print(col.encoder.runtime)\n"
    )
    env = {**os.environ, "VECSTORE_NUMPY__PATH": str(tmp_path / "store")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    env.pop("VECSTORE_MODEL", None)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    from vecstore.hardware import detect_hardware

    assert proc.returncode == 0, proc.stderr
    bf16 = detect_hardware().cpu_bf16
    assert proc.stdout.strip() == ("torch" if bf16 else "onnx")
    if not bf16:  # on a CPU with native bf16 the documents go to torch, and nothing is exported
        assert json.dumps(sorted(os.listdir(tmp_path / "xdg" / "vecstore" / "onnx")))
