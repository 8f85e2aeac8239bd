"""Progress of a long ingest, on stderr: a bar on a terminal, plain lines everywhere else.

The same for the CLI and for ``Collection.ingest`` called from Python (:func:`shown`), unless
asked to be quiet or given a ``watch`` of the caller's own.

On a terminal the bar moves with every encoded batch and its clock keeps running while the
model loads. Off a terminal (cron, CI, ``| tee``) a plain line is printed every
:data:`LINE_INTERVAL_S` seconds (records done, the total when known, the encode rate and the
time left), and one when the run ends. ``--quiet`` prints neither.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sized
from pathlib import Path
from typing import Any, TextIO

from vecstore.jobs.report import IngestReport
from vecstore.jobs.writer import Watch

log = logging.getLogger(__name__)
LINE_INTERVAL_S = 10.0
BAR_REFRESH_S = 1.0


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class IngestProgress:
    """Watches an ingest's live report (pass it as ``watch=``); a context manager."""

    def __init__(
        self,
        total: int | None,
        *,
        stream: TextIO | None = None,
        quiet: bool = False,
        interval_s: float = LINE_INTERVAL_S,
        as_log: bool = False,
    ) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.as_log = as_log  # INFO records of this module's logger (JSON lines), not prints
        self.tty = not as_log and bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = BAR_REFRESH_S if self.tty else interval_s
        self.report = IngestReport()
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._bar: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> IngestProgress:
        if self.quiet:
            return self
        self.started = time.monotonic()
        if self.tty:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, unit="rec", desc="ingest", file=self.stream)
        self._ticker = threading.Thread(target=self._tick, name="vecstore-progress", daemon=True)
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._bar is not None:
            self._show()
            self._bar.close()
        elif not self.quiet:
            self._line(final=True)

    def __call__(self, report: IngestReport) -> None:
        """Take the live report (the ``watch`` of an ingest)."""
        self.report = report
        if self._bar is not None:
            self._show()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self._bar is not None:
                self._show()
            else:
                self._line()

    def _show(self) -> None:
        with self._lock:
            bar, report = self._bar, self.report
            bar.n = report.done
            bar.set_postfix_str(f"encoded {report.encoded}", refresh=False)
            bar.refresh()

    def line(self, final: bool = False) -> str:
        """The plain progress line for the report as it stands."""
        report, elapsed = self.report, max(time.monotonic() - self.started, 1e-9)
        done = report.done
        parts = [f"{done}/{self.total}" if self.total is not None else f"{done}", "records"]
        if self.total:
            parts.append(f"({100 * done / self.total:.0f}%)")
        parts.append(f"{report.encoded} encoded at {report.encoded / elapsed:.0f}/s")
        if final:
            parts.append(f"in {_clock(elapsed)}")
        elif self.total is not None and done:
            parts.append(f"ETA {_clock(max(self.total - done, 0) * elapsed / done)}")
        return "ingest: " + " ".join(parts[:2]) + " " + ", ".join(parts[2:])

    def _line(self, final: bool = False) -> None:
        if not self.as_log:
            print(self.line(final), file=self.stream, flush=True)
            return
        report = self.report
        fields = {"done": report.done, "total": self.total, "encoded": report.encoded}
        fields["final"] = final
        log.info(self.line(final), extra={"vecstore": fields})


@contextlib.contextmanager
def shown(
    source: Iterable[Any] | str | Path, watch: Watch | None, quiet: bool
) -> Iterator[Watch | None]:
    """The watch an ingest of ``source`` reports to: the caller's, else progress on stderr."""
    if watch is not None or quiet:
        yield watch
        return
    from vecstore.jobs.sources import count_records

    if isinstance(source, str | Path):
        total = count_records(source)
    else:
        total = len(source) if isinstance(source, Sized) else None
    with IngestProgress(total) as progress:
        yield progress
