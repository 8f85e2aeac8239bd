"""The CLI's log lines: vecstore's warnings on stderr, one plain line each, beside its notes."""

from __future__ import annotations

import logging
import sys

_handler: logging.Handler | None = None


def to_stderr() -> None:
    """Send the ``vecstore`` loggers' lines to this process's stderr (once per run of main)."""
    global _handler
    log = logging.getLogger("vecstore")
    if _handler is not None:
        log.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(_handler)
