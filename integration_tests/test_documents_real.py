"""Documents with the real model: every chunk within what it reads, counted by its tokenizer."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from benchmarks.real_text import summaries
from vecstore import Collection, SentenceTransformerEncoder
from vecstore.adapters.numpy import NumpyBackend


def test_chunks_fit_the_model_and_nothing_is_truncated(
    tmp_path: Path, minilm: SentenceTransformerEncoder
) -> None:
    parts = summaries(900)
    texts = ["\n\n".join(parts[i : i + 300]) for i in range(0, 900, 300)]
    col = Collection("real", backend=NumpyBackend("real", path=tmp_path), encoder=minilm)
    before = minilm.truncated_total
    report = col.upsert_documents(texts, ids=["a", "b", "c"])
    assert minilm.truncated_total == before  # no chunk was cut by the model
    tokenizer = minilm.model.tokenizer
    for doc_id, text in zip("abc", texts, strict=True):
        found = col.get_document(doc_id)
        assert found is not None and found.text == text
        lengths = [len(tokenizer(c.text)["input_ids"]) for c in found.chunks]
        assert max(lengths) <= 256 and sum(lengths) > 256 * 3
    assert report.chunks == col.count()
    hits = col.query(parts[450], top_k=3, group_by="document")
    assert hits[0].document_id == "b" and hits[0].span is not None
    col.close()


def test_the_records_path_counts_truncated_texts_and_warns_once(
    tmp_path: Path, minilm: SentenceTransformerEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    long_text = " ".join(summaries(300))
    rows = [{"id": f"r{i}", "text": long_text + f" {i}"} for i in range(3)]
    rows += [{"id": "short", "text": "a short text"}]
    col = Collection("trunc", backend=NumpyBackend("trunc", path=tmp_path), encoder=minilm)
    with caplog.at_level(logging.WARNING, logger="vecstore"):
        report = col.ingest(rows, window=2, quiet=True)
    assert report.truncated == 3 and report.written == 4
    warned = [r for r in caplog.records if "longer than" in r.getMessage()]
    assert len(warned) == 1 and "documents=True" in warned[0].getMessage()
    col.close()
