"""Real text nobody on this project wrote: the docstrings of Python's standard library.

Read with ``ast`` from the interpreter's own ``.py`` files (nothing imported, nothing
downloaded), so any machine with the same Python (3.11.7 here) rebuilds exactly the same texts:

* :func:`summaries`: the first paragraph of each docstring, whitespace collapsed, deduplicated,
  at least 20 characters, in file order (about 7,100 with CPython 3.11);
* :func:`pairs`: (summary, body) for docstrings with a body of at least 80 characters after the
  first paragraph (about 2,400): a summary is a query whose one relevant document is its body.

Test packages and idlelib are left out (their docstrings are about testing the library).
"""

from __future__ import annotations

import ast
import sysconfig
from collections.abc import Iterator
from pathlib import Path

MIN_SUMMARY = 20
MIN_BODY = 80
SKIPPED_PARTS = frozenset({"test", "tests", "idlelib", "site-packages", "lib2to3"})


def _docstrings(root: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(root.rglob("*.py")):
        if SKIPPED_PARTS & set(path.relative_to(root).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
                doc = ast.get_docstring(node)
                if not doc:
                    continue
                paragraphs = [p.strip() for p in doc.split("\n\n") if p.strip()]
                if not paragraphs:
                    continue
                summary = " ".join(paragraphs[0].split())
                body = " ".join(" ".join(paragraphs[1:]).split())
                yield summary, body


def _unique(root: Path | None = None) -> Iterator[tuple[str, str]]:
    seen: set[str] = set()
    for summary, body in _docstrings(root or Path(sysconfig.get_paths()["stdlib"])):
        if len(summary) >= MIN_SUMMARY and summary not in seen:
            seen.add(summary)
            yield summary, body


def summaries(limit: int | None = None) -> list[str]:
    """Distinct one-paragraph docstring summaries of the standard library, in file order."""
    out = [s for s, _ in _unique()]
    return out[:limit] if limit is not None else out


def pairs(limit: int | None = None, root: Path | None = None) -> list[tuple[str, str]]:
    """(summary, body) pairs: each summary's one relevant document is its own body.

    ``root``: another tree of Python files than the standard library (an installed package).
    """
    out = [(s, b) for s, b in _unique(root) if len(b) >= MIN_BODY]
    return out[:limit] if limit is not None else out


if __name__ == "__main__":
    print(f"{len(summaries())} summaries, {len(pairs())} summary/body pairs")
