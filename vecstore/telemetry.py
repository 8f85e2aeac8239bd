"""OpenTelemetry traces and metrics, through the vendor-neutral API only.

vecstore never configures an SDK or an exporter: that is the application's choice (README,
"Observability"). Until one is set, nothing is recorded and a call costs one check of the
global providers; ``import vecstore`` imports no part of OpenTelemetry (it is imported on the
first instrumented call) and never ``opentelemetry.sdk``.

Spans (every one carries ``db.system.name``, the store's registry name, ``db.collection.name``
and ``db.operation.name``):

* ``vecstore.ingest``: one per run (:mod:`vecstore.jobs.ingest`), the parent of its
  ``vecstore.encode`` and ``vecstore.upsert`` spans, with ``vecstore.records.read``,
  ``.encoded``, ``.written``, ``.unchanged``, ``.metadata_only``, ``.failed`` and
  ``.deleted`` set from the run's report when it ends;
* ``vecstore.encode``: ``vecstore.texts``, ``vecstore.tokens`` (where the encoder counts them),
  ``vecstore.encoder.runtime``, ``vecstore.encoder.device``, ``vecstore.encoder.side``;
* ``vecstore.upsert``, ``vecstore.update_metadata``, ``vecstore.delete``: one per store call
  (:mod:`vecstore.retry`, so every path: the facade, the jobs, the engines' tasks), with
  ``vecstore.records``; each retry is an event ``vecstore.retry`` (``vecstore.retry.attempt``,
  ``error.type``) on it;
* ``vecstore.query``: ``vecstore.search``, ``vecstore.top_k``, ``vecstore.filtered``,
  ``vecstore.hits`` (and the query text only with ``telemetry.query_text = true``);
* ``vecstore.migrate``: the migration job.

A call that fails ends its span with status ERROR and an exception event, and raises exactly
what it raised before. No attribute holds a secret: names, counts and modes only.

Metrics: counters ``vecstore.records.encoded``, ``vecstore.records.written``,
``vecstore.records.failed`` and ``vecstore.retries``; histograms ``vecstore.query.duration``
and ``vecstore.encode.duration`` (seconds); attributes as on the spans.

An error inside the instrumentation itself is swallowed and logged once; the job goes on.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

SCOPE = "vecstore"
Attributes = Mapping[str, str | int | float | bool]
_NOT_RECORDING = frozenset({"ProxyTracerProvider", "NoOpTracerProvider"})
_NO_METRICS = frozenset({"_ProxyMeterProvider", "NoOpMeterProvider"})


class _Api:
    """The OpenTelemetry API, imported on first use; None where it is not installed."""

    def __init__(self) -> None:
        from opentelemetry import context, metrics, propagate, trace

        from vecstore import __version__

        self.trace, self.metrics, self.context, self.propagate = trace, metrics, context, propagate
        self.tracer = trace.get_tracer(SCOPE, __version__)
        meter = metrics.get_meter(SCOPE, __version__)
        self.counters = {
            name: meter.create_counter(name, unit="{record}", description=text)
            for name, text in (
                ("vecstore.records.encoded", "texts encoded"),
                ("vecstore.records.written", "records written to the store"),
                ("vecstore.records.failed", "records an ingest could not take"),
            )
        }
        self.counters["vecstore.retries"] = meter.create_counter(
            "vecstore.retries", unit="{retry}", description="store calls retried"
        )
        self.histograms = {
            name: meter.create_histogram(name, unit="s", description=text)
            for name, text in (
                ("vecstore.query.duration", "one query, start to hits"),
                ("vecstore.encode.duration", "one encode call"),
            )
        }

    def tracing(self) -> bool:
        return type(self.trace.get_tracer_provider()).__name__ not in _NOT_RECORDING

    def measuring(self) -> bool:
        return type(self.metrics.get_meter_provider()).__name__ not in _NO_METRICS


_api: _Api | None = None
_loaded = False
_complained = False


def _get() -> _Api | None:
    global _api, _loaded
    if not _loaded:
        try:
            _api = _Api()
        except ImportError:
            _api = None
        except Exception as exc:  # an API that fails to start: off, said once
            _failed(exc)
            _api = None
        _loaded = True
    return _api


def _failed(exc: BaseException) -> None:
    """An error of the instrumentation, never of the job: logged once, then silence."""
    global _complained
    if not _complained:
        _complained = True
        log.warning("telemetry left out after an error in it: %r", exc)


class Span:
    """What a block may add to its span (nothing, when no SDK records)."""

    def __init__(self, span: Any = None) -> None:
        self._span = span

    def set(self, attributes: Attributes) -> None:
        """Set attributes on the span."""
        if self._span is not None:
            try:
                self._span.set_attributes(dict(attributes))
            except Exception as exc:
                _failed(exc)

    def event(self, name: str, attributes: Attributes) -> None:
        """Add an event to the span."""
        if self._span is not None:
            try:
                self._span.add_event(name, dict(attributes))
            except Exception as exc:
                _failed(exc)


_NONE = Span()


@dataclass(frozen=True, slots=True)
class Scope:
    """The attributes every span and measurement of one collection carries."""

    system: str
    collection: str
    query_text: bool = False
    base: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "base", {"db.system.name": self.system, "db.collection.name": self.collection}
        )

    def attributes(self, operation: str, more: Attributes | None = None) -> dict[str, Any]:
        """The base attributes, the operation's name, and ``more``."""
        return {**self.base, "db.operation.name": operation, **(more or {})}

    @contextlib.contextmanager
    def span(self, operation: str, attributes: Attributes | None = None) -> Iterator[Span]:
        """A span ``vecstore.<operation>`` around the block, current while it runs."""
        api = _get()
        if api is None or not api.tracing():
            yield _NONE
            return
        try:
            manager = api.tracer.start_as_current_span(
                f"vecstore.{operation}", attributes=self.attributes(operation, attributes)
            )
            span = manager.__enter__()
        except Exception as exc:
            _failed(exc)
            yield _NONE
            return
        try:
            yield Span(span)
        except BaseException as exc:
            try:  # records the exception and status ERROR, then re-raises it: the same one
                manager.__exit__(type(exc), exc, exc.__traceback__)
            except BaseException as again:
                if again is not exc:
                    _failed(again)
            raise
        try:
            manager.__exit__(None, None, None)
        except Exception as exc:
            _failed(exc)

    def count(self, name: str, value: int, operation: str) -> None:
        """Add ``value`` to the counter ``name``."""
        api = _get()
        if api is None or not value or not api.measuring():
            return
        try:
            api.counters[name].add(value, self.attributes(operation))
        except Exception as exc:
            _failed(exc)

    def duration(self, name: str, started: float, operation: str) -> None:
        """Record the seconds since ``started`` (``time.perf_counter``) in the histogram."""
        api = _get()
        if api is None or not api.measuring():
            return
        try:
            api.histograms[name].record(time.perf_counter() - started, self.attributes(operation))
        except Exception as exc:
            _failed(exc)


