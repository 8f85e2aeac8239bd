"""How the CLI prints: tables and JSON on stdout, one-line errors and notes on stderr."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import orjson

TEXT_WIDTH = 70


def dump(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def short(text: str | None, width: int = TEXT_WIDTH) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    if text is None:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under headers, columns padded to their widest cell."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line.rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def meta(metadata: dict[str, Any]) -> str:
    """Metadata as compact JSON (empty for none)."""
    return orjson.dumps(metadata).decode() if metadata else ""


_notes_logged = False


def notes_as_log(on: bool) -> None:
    """Notes become INFO lines of the ``vecstore.cli`` logger (``--log-format json``)."""
    global _notes_logged
    _notes_logged = on


def note(message: str) -> None:
    """One line on stderr, beside the results (never mixed into them)."""
    if _notes_logged:
        logging.getLogger("vecstore.cli").info(message)
    else:
        print(message, file=sys.stderr)
