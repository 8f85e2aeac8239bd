"""Queries without torch: the model's tokenizer files and its exported graph, nothing else.

Real text: the standard library's docstrings (benchmarks/real_text.py), which nobody on the
project wrote, and long texts made of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.real_text import summaries
from vecstore import Collection, SentenceTransformerEncoder, load_settings
from vecstore.model_files import local_directory
from vecstore.text_tokens import text_tokenizer

TEXTS = summaries(400)
LONG = " ".join(summaries(8000))  # about a megabyte of real text


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX cache whose graph was exported (and its torch-free tokenizer checked)."""
    where = tmp_path_factory.mktemp("onnx-cache")
    SentenceTransformerEncoder(runtime="onnx", precision="fp32", cache_dir=where).encode(["x"])
    return where


def test_the_tokenizer_files_give_the_models_own_features(
    minilm: SentenceTransformerEncoder,
) -> None:
    directory = local_directory(minilm._location())
    assert directory is not None
    tokenizer = text_tokenizer(directory)
    assert tokenizer is not None and tokenizer.max_length == minilm.model.max_seq_length == 256
    for prompt in ("", "query: "):
        for start in range(0, len(TEXTS), 100):
            batch = [*TEXTS[start : start + 100], LONG[:5000]]
            ours = tokenizer.features(batch, prompt)
            theirs = minilm.model.preprocess(batch, prompt=prompt or None)
            for name in ("input_ids", "attention_mask", "token_type_ids"):
                assert np.array_equal(ours[name], theirs[name].numpy()), (name, start)


def test_torch_free_vectors_are_the_models(cache: Path, minilm: SentenceTransformerEncoder) -> None:
    light = SentenceTransformerEncoder(precision="fp32", cache_dir=cache)
    got = light.encode_queries(TEXTS)
    assert light.torch_free
    full = SentenceTransformerEncoder(runtime="onnx", precision="fp32", cache_dir=cache)
    assert np.array_equal(got, full.encode_queries(TEXTS))  # the same graph, the same features
    want = minilm.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert float((got * want).sum(axis=1).min()) >= 0.99999  # sentence-transformers' fp32


def test_a_long_text_is_read_only_as_far_as_the_model_reads(cache: Path) -> None:
    enc = SentenceTransformerEncoder(precision="fp32", cache_dir=cache)
    before = enc.truncated_total
    cut = enc.encode_documents([LONG])
    assert enc.truncated_total - before == 1  # counted exactly
    assert enc.torch_free
    runner = enc._light_runner
    assert runner is not None
    uncut = runner.encode([LONG], enc.document_prompt)  # tokenised whole, truncated by tokens
    assert np.array_equal(cut, uncut)
    parts, over = enc.readable([LONG, TEXTS[0]])
    assert over == 1 and len(parts[0]) < 20_000 and parts[1] == TEXTS[0]


QUERY_SCRIPT = """
import json, sys
from vecstore.cli import main
status = main(sys.argv[1:])
heavy = [m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules]
print(json.dumps({"status": status, "heavy": heavy}), file=sys.stderr)
"""


@pytest.mark.parametrize("search", ["dense", "keyword", "hybrid"])
def test_a_query_process_loads_no_torch(cache: Path, tmp_path: Path, search: str) -> None:
    settings = load_settings(cache_dir=str(cache), numpy={"path": str(tmp_path / "store")})
    with Collection("docs", settings=settings) as col:
        col.upsert(TEXTS[:200], ids=[f"d{i}" for i in range(200)])
        want = [h.id for h in col.query(TEXTS[7], top_k=5, search=search)]
    env = {**os.environ, "VECSTORE_CACHE_DIR": str(cache)}
    env["VECSTORE_NUMPY__PATH"] = str(tmp_path / "store")
    env.pop("VECSTORE_MODEL", None)
    argv = ["query", TEXTS[7], "--collection", "docs", "--search", search, "--json"]
    proc = subprocess.run(
        [sys.executable, "-c", QUERY_SCRIPT, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    last = json.loads(proc.stderr.strip().splitlines()[-1])
    assert last == {"status": 0, "heavy": []}, proc.stderr
    assert [h["id"] for h in json.loads(proc.stdout)] == want


INFO_SCRIPT = """
import json, sys
import vecstore
col = vecstore.open_collection("info-check")
facts = col.describe()
heavy = [m for m in ("torch", "sentence_transformers") if m in sys.modules]
print(json.dumps({"max": facts["max_seq_length"], "encoder": facts["encoder"], "heavy": heavy}))
"""


def test_info_tells_the_model_limit_and_runtime_without_loading_it(tmp_path: Path) -> None:
    env = {**os.environ, "VECSTORE_NUMPY__PATH": str(tmp_path / "store")}
    env.pop("VECSTORE_MODEL", None)
    proc = subprocess.run(
        [sys.executable, "-c", INFO_SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["max"] == 256 and found["heavy"] == []
    assert "onnx fp32" in found["encoder"] or "torch" in found["encoder"]
