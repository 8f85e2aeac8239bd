"""The one analyser and the BM25 weights every store ranks keyword search with.

Analyser (:func:`tokens`): NFKC normalisation, Unicode case folding, words of two or more
Unicode word characters (letters, digits, underscore: ``snake_case`` and ``x86_64`` stay one
token, ``e.g.`` gives none), English stop words dropped. No stemming: an exact name, code or
acronym matches only itself, which is what keyword search is asked for beside dense search.

A token becomes a term id, the first 4 bytes of its blake2b digest (:func:`term_id`): stable
across processes and machines, and what Qdrant's and Pinecone's sparse indices hold (uint32).

BM25, as Lucene and Qdrant's IDF modifier compute it (k1 = :data:`K1`, b = :data:`B`):

    score(q, d) = sum over distinct query terms t in d of idf(t) * w(t, d)
    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
    w(t, d)     = tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / AVGDL))

``N`` and ``df`` count the live records that hold at least one token (a record without text,
or whose text tokenises to nothing, is never a keyword hit and not part of the corpus). The
stores that keep sparse vectors cannot know the corpus's mean length when a record is written,
so ``|d| / AVGDL`` uses a fixed :data:`AVGDL` on every store (a document's weights never change
after it is written); the stores compute ``N`` and ``df`` at query time, so deletes count at
once.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

K1 = 1.2
B = 0.75
AVGDL = 64.0
"""Tokens of an average document, fixed for every store (see the module docstring)."""

WORDS = re.compile(r"\w\w+")
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves""".split()
)

Terms = npt.NDArray[np.uint32]
Weights = npt.NDArray[np.float32]


def tokens(text: str) -> list[str]:
    """The analyser: the tokens of ``text`` in order, repeats kept."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [t for t in WORDS.findall(folded) if t not in STOP_WORDS]


@functools.lru_cache(maxsize=1 << 16)
def term_id(token: str) -> int:
    """A token's term id: uint32, the same in every process and store (recent ones cached)."""
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little")


@dataclass(frozen=True, slots=True)
class SparseDoc:
    """One record's keyword vector: distinct term ids (ascending), BM25 weights, token count."""

    terms: Terms
    weights: Weights
    length: int


def _counted(text: str) -> tuple[Counter[int], int]:
    toks = tokens(text)
    return Counter(term_id(t) for t in toks), len(toks)


def weight(tf: npt.NDArray[np.float64], length: int) -> Weights:
    """``w(t, d)`` for term frequencies ``tf`` in a document of ``length`` tokens."""
    norm = K1 * (1.0 - B + B * length / AVGDL)
    return (tf * (K1 + 1.0) / (tf + norm)).astype(np.float32)


def document(text: str | None) -> SparseDoc:
    """The keyword vector of a record's text (empty for None or no tokens)."""
    if not text:
        return SparseDoc(np.empty(0, np.uint32), np.empty(0, np.float32), 0)
    counts, length = _counted(text)
    terms = np.array(sorted(counts), dtype=np.uint32)
    tf = np.array([counts[int(t)] for t in terms], dtype=np.float64)
    return SparseDoc(terms, weight(tf, length), length)


def documents(
    texts: Sequence[str | None],
) -> tuple[npt.NDArray[np.int64], Terms, Weights, npt.NDArray[np.int64]]:
    """The keyword vectors of many texts at once: (row, term, weight) triples and each length.

    The same weights as :func:`document` of each text, computed for the whole batch in a few
    array operations (rows ascending, terms ascending within a row).
    """
    flat: list[int] = []
    lengths = np.zeros(len(texts), np.int64)
    for i, text in enumerate(texts):
        if text:
            toks = tokens(text)
            lengths[i] = len(toks)
            flat.extend(term_id(t) for t in toks)
    rows = np.repeat(np.arange(len(texts), dtype=np.uint64), lengths)
    keys, tf = np.unique((rows << np.uint64(32)) | np.array(flat, np.uint64), return_counts=True)
    row = (keys >> np.uint64(32)).astype(np.int64)
    terms = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    norm = K1 * (1.0 - B + B * lengths[row] / AVGDL)
    tf64 = tf.astype(np.float64)
    return row, terms, (tf64 * (K1 + 1.0) / (tf64 + norm)).astype(np.float32), lengths


def query_terms(text: str) -> Terms:
    """The distinct term ids of a query, ascending (a repeated query word counts once)."""
    return np.array(sorted({term_id(t) for t in tokens(text)}), dtype=np.uint32)


def idf(df: npt.NDArray[np.int64], n: int) -> npt.NDArray[np.float64]:
    """``idf(t)`` of each document frequency in a corpus of ``n`` records."""
    d = df.astype(np.float64)
    return np.log1p((n - d + 0.5) / (d + 0.5))
