"""Documents cut into chunks the model reads whole: semchunk, counted by the model's tokenizer.

Each chunk holds at most ``max_tokens`` tokens as the model counts them: its own tokenizer,
special tokens and the document prompt included (``SentenceTransformerEncoder.document_tokens``),
so no chunk is ever truncated. semchunk splits at the largest boundary that fits: paragraphs,
then lines, sentences, clauses, words; optional ``overlap`` (tokens, or a fraction of
``max_tokens``). An encoder without a tokenizer (the hashing test encoder, a third party's)
counts words, two more for the special tokens, within :data:`DEFAULT_MAX_TOKENS`.

**Boundaries that stay put.** semchunk packs greedily, so an edit that changes a paragraph's
length would move every later boundary and re-encode the rest of the document. The text is
therefore first cut at content-defined anchors: a paragraph (after a blank line) starts a new
section when a hash of its own text says so (one paragraph in :data:`ANCHOR_EVERY`), and each
section is chunked on its own. An edit moves the boundaries of its own section only (and of
the next one, when it makes or unmakes an anchor): measured, see the README.

A chunk is a :class:`Piece`: its span in the text, and the whitespace semchunk left out around
it, so that the pieces give the text back exactly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vecstore.errors import ConfigError

DEFAULT_MAX_TOKENS = 256
"""Chunk size for encoders that do not say what their model reads."""
ANCHOR_EVERY = 4
"""One paragraph in this many (by a hash of its text) starts a section of its own."""
CHARS_PER_TOKEN = 3
"""A section is at least this many characters per chunk token (about one chunk's worth)."""
_WORD = re.compile(r"\w+|[^\w\s]")
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")


@dataclass(frozen=True, slots=True)
class Piece:
    """One chunk: ``text[start:end]``, with the text before it (first) and after it (to next)."""

    start: int
    end: int
    head: str
    tail: str


def word_count(text: str) -> int:
    """Words and punctuation, plus two special tokens: a tokenizer's count, roughly."""
    return len(_WORD.findall(text)) + 2


def model_limit(encoder: object) -> tuple[int, Callable[[str], int]]:
    """What the encoder's model reads, and its token counter (see the module docstring)."""
    tokens = getattr(encoder, "document_tokens", None)
    if callable(tokens):
        found: tuple[int, Callable[[str], int]] = tokens()
        return found
    return DEFAULT_MAX_TOKENS, word_count


class Chunker:
    """Cuts texts into :class:`Piece` s of at most ``max_tokens`` tokens (``count``'s)."""

    def __init__(
        self, max_tokens: int, count: Callable[[str], int], overlap: float | int = 0
    ) -> None:
        if max_tokens < 8:
            raise ConfigError(f"chunking.max_tokens must be >= 8, got {max_tokens}")
        from semchunk.semchunk import chunk

        self.max_tokens = max_tokens
        self._count = count
        self._overlap = overlap or None
        self._chunk = chunk

    def pieces(self, text: str) -> list[Piece]:
        """The chunks of ``text``, in order; every character is in a span, a head or a tail."""
        spans: list[tuple[int, int]] = []
        for start, end in sections(text, self.max_tokens * CHARS_PER_TOKEN):
            found: Any = self._chunk(
                text[start:end], self.max_tokens, self._count, offsets=True, overlap=self._overlap
            )
            spans.extend((start + int(a), start + int(b)) for a, b in found[1])
        if not spans:
            return []
        out = []
        for i, (start, end) in enumerate(spans):
            head = text[:start] if i == 0 else ""
            after = spans[i + 1][0] if i + 1 < len(spans) else len(text)
            out.append(Piece(start, end, head, text[end:after] if after > end else ""))
        return out


def sections(text: str, min_chars: int = 0) -> list[tuple[int, int]]:
    """(start, end) of the text's sections: cut before paragraphs whose hash makes them anchors.

    A section is at least ``min_chars`` long (about a chunk's worth), so that short paragraphs
    are not each a chunk of their own.
    """
    cuts = [0]
    for match in _PARAGRAPH.finditer(text):
        start = match.end()
        if start - cuts[-1] < min_chars:
            continue
        end = text.find("\n", start)
        first_line = text[start : end if end >= 0 else len(text)].strip()
        digest = hashlib.blake2b(first_line.encode(), digest_size=4).digest()
        if first_line and int.from_bytes(digest, "little") % ANCHOR_EVERY == 0:
            cuts.append(start)
    cuts.append(len(text))
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def reassemble(texts: list[str], pieces: list[Piece]) -> str:
    """The text the pieces (with their chunk texts, in order) were cut from."""
    out: list[str] = []
    reached = 0
    for text, piece in zip(texts, pieces, strict=True):
        if not out:
            out.append(piece.head)
            reached = piece.start
        out.append(text[max(0, reached - piece.start) :])
        out.append(piece.tail)
        reached = max(reached, piece.end) + len(piece.tail)
    return "".join(out)
