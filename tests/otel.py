"""One OpenTelemetry SDK for the whole test process (a provider can be set only once).

Spans are kept only while a test asks for them (:func:`kept`), so the rest of the suite runs
with an SDK recording into nothing; metrics go to one in-memory reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider


class Kept(SpanProcessor):
    """Keeps finished spans while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            self.spans.append(span)


KEPT = Kept()
READER = InMemoryMetricReader()
_installed = False


def install() -> None:
    """Set the SDK as the process's providers (once)."""
    global _installed
    if not _installed:
        provider = TracerProvider()
        provider.add_span_processor(KEPT)
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))
        _installed = True


@contextmanager
def kept() -> Iterator[list[ReadableSpan]]:
    """The spans that end while the block runs."""
    install()
    KEPT.spans.clear()
    KEPT.on = True
    try:
        yield KEPT.spans
    finally:
        KEPT.on = False


def counters() -> dict[str, float]:
    """Every metric's sum (counters) or count (histograms) so far."""
    out: dict[str, float] = {}
    data = READER.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:
                        value = getattr(point, "count", 0)
                    out[metric.name] = out.get(metric.name, 0) + value
    return out
