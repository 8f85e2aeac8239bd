"""Long real documents nobody on this project wrote: the machine's own manual pages.

Rebuilt offline on any machine of this image: the section-1 manual pages under
``/usr/share/man/man1`` (Debian's packages: git, gcc, coreutils, ...; Google Cloud's thousands of
generated ``gcloud_*`` pages left out as near-duplicates), rendered to plain text by groff
(``groff -man -Tutf8 -rLL=2000n -rHY=0 -P -cbou``: one line per paragraph, no hyphenation,
no formatting codes), whitespace inside lines collapsed. Pages of at least :data:`MIN_CHARS`
characters are kept, in name order, and every k-th is taken to get ``n`` of them.

Each document gets one query: a sentence from its last 40% (the first line there of at least
80 characters that ends a sentence, starting at a position fixed by the page's name), its one
relevant answer being that document. This is the held-out set of the issue's measurement:
answers deep in a document, past what a model reading 256 tokens sees.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

MAN1 = Path("/usr/share/man/man1")
MIN_CHARS = 8000
GROFF = ["groff", "-man", "-Tutf8", "-rLL=2000n", "-rHY=0", "-P", "-cbou"]
_SPACES = re.compile(r"[ \t]+")


@dataclass(frozen=True, slots=True)
class LongDoc:
    """A manual page as text, and its query."""

    id: str
    text: str
    query: str


def render(path: Path) -> str:
    """The page as plain text (paragraphs one per line, blank lines between sections)."""
    roff = gzip.decompress(path.read_bytes())
    done = subprocess.run(GROFF, input=roff, capture_output=True, check=False, timeout=60)
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _query(name: str, text: str) -> str | None:
    start = int(len(text) * 0.6)
    lines = [ln for ln in text[start:].splitlines() if len(ln) >= 80]
    if not lines:
        return None
    pick = int(hashlib.blake2b(name.encode(), digest_size=4).hexdigest(), 16) % len(lines)
    for line in lines[pick:] + lines[:pick]:
        sentences = re.findall(r"[A-Z][^.!?]{60,300}[.!?]", line)
        if sentences:
            return sentences[0]
    return None


def long_docs(n: int = 250) -> list[LongDoc]:
    """``n`` long pages with their queries (fewer if the machine has fewer)."""
    pages = sorted(p for p in MAN1.glob("*.gz") if not p.name.startswith("gcloud"))
    found: list[LongDoc] = []
    for path in pages:
        text = render(path)
        if len(text) < MIN_CHARS:
            continue
        query = _query(path.name, text)
        if query is not None:
            found.append(LongDoc(path.name.removesuffix(".gz"), text, query))
    step = max(1, len(found) // n)
    return found[::step][:n]
