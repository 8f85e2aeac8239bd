"""What the OpenTelemetry instrumentation costs: the SDK recording, against the API's no-op.

Each round runs every variant in a fresh process, in turn: ``no sdk`` (this code, nothing
configured), ``sdk`` (this code with the OpenTelemetry SDK: a batch span processor into an
in-memory exporter, a meter provider with an in-memory reader), and with --base DIR ``base``
(an older checkout, before the instrumentation). Each process ingests --n records that carry
precomputed 384-d vectors (a fresh NumPy store, ``ingest`` with ``vector_field``, windows of
4,096, so the job is the store and the pipeline, not the model), then runs --queries filtered
queries by vector (``{"cat": ...}``, a tenth of the records each). Medians over --rounds, and
the median of the per-round ratios to ``no sdk`` (targets: ingest <= 1.02x, filtered queries
<= 1.05x with the SDK; without it, within noise of the base).
Usage: python benchmarks/bench_telemetry.py [--n 50000] [--queries 300] [--rounds 5]
       [--base /tmp/base]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORK = """
import json, sys, time
import numpy as np
if {sdk}:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
from vecstore import Collection, HashEncoder, load_settings
from vecstore.adapters.numpy import NumpyBackend
n, queries, store = {n}, {queries}, {store!r}
rng = np.random.default_rng(1)
vectors = rng.standard_normal((n, 384)).astype(np.float32)
rows = [{{"id": f"r{{i}}", "text": f"record {{i}}", "cat": f"c{{i % 10}}", "vec": vectors[i]}}
        for i in range(n)]
col = Collection("bench", backend=NumpyBackend("bench", path=store), encoder=HashEncoder(384),
                 settings=load_settings())
kwargs = {{"vector_field": "vec", "metadata_fields": ["cat"]}}
if "quiet" in Collection.ingest.__code__.co_varnames:
    kwargs["quiet"] = True
started = time.perf_counter()
report = col.ingest(rows, **kwargs)
ingest_s = time.perf_counter() - started
assert report.written == n, report
probes = rng.standard_normal((queries, 384)).astype(np.float32)
col.query(probes[0], top_k=10, where={{"cat": "c1"}})
started = time.perf_counter()
for i, q in enumerate(probes):
    col.query(q, top_k=10, where={{"cat": f"c{{i % 10}}"}})
query_s = time.perf_counter() - started
if {sdk}:
    trace.get_tracer_provider().force_flush()
print(json.dumps({{"ingest_s": ingest_s, "query_ms": 1000 * query_s / queries}}))
"""


def run(code: Path, sdk: bool, n: int, queries: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        script = WORK.format(sdk=sdk, n=n, queries=queries, store=str(Path(tmp) / "store"))
        env = {**os.environ, "PYTHONPATH": str(code)}
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp
        )
        if proc.returncode != 0:
            raise SystemExit(f"a run failed ({code}, sdk={sdk}): {proc.stderr[-2000:]}")
        result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
        return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--base", type=Path, help="an older checkout, before the instrumentation")
    args = parser.parse_args()
    variants = [("no sdk", ROOT, False), ("sdk", ROOT, True)]
    if args.base:
        variants.append(("base", args.base.resolve(), False))
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in variants}
    for round_ in range(args.rounds):
        order = variants if round_ % 2 == 0 else variants[::-1]
        for label, code, sdk in order:
            results[label].append(run(code, sdk, args.n, args.queries))
        print(
            f"round {round_ + 1}: "
            + ", ".join(
                f"{label} {last['ingest_s']:.2f} s / {last['query_ms']:.3f} ms"
                for label, _, _ in variants
                if (last := results[label][-1])
            ),
            file=sys.stderr,
            flush=True,
        )
    print(
        f"{args.n} records with vectors, {args.queries} filtered queries; medians of "
        f"{args.rounds} rounds, each variant a fresh process"
    )
    print("| variant | ingest s | vs no sdk | filtered query ms | vs no sdk |")
    print("|---|---|---|---|---|")
    plain = results["no sdk"]
    for label, _, _ in variants:
        rows = results[label]
        ingest = statistics.median(r["ingest_s"] for r in rows)
        query = statistics.median(r["query_ms"] for r in rows)
        ratio_i = statistics.median(
            r["ingest_s"] / p["ingest_s"] for r, p in zip(rows, plain, strict=True)
        )
        ratio_q = statistics.median(
            r["query_ms"] / p["query_ms"] for r, p in zip(rows, plain, strict=True)
        )
        print(f"| {label} | {ingest:.2f} | {ratio_i:.3f}x | {query:.3f} | {ratio_q:.3f}x |")


if __name__ == "__main__":
    main()
