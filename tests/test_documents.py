"""Documents stored whole as chunks: exact text back, re-indexed chunk by chunk, found as documents.

The hashing encoder counts words (and two special tokens) for chunking, 256 to a chunk.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_collection
from vecstore import Collection, HashEncoder, InvalidInput, load_settings
from vecstore.adapters.numpy import NumpyBackend
from vecstore.chunking import word_count

REPO = Path(__file__).resolve().parents[1]


def paragraph(doc: int, i: int) -> str:
    words = " ".join(f"w{(doc * 31 + i * 7 + k) % 97}" for k in range(40))
    return f"Document {doc}, part {i}: {words}; the topic is {(doc + i) % 5}."


def document(doc: int, parts: int = 30) -> str:
    return "\n\n".join(paragraph(doc, i) for i in range(parts)) + "\n"


def chunk_ids(col: Collection) -> set[str]:
    return {r.id for batch in col.scan() for r in batch}


def test_a_document_comes_back_exactly_and_every_chunk_fits(col: Collection) -> None:
    text = "  Leading space.\n\n" + document(1) + "\n\n\tTrailing tab and spaces.  \n"
    report = col.upsert_documents([text], ids=["d1"], metadata=[{"lang": "en"}])
    assert report.documents == 1 and report.chunks == report.encoded > 1
    found = col.get_document("d1")
    assert found is not None and found.text == text and found.metadata == {"lang": "en"}
    assert [c.document_id for c in found.chunks] == ["d1"] * report.chunks
    for chunk in found.chunks:
        assert chunk.span is not None and text[chunk.span[0] : chunk.span[1]] == chunk.text
        assert word_count(chunk.text or "") <= 256 and chunk.metadata == {"lang": "en"}
    assert col.count() == report.chunks and col.get_document("nope") is None


def test_an_edit_re_encodes_the_chunks_around_it(col: Collection) -> None:
    texts = [document(d) for d in range(10)]
    first = col.upsert_documents(texts, ids=[f"d{d}" for d in range(10)])
    again = col.upsert_documents(texts, ids=[f"d{d}" for d in range(10)])
    assert again.encoded == again.metadata_only == again.deleted == 0
    assert again.unchanged == first.chunks
    edited = list(texts)
    edited[3] = edited[3].replace(paragraph(3, 15), "An edited paragraph, shorter.")
    report = col.upsert_documents(edited, ids=[f"d{d}" for d in range(10)])
    assert 1 <= report.encoded <= 2 and 1 <= report.deleted <= 3  # the edited section's
    assert report.unchanged + report.metadata_only + report.encoded == report.chunks
    assert col.get_document("d3").text == edited[3]  # type: ignore[union-attr]
    assert col.count() == report.chunks
    retagged = col.upsert_documents(
        edited, ids=[f"d{d}" for d in range(10)], metadata=[{"v": 2}] * 10
    )
    assert retagged.encoded == 0 and retagged.metadata_only == report.chunks
    assert {h.metadata["v"] for h in col.query("w5 w6", top_k=5)} == {2}


def test_a_shorter_document_leaves_no_chunk_behind(col: Collection) -> None:
    col.upsert_documents([document(2, 40)], ids=["d"])
    report = col.upsert_documents([document(2, 5)], ids=["d"])
    assert report.deleted > 0 and col.count() == report.chunks
    assert col.get_document("d").text == document(2, 5)  # type: ignore[union-attr]
    col.delete_documents(["d", "unknown"])
    assert col.count() == 0 and col.get_document("d") is None


def test_ids_derive_from_the_text(col: Collection) -> None:
    col.upsert_documents([document(4)])
    (hit,) = col.query("Document 4 part 3", top_k=1)
    assert hit.document_id is not None and col.get_document(hit.document_id) is not None
    col.upsert_documents([document(4)])  # the same text: the same id, nothing new
    assert len({h.document_id for h in col.query("w1", top_k=50)}) == 1


def test_grouped_queries_give_each_document_once_at_its_best_chunk(col: Collection) -> None:
    col.upsert_documents([document(d, 12) for d in range(8)], ids=[f"d{d}" for d in range(8)])
    col.upsert(["a plain record about the topic 3 and w7"], ids=["plain"])
    for search in ("dense", "keyword", "hybrid"):
        grouped = col.query("the topic is 3 w7", top_k=4, group_by="document", search=search)
        ranking = col.query("the topic is 3 w7", top_k=500, search=search)
        first: list[str] = []
        for hit in ranking:
            key = hit.document_id or hit.id
            if key not in first:
                first.append(key)
        assert [h.document_id or h.id for h in grouped] == first[:4], search
        assert len(grouped) == 4
    floor = col.query("the topic is 3 w7", top_k=8, group_by="document", min_score=0.3)
    assert all(h.score >= 0.3 for h in floor)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.query("x", group_by="page"), "group_by"),
        (lambda c: c.query("x", group_by="document", mmr=0.5), "group_by"),
        (lambda c: c.upsert_documents(["a text", "b text"], ids=["same", "same"]), "id"),
        (lambda c: c.upsert_documents([42]), "text"),
        (lambda c: c.upsert_documents(["  \n\t "]), "text"),
        (lambda c: c.upsert_documents(["text"], metadata=[{"_vecstore_doc": "x"}]), None),
        (lambda c: c.upsert_documents("one string, not a list"), "texts"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    col: Collection, call: Any, field: str | None
) -> None:
    col.upsert_documents([document(0, 3)], ids=["kept"])
    before = chunk_ids(col)
    with pytest.raises(InvalidInput) as info:
        call(col)
    if field is not None:
        assert info.value.field == field
    assert chunk_ids(col) == before


def test_a_document_over_the_size_limit_is_refused_whole(tmp_path: Path) -> None:
    settings = load_settings(chunking={"max_chars": 1000})
    col = Collection(
        "big",
        backend=NumpyBackend("big", path=tmp_path),
        encoder=HashEncoder(16),
        settings=settings,
    )
    with pytest.raises(InvalidInput, match="over chunking.max_chars") as info:
        col.upsert_documents(["fits", "x " * 600], ids=["a", "b"])
    assert info.value.record == "b" and col.count() == 0
    col.close()


def test_async_twins(col: Collection) -> None:
    async def go() -> Any:
        await col.aupsert_documents([document(5, 4)], ids=["a"])
        found = await col.aget_document("a")
        await col.adelete_documents(["a"])
        return found

    found = asyncio.run(go())
    assert found is not None and found.text == document(5, 4) and col.count() == 0


KILLED = """
import os, sys, time
from pathlib import Path
from tests.conftest import make_collection
from tests.test_documents import document
col = make_collection(Path({path!r}))
store = col.store
point = {point!r}
def stop_after(name):
    real = getattr(store, name)
    def wrapped(*args, **kwargs):
        out = real(*args, **kwargs)
        print("reached", flush=True)
        time.sleep(60)
        return out
    setattr(store, name, wrapped)
