"""Retrieval beyond one cosine: keyword and hybrid first stages, score floors, MMR, reranking.

One query runs in up to three steps, every one under the same ``where`` filter:

1. **First stage.** ``"dense"``: the store's cosine top k. ``"keyword"``: the store's BM25
   top k (:mod:`vecstore.keywords`; refused with ``CapabilityError`` where the store cannot
   rank it). ``"hybrid"``: the dense and keyword top ``fetch_k`` each, fused by reciprocal rank
   fusion, ``sum_side 1 / (rrf_k + rank / weight)`` with ranks from 1 (a side weighted 0
   adds nothing). This is Qdrant's weighted RRF (its ``k`` is ``rrf_k + 1``), computed as it
   computes it, so that a store that fuses server-side (Qdrant) ranks alike. Equal fused
   scores keep the better dense rank first, then the better keyword rank. A query with no
   keyword tokens ranks by dense alone (``rank_by="hybrid:dense"``).
   When a second step follows, the first stage keeps ``fetch_k`` candidates, else ``top_k``:
   the candidates are exactly the hits of the same query with ``top_k=fetch_k`` (a hybrid
   one fuses sides as deep as that query's, :attr:`Plan.depth`).
2. **Floor.** ``min_score`` drops candidates whose cosine is below it. On a dense search
   this is exactly the top k with the rest cut.
3. **Second step** (one of them): ``mmr=λ`` picks ``top_k`` by maximal marginal relevance,
   ``λ·cos(q, d) − (1 − λ)·max cos(d, picked)`` on the stored vectors, first the most similar
   (the same selection as LangChain's ``maximal_marginal_relevance`` over the candidates in
   first-stage order); ``rerank=`` orders the candidates by a cross-encoder's score
   (:mod:`vecstore.rerank`), equal scores in first-stage order.

``Hit.score`` is always the cosine of the record to the query; ``rank_score`` and ``rank_by``
say what ordered the hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from vecstore import keywords
from vecstore.adapters.base import Fusion, fused_order
from vecstore.errors import CapabilityError, InvalidInput
from vecstore.filters import Filter
from vecstore.records import Hit, Vectors
from vecstore.reserved import DOCUMENT_KEY

if TYPE_CHECKING:
    from vecstore.rerank import Rerankers, Scorer
    from vecstore.retry import RetryingBackend

SEARCHES = ("dense", "keyword", "hybrid")
GROUPS = (None, "document")
GROUP_DEPTH = 4
"""A grouped query first asks for this many times the documents it wants, deeper as needed."""
RRF_K = 60
MIN_FETCH = 20


@dataclass(frozen=True, slots=True)
class Plan:
    """A query's options, checked (see :func:`plan`)."""

    top_k: int
    search: str
    min_score: float | None
    mmr: float | None
    fetch_k: int
    rerank: Any
    rrf_k: int
    weights: tuple[float, float]
    group_by: str | None = None

    @property
    def second_step(self) -> bool:
        """Whether candidates go on to MMR or a reranker."""
        return self.mmr is not None or self.rerank is not None

    @property
    def pool(self) -> int:
        """How many candidates the first stage keeps."""
        return self.fetch_k if self.second_step else self.top_k

    @property
    def depth(self) -> int:
        """How deep each side of a hybrid first stage goes before fusion.

        ``fetch_k`` for a one-stage query. A two-stage query's candidates are exactly the hits
        of the same query with ``top_k=fetch_k``, whose sides go as deep as its default
        ``fetch_k``: the best ``fetch_k`` hybrid candidates, not the fusion of shallower sides.
        """
        return default_fetch(self.fetch_k) if self.second_step else self.fetch_k


def default_fetch(top_k: int) -> int:
    """``fetch_k`` when none is given: how many candidates a query of ``top_k`` considers."""
    return max(MIN_FETCH, 4 * top_k)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidInput(f"{name} must be a number, got {value!r}", field=name)
    out = float(value)
    if not np.isfinite(out):
        raise InvalidInput(f"{name} must be finite, got {value!r}", field=name)
    return out


