"""The ``vecstore`` command: the library's calls from a shell, fit for cron.

Every command takes ``--collection NAME`` and ``--config FILE``; results print as a table, or
as JSON with ``--json``, on stdout; progress and notes go to stderr. Errors print as one line
on stderr, without a traceback: exit status 1 (2 for a bad command line, 2 for an ingest whose
records failed, 3 for an ingest whose ``--sync`` was skipped: nothing deleted). Arguments and
input files are checked before any store or model work.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vecstore.errors import VecstoreError

if TYPE_CHECKING:
    from vecstore.cli.logs import LogFormat

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    from vecstore.cli.logs import to_stderr
    from vecstore.cli.parser import build_parser

    args = build_parser().parse_args(argv)
    to_stderr(args.log_format or "text")
    try:
        if args.log_format is None:  # the setting's, where it says json
            args.log_format = _configured_format(args.config)
            to_stderr(args.log_format)
        if args.check is not None:
            args.check(args)
        status = args.func(args)
    except (VecstoreError, OSError) as exc:
        message = " ".join(str(exc).split())
        if args.log_format == "json":
            logging.getLogger("vecstore.cli").error(message)
        else:
            print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


def _configured_format(config: str | None) -> LogFormat:
    from vecstore.config import load_settings

    return load_settings(config).log_format
