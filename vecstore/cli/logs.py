"""The CLI's log lines: vecstore's loggers on stderr, as plain text or JSON lines.

Text (the default): warnings, one plain line each, beside the CLI's notes. JSON (``--log-format
json`` or the ``log_format`` setting): one JSON object per line (:mod:`vecstore.logfmt`), from
INFO up, so a run's progress and its last counts ("ingest finished") are lines a scheduler can
search, and the progress bar or plain progress lines are replaced by them.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

from vecstore.cli.output import notes_as_log
from vecstore.logfmt import JsonLines

LogFormat = Literal["text", "json"]
_handler: logging.Handler | None = None


def to_stderr(form: LogFormat = "text") -> None:
    """Send the ``vecstore`` loggers' lines to this process's stderr (once per run of main)."""
    global _handler
    log = logging.getLogger("vecstore")
    if _handler is not None:
        log.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    if form == "json":
        _handler.setFormatter(JsonLines())
        _handler.setLevel(logging.INFO)
        log.setLevel(logging.INFO)
    else:
        _handler.setFormatter(logging.Formatter("%(message)s"))
        _handler.setLevel(logging.WARNING)
        log.setLevel(logging.NOTSET)
    log.addHandler(_handler)
    notes_as_log(form == "json")