def _count(value: Any, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
        raise InvalidInput(f"{name} must be an int >= {least}, got {value!r}", field=name)
    return int(value)


def plan(
    top_k: int,
    search: Any = "dense",
    min_score: Any = None,
    mmr: Any = None,
    fetch_k: Any = None,
    rerank: Any = None,
    rrf_k: Any = RRF_K,
    weights: Any = None,
    group_by: Any = None,
) -> Plan:
    """Check a query's options before any I/O; each bad one is ``InvalidInput`` naming it."""
    if search not in SEARCHES:
        raise InvalidInput(
            f"search must be one of {', '.join(SEARCHES)}, got {search!r}", field="search"
        )
    if min_score is not None:
        min_score = _number(min_score, "min_score")
        if not -1.0 <= min_score <= 1.0:
            raise InvalidInput(f"min_score must be in [-1, 1], got {min_score}", field="min_score")
    if mmr is not None:
        mmr = _number(mmr, "mmr")
        if not 0.0 <= mmr <= 1.0:
            raise InvalidInput(f"mmr (lambda) must be in [0, 1], got {mmr}", field="mmr")
    if mmr is not None and rerank is not None:
        raise InvalidInput("give mmr or rerank, not both: each orders the final hits", field="mmr")
    if fetch_k is None:
        fetch_k = default_fetch(top_k)
    else:
        fetch_k = _count(fetch_k, "fetch_k", 1)
        if fetch_k < top_k:
            raise InvalidInput(f"fetch_k ({fetch_k}) must be >= top_k ({top_k})", field="fetch_k")
    rrf_k = _count(rrf_k, "rrf_k", 0)
    pair = _weights(weights)
    _check_group(group_by, mmr)
    return Plan(top_k, search, min_score, mmr, fetch_k, rerank, rrf_k, pair, group_by)


def _weights(weights: Any) -> tuple[float, float]:
    if weights is None:
        return (1.0, 1.0)
    if not isinstance(weights, Sequence) or isinstance(weights, str) or len(weights) != 2:
        raise InvalidInput(f"weights is (dense, keyword), got {weights!r}", field="weights")
    pair = (_number(weights[0], "weights"), _number(weights[1], "weights"))
    if min(pair) < 0 or max(pair) == 0:
        raise InvalidInput(f"weights must be >= 0 and not both 0, got {weights!r}", field="weights")
    return pair


def _check_group(group_by: Any, mmr: float | None) -> None:
    if group_by not in GROUPS:
        raise InvalidInput(
            f"group_by must be 'document' or None, got {group_by!r}", field="group_by"
        )
    if group_by is not None and mmr is not None:
        raise InvalidInput(
            "mmr with group_by is refused: diversity among a document's chunks and among "
            "documents differ; group, then rerank, or use mmr on chunks",
            field="group_by",
        )


def query_text(query: Any, p: Plan, backend: RetryingBackend, store: str) -> str | None:
    """The query's text (None for a vector), after refusing what cannot run, before any I/O."""
    if p.search != "dense" and backend.abilities.keyword is None:
        why = backend.capabilities.no_keywords
        raise CapabilityError(
            f"the {store} store cannot rank by keywords{f' ({why})' if why else ''}, so "
            f"{p.search} search is refused; dense search, mmr, min_score and rerank work on "
            "every store"
        )
    if isinstance(query, str):
        return query
    if p.search != "dense":
        raise InvalidInput(f"search={p.search!r} needs a query text", field="search")
    if p.rerank is not None:
        raise InvalidInput("rerank needs a query text", field="rerank")
    return None


def _cosine(hit: Hit, q: Vectors) -> float:
    if hit.vector is None:  # a store that did not return the vector asked for
        raise CapabilityError("the store returned a keyword hit without its vector")
    return float(min(1.0, max(-1.0, float(np.dot(hit.vector, q)))))


def _dense(
    backend: RetryingBackend, vector: Vectors, n: int, where: Filter | None, vectors: bool
) -> list[Hit]:
    found = backend.query(vector, n, where, with_vectors=vectors)[0]
    return [Hit(h.id, h.score, h.text, h.metadata, h.vector, h.score, "dense") for h in found]


def _keyword(
    backend: RetryingBackend, terms: keywords.Terms, q: Vectors, n: int, where: Filter | None
) -> list[Hit]:
    store = backend.abilities.keyword
    if store is None:  # refused before any I/O (query_text); a store that lost it since
        raise CapabilityError("the store cannot rank by keywords")
    found = store.keyword_query(terms, n, where, with_vectors=True)
    return [
        Hit(h.id, _cosine(h, q), h.text, h.metadata, h.vector, h.score, "keyword") for h in found
    ]


def fuse(
    dense: Sequence[Hit], keyword: Sequence[Hit], rrf_k: int, weights: tuple[float, float]
) -> list[Hit]:
    """Reciprocal rank fusion of two rankings of hits, best first (each hit as first seen)."""
    first: dict[str, Hit] = {}
    for h in [*dense, *keyword]:
        first.setdefault(h.id, h)
    out = []
    for rid, score in fused_order([h.id for h in dense], [h.id for h in keyword], rrf_k, weights):
        h = first[rid]
        out.append(Hit(h.id, h.score, h.text, h.metadata, h.vector, score, "hybrid"))
    return out


def first_stage(
    backend: RetryingBackend,
    p: Plan,
    vector: Vectors,
    text: str | None,
    where: Filter | None,
    vectors: bool,
) -> list[Hit]:
    """The candidates, in first-stage order (module docstring); ``vectors``: with theirs."""
    vectors = vectors or p.mmr is not None
    if p.search == "dense":
        return _dense(backend, vector, p.pool, where, vectors)
    assert text is not None
    terms = keywords.query_terms(text)
    q = vector[0]
    if p.search == "keyword":
        return _keyword(backend, terms, q, p.pool, where) if len(terms) else []
    if not len(terms):
        return [
            Hit(h.id, h.score, h.text, h.metadata, h.vector, h.score, "hybrid:dense")
            for h in _dense(backend, vector, p.pool, where, vectors)
        ]
    fuser = backend.abilities.hybrid
    if fuser is not None:  # the store fuses the two rankings in one request
        fusion = Fusion(p.depth, p.pool, p.rrf_k, p.weights)
        found = fuser.hybrid_query(vector, terms, where, fusion)
        return [
            Hit(h.id, _cosine(h, q), h.text, h.metadata, h.vector, h.score, "hybrid") for h in found
        ]
    dense = _dense(backend, vector, p.depth, where, vectors)
    keyword = _keyword(backend, terms, q, p.depth, where)
    return fuse(dense, keyword, p.rrf_k, p.weights)[: p.pool]


def grouped_stage(
    backend: RetryingBackend,
    p: Plan,
    vector: Vectors,
    text: str | None,
    where: Filter | None,
    vectors: bool,
) -> list[Hit]:
    """The best ``pool`` documents, each as its best chunk's hit, in first-stage order.

    The chunks are ranked as the first stage ranks them, deeper each round (x4) until that many
    distinct documents are found or the store has no more: the first chunk of each document in
    a ranking is its best, and a document not in the ranking has no chunk above its end, so on
    a store that searches exactly the answer is exact. A record not cut from a document is a
    group of its own. A store that groups natively does it for dense search in one request.
    """
    want = p.pool
    grouper = backend.abilities.grouped
    if p.search == "dense" and grouper is not None:  # the store groups (Qdrant)
        found = grouper.grouped_query(vector, want, DOCUMENT_KEY, where, vectors)
        return [Hit(h.id, h.score, h.text, h.metadata, h.vector, h.score, "dense") for h in found]
    depth = max(want * GROUP_DEPTH, MIN_FETCH)
    while True:
        deep = replace(p, top_k=depth, mmr=None, rerank=None, fetch_k=default_fetch(depth))
        hits = first_stage(backend, deep, vector, text, where, vectors)
        best: dict[str, Hit] = {}
        for hit in hits:
            document = hit.metadata.get(DOCUMENT_KEY)
            best.setdefault(document if isinstance(document, str) else f"\x00{hit.id}", hit)
        if len(best) >= want or len(hits) < depth:
            return list(best.values())[:want]
        depth *= GROUP_DEPTH


def cosines(x: Any, y: Any) -> Any:
    """Cosine of each row of ``x`` with each row of ``y``, as LangChain computes them.

    With SimSIMD (a vecstore dependency) in float32 through ``simsimd.cdist``, without it in
    float64: so that MMR picks what LangChain's ``maximal_marginal_relevance`` picks.
    """
    try:
        import simsimd
    except ImportError:
        a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
        norms = np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
        return (a @ b.T) / norms
    a, b = np.asarray(x, np.float32), np.asarray(y, np.float32)
    return 1 - np.asarray(simsimd.cdist(a, b, metric="cosine"))


def mmr_order(query: Any, vectors: Any, lam: float, k: int) -> list[tuple[int, float]]:
    """(index, marginal relevance when picked) of ``k`` rows chosen by MMR, in order picked.

    The first is the most similar to ``query``; each next one the best
    ``lam * sim - (1 - lam) * max sim to those picked``, the lowest index among equals.
    """
    n = len(vectors)
    k = min(k, n)
    if k <= 0:
        return []
    sims = cosines(np.asarray(query)[None, :], vectors)[0]
    first = int(np.argmax(sims))
    picked = [(first, float(lam * sims[first]))]
    closest = cosines(vectors, np.asarray(vectors)[first : first + 1])[:, 0]
    taken = np.zeros(n, bool)
    taken[first] = True
    while len(picked) < k:
        scores = lam * sims - (1.0 - lam) * closest
        scores[taken] = -np.inf
        best = int(np.argmax(scores))
        picked.append((best, float(scores[best])))
        taken[best] = True
        np.maximum(
            closest, cosines(vectors, np.asarray(vectors)[best : best + 1])[:, 0], out=closest
        )
    return picked


def _mmr(hits: list[Hit], q: Vectors, lam: float, k: int) -> list[Hit]:
    if not hits:
        return []
    vectors = np.stack([h.vector for h in hits if h.vector is not None])
    out = []
    for i, score in mmr_order(q, vectors, lam, k):
        h = hits[i]
        out.append(Hit(h.id, h.score, h.text, h.metadata, h.vector, score, "mmr"))
    return out


def _rerank(hits: list[Hit], scorer: Scorer, text: str, k: int) -> list[Hit]:
    if not hits:
        return []
    scores = [float(s) for s in scorer.score(text, [h.text or "" for h in hits])]
    if len(scores) != len(hits):
        raise InvalidInput(
            f"the reranker gave {len(scores)} scores for {len(hits)} texts", field="rerank"
        )
    order = sorted(range(len(hits)), key=lambda i: -scores[i])[:k]  # stable: ties stay in order
    return [
        Hit(
            hits[i].id,
            hits[i].score,
            hits[i].text,
            hits[i].metadata,
            hits[i].vector,
            scores[i],
            "rerank",
        )
        for i in order
    ]


def run(
    backend: RetryingBackend,
    p: Plan,
    vector: Vectors,
    text: str | None,
    where: Filter | None,
    rerankers: Rerankers,
    with_vectors: bool,
) -> list[Hit]:
    """The hits of one query: first stage, floor, then MMR or reranking."""
    scorer = None
    if p.rerank is not None:
        scorer = rerankers.get(p.rerank)  # a missing model fails before the store is asked
    if p.group_by is not None:
        hits = grouped_stage(backend, p, vector, text, where, with_vectors)
    else:
        hits = first_stage(backend, p, vector, text, where, with_vectors)
    if p.min_score is not None:
        hits = [h for h in hits if h.score >= p.min_score]
    if p.mmr is not None:
        hits = _mmr(hits, vector[0], p.mmr, p.top_k)
    elif scorer is not None:
        assert text is not None
        hits = _rerank(hits, scorer, text, p.top_k)
    hits = hits[: p.top_k]
    if not with_vectors:
        hits = [Hit(h.id, h.score, h.text, h.metadata, None, h.rank_score, h.rank_by) for h in hits]
    return hits
