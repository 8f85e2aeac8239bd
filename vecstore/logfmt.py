"""Log lines as JSON objects, one per line, for schedulers' log search (``--log-format json``).

Each line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the exception
when there is one, and the run's fields: a record logged with ``extra={"vecstore": {...}}``
(an ingest's counts, a progress line's numbers) has them at the top level. Use it with any
handler: ``handler.setFormatter(vecstore.logfmt.JsonLines())``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson

FIELDS = "vecstore"
"""The ``extra`` key whose dict of fields a line carries at its top level."""


class JsonLines(logging.Formatter):
    """One JSON object per record; never raises on what it cannot serialise (``str`` of it)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, dict):
            out.update({k: v for k, v in fields.items() if k not in out})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()
