"""The ETL pipeline, measured side by side in one run.

1. With the real model, N records (default 10,000): bare ``SentenceTransformer.encode`` of the
   texts; first ingest into the NumPy store; the same ingest again, unchanged (target: >= 30x
   faster than the first); first ingest into a Chroma server (`chroma run`, started here).
   Ratios are encode time / ingest time (targets: NumPy >= 0.97x, Chroma >= 0.90x).
2. Peak memory: ``vecstore ingest`` of a 200,000-record JSONL into the NumPy store in a child
   process, beside the same for 20,000 records: if memory is bounded by the window, the two
   peaks are close. The hash encoder stands in for the model here (the model's own memory is
   fixed, and 200,000 texts would take it about 25 minutes on this machine).
Usage: HF_HUB_OFFLINE=1 python benchmarks/bench_etl.py [--n 10000] [--big 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_ingest import make_records  # noqa: E402
from integration_tests.servers import chroma_server, close_chroma_sessions  # noqa: E402
from vecstore import Collection, SentenceTransformerEncoder, load_settings  # noqa: E402
from vecstore.adapters.numpy import NumpyBackend  # noqa: E402
from vecstore.encoders import ENCODE_BATCH_SIZE  # noqa: E402


def timed_ingest(col: Collection, records: list[dict[str, object]]) -> tuple[float, int]:
    start = time.perf_counter()
    report = col.ingest(records)
    return time.perf_counter() - start, report.written


def model_part(n: int) -> None:
    records = make_records(n)
    texts = [str(r["text"]) for r in records]
    encoder = SentenceTransformerEncoder()
    encoder.model.encode(texts[:64])  # warm up
    start = time.perf_counter()
    encoder.model.encode(
        texts,
        batch_size=ENCODE_BATCH_SIZE,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    bare = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        col = Collection("etl", backend=NumpyBackend("etl", path=tmp), encoder=encoder)
        first, written = timed_ingest(col, records)
        again, rewritten = timed_ingest(col, records)
        assert written == n and rewritten == 0
        col.close()
        with chroma_server(Path(tmp)) as (host, port):
            settings = load_settings(backend="chroma", chroma={"host": host, "port": port})
            chroma = Collection("etl", encoder=encoder, settings=settings)
            into_chroma, written = timed_ingest(chroma, records)
            assert written == n and chroma.count() == n
            close_chroma_sessions()
    print(f"ETL with the real model, {n:,} records (one run)")
    head = (
        "bare encode s",
        "numpy ingest s",
        "ratio",
        "re-ingest s",
        "speed-up",
        "chroma ingest s",
        "ratio",
    )
    print(" | ".join(f"{h:>15}" for h in head))
    vals = (
        f"{bare:.1f}",
        f"{first:.1f}",
        f"{bare / first:.3f}x",
        f"{again:.2f}",
        f"{first / again:.0f}x",
        f"{into_chroma:.1f}",
        f"{bare / into_chroma:.3f}x",
    )
    print(" | ".join(f"{v:>15}" for v in vals))


def peak_rss_mb(n: int, tmp: Path) -> tuple[float, float]:
    source = tmp / f"src{n}.jsonl"
    with source.open("w") as fh:
        for i in range(n):
            fh.write(
                json.dumps(
                    {
                        "id": i,
                        "text": f"record {i} " + "word " * (i % 40),
                        "group": i % 7,
                        "tags": ["a", f"t{i % 3}"],
                    }
                )
                + "\n"
            )
    env = {**os.environ, "VECSTORE_MODEL": "hash:384", "VECSTORE_NUMPY__PATH": str(tmp / f"s{n}")}
    # VmHWM is this process image's own peak (ru_maxrss would carry over the parent's peak
    # across fork and exec, and the parent holds the model).
    code = (
        "import sys; from vecstore.cli import main; rc = main(sys.argv[1:]); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
        "print(hwm.split()[1], file=sys.stderr); sys.exit(rc)"
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, "ingest", str(source), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    assert json.loads(proc.stdout)["written"] == n
    return int(proc.stderr.strip().splitlines()[-1]) / 1024, elapsed


def memory_part(big: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        small_peak, small_s = peak_rss_mb(big // 10, Path(tmp))
        big_peak, big_s = peak_rss_mb(big, Path(tmp))
    vectors_mb = big * 384 * 4 / 2**20
    print("\npeak RSS of `vecstore ingest` (hash encoder, dim 384), child process")
    print(" | ".join(f"{h:>18}" for h in ("records", "peak RSS MiB", "seconds", "vectors MiB")))
    for n, peak, secs in ((big // 10, small_peak, small_s), (big, big_peak, big_s)):
        print(
            " | ".join(
                f"{v:>18}"
                for v in (f"{n:,}", f"{peak:.0f}", f"{secs:.1f}", f"{n * 384 * 4 / 2**20:.0f}")
            )
        )
    print(
        f"growth from {big // 10:,} to {big:,} records: {big_peak - small_peak:.0f} MiB "
        f"(the final vectors alone are {vectors_mb:.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=200_000)
    parser.add_argument("--skip-model", action="store_true")
    args = parser.parse_args()
    if not args.skip_model:
        model_part(args.n)
    memory_part(args.big)


if __name__ == "__main__":
    main()