stop_after(point)
col.upsert_documents([{text!r}], ids=["d"])
"""


@pytest.mark.parametrize("point", ["upsert", "update_metadata", "delete"])
def test_a_killed_re_index_is_finished_by_the_same_call(store_path: Path, point: str) -> None:
    old = document(7, 40)
    new = old.replace(paragraph(7, 20), "A new paragraph in the middle.")[: len(old) - 2000]
    col = make_collection(store_path)
    col.upsert_documents([old], ids=["d"])
    col.close()
    script = KILLED.format(path=str(store_path), point=point, text=new)
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "reached"
        os.kill(proc.pid, signal.SIGKILL)
    col = make_collection(store_path)
    meanwhile = col.get_document("d")
    assert meanwhile is not None and meanwhile.text in (old, new)  # a whole version
    report = col.upsert_documents([new], ids=["d"])
    found = col.get_document("d")
    assert found is not None and found.text == new
    assert chunk_ids(col) == {c.id for c in found.chunks} and col.count() == report.chunks
    col.close()


def test_ingest_stores_documents_and_counts_them(col: Collection) -> None:
    rows = [{"id": f"d{d}", "text": document(d, 10), "lang": "en"} for d in range(5)]
    rows.append({"id": "bad", "text": "   "})
    report = col.ingest(rows, documents=True, quiet=True)
    assert report.documents == 5 and report.failed == 1 and report.chunks == col.count()
    assert report.encoded == report.chunks == report.written
    assert col.get_document("d2").text == document(2, 10)  # type: ignore[union-attr]
    again = col.ingest(rows[:5], documents=True, quiet=True)
    assert again.encoded == 0 and again.unchanged == report.chunks
    with pytest.raises(InvalidInput, match="documents=True takes no source_tag"):
        col.ingest(rows, documents=True, source_tag="s", sync=True)


def test_the_cli_ingests_finds_and_gets_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from vecstore.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VECSTORE_MODEL", "hash:16")
    monkeypatch.setenv("VECSTORE_NUMPY__PATH", str(tmp_path / "store"))
    data = tmp_path / "docs.jsonl"
    data.write_text(
        "".join(json.dumps({"id": f"d{d}", "text": document(d, 8)}) + "\n" for d in range(4))
    )
    assert main(["ingest", str(data), "--documents", "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["documents"] == 4 and report["chunks"] > 4
    assert main(["query", "topic 2 w5", "--group-by", "document", "--top-k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len({h["document_id"] for h in hits}) == 3
    for hit in hits:
        start, end = hit["span"]
        assert document(int(hit["document_id"][1:]), 8)[start:end] == hit["text"]
    assert main(["query", "topic 2 w5", "--group-by", "document"]) == 0
    assert "document" in capsys.readouterr().out.splitlines()[0]
    assert main(["get", "--document", "d1", "nope", "--json"]) == 1
    out, err = capsys.readouterr()
    (doc,) = json.loads(out)
    assert doc["text"] == document(1, 8) and "nope" in err
    assert main(["query", "x", "--group-by", "page"]) == 1
    assert "group_by must be 'document'" in capsys.readouterr().err