def retried(attempt: int, error: BaseException, scope: Scope | None) -> None:
    """A store call is retried: an event on the current span, one more on the counter."""
    api = _get()
    if api is None:
        return
    if api.tracing():
        try:
            api.trace.get_current_span().add_event(
                "vecstore.retry",
                {"vecstore.retry.attempt": attempt, "error.type": type(error).__name__},
            )
        except Exception as exc:
            _failed(exc)
    if scope is not None:
        scope.count("vecstore.retries", 1, "retry")


def carrier() -> dict[str, str]:
    """The current trace context, to hand to another process (an engine's task)."""
    api = _get()
    out: dict[str, str] = {}
    if api is not None and api.tracing():
        try:
            api.propagate.inject(out)
        except Exception as exc:
            _failed(exc)
    return out


@contextlib.contextmanager
def continued(context: Mapping[str, str] | None) -> Iterator[None]:
    """Run the block inside the trace context another process handed over (``carrier``)."""
    api = _get()
    if api is None or not context:
        yield
        return
    token = None
    try:
        token = api.context.attach(api.propagate.extract(dict(context)))
    except Exception as exc:
        _failed(exc)
    try:
        yield
    finally:
        if token is not None:
            with contextlib.suppress(Exception):
                api.context.detach(token)


def current() -> Any:
    """The current context (to carry into another thread), or None without the API."""
    api = _get()
    return api.context.get_current() if api is not None else None


@contextlib.contextmanager
def within(context: Any) -> Iterator[None]:
    """Run the block in ``context`` (from :func:`current`, taken on another thread)."""
    api = _get()
    if api is None or context is None:
        yield
        return
    token = api.context.attach(context)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            api.context.detach(token)


@contextlib.contextmanager
def encoding(scope: Scope, encoder: Any, texts: int, side: str) -> Iterator[None]:
    """A ``vecstore.encode`` span and the encode metrics around one encode call."""
    started = time.perf_counter()
    tokens_before = getattr(encoder, "tokens_total", None)
    with scope.span("encode", {"vecstore.texts": texts, "vecstore.encoder.side": side}) as span:
        yield
        running = getattr(encoder, "running", None)
        facts: dict[str, str | int] = {}
        if callable(running) and (found := running()) is not None:
            facts["vecstore.encoder.runtime"], facts["vecstore.encoder.device"] = found
        tokens_after = getattr(encoder, "tokens_total", None)
        if isinstance(tokens_before, int) and isinstance(tokens_after, int):
            facts["vecstore.tokens"] = tokens_after - tokens_before
        span.set(facts)
    scope.count("vecstore.records.encoded", texts, "encode")
    scope.duration("vecstore.encode.duration", started, "encode")
