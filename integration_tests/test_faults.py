"""Ingestion under faults, against real servers on loopback: the store ends exact every time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from integration_tests.fault_proxy import fault_proxy
from integration_tests.pinecone_server import pinecone_server
from integration_tests.servers import chroma_server
from vecstore import Collection, HashEncoder, load_settings

REPO = Path(__file__).resolve().parents[1]
DIM = 32


def write_source(path: Path, n: int) -> Path:
    with path.open("w") as fh:
        for i in range(n):
            fh.write(
                json.dumps(
                    {"id": i, "text": f"record {i} of the source, words {i % 97}", "group": i % 5}
                )
                + "\n"
            )
    return path


def cli(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    exe = str(Path(sys.executable).with_name("vecstore"))
    return subprocess.Popen(
        [exe, *argv], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_sigkill_at_several_points_then_rerun_is_exact(tmp_path: Path) -> None:
    n = 60_000
    source = write_source(tmp_path / "big.jsonl", n)
    env = {
        **os.environ,
        "VECSTORE_MODEL": f"hash:{DIM}",
        "VECSTORE_NUMPY__PATH": str(tmp_path / "store"),
    }
    col = Collection(
        "default",
        encoder=HashEncoder(DIM),
        settings=load_settings(numpy={"path": str(tmp_path / "store")}),
    )
    for fraction in (0.25, 0.5, 0.8):
        col.delete(where={"group": {"$gte": 0}})  # start each round from an empty store
        col.close()
        with cli("ingest", str(source), "--json", env=env, cwd=tmp_path) as proc:
            time.sleep(0.4 + 2.5 * fraction)
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
        col = Collection(
            "default",
            encoder=HashEncoder(DIM),
            settings=load_settings(numpy={"path": str(tmp_path / "store")}),
        )
        before = col.count()
        col.close()
        with cli("ingest", str(source), "--json", env=env, cwd=tmp_path) as proc:
            out, err = proc.communicate()
        assert proc.returncode == 0, err
        report = json.loads(out)
        col = Collection(
            "default",
            encoder=HashEncoder(DIM),
            settings=load_settings(numpy={"path": str(tmp_path / "store")}),
        )
        assert col.count() == n, f"after a kill at {fraction:.0%}"
        assert report["unchanged"] == before and report["encoded"] == n - before
    col.close()


def test_pinecone_429_and_503_are_retried_exactly() -> None:
    with pinecone_server(DIM) as (host, index):
        settings = load_settings(backend="pinecone", pinecone={"host": host, "api_key": "k"})
        col = Collection("faulty", encoder=HashEncoder(DIM), settings=settings)
        index.fail_rate = 0.2
        try:
            records = [{"id": i, "text": f"text {i}", "g": i % 3} for i in range(3000)]
            report = col.ingest(records, window=500)
            assert (report.written, report.failed) == (3000, 0)
        finally:
            index.fail_rate = 0.0
        assert col.count() == 3000
        assert index.requests > 10
        col.close()


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    with chroma_server(tmp_path_factory.mktemp("chroma-faults")) as address:
        yield address  # type: ignore[misc]


def test_chroma_behind_a_faulty_proxy_ends_exact(chroma: tuple[str, int]) -> None:
    n = 20_000
    with fault_proxy(chroma[1], fault_rate=0.0) as proxy:
        settings = load_settings(
            backend="chroma",
            chroma={"host": "127.0.0.1", "port": proxy.port},
            retry={"attempts": 8, "deadline_s": 120},
        )
        col = Collection("proxied", encoder=HashEncoder(DIM), settings=settings)
        proxy.fault_rate = 0.2
        records = ({"id": i, "text": f"record {i}", "g": i % 4} for i in range(n))
        report = col.ingest(records)
        proxy.fault_rate = 0.0
        assert (report.written, report.failed) == (n, 0)
        assert col.count() == n
        assert col.count({"g": 0}) == n // 4
        assert sum(proxy.faults.values()) > 0, (
            f"no fault in {proxy.requests} requests: proved nothing"
        )
        col.close()


def test_chroma_faulty_from_the_first_request_ends_exact(chroma: tuple[str, int]) -> None:
    """The client is made and the collection opened through the proxy, its first requests
    dropped, reset, delayed and answered 503: each is retried like any other call."""
    n = 4000
    with fault_proxy(chroma[1], fault_rate=0.2, fault_first=4) as proxy:
        settings = load_settings(
            backend="chroma",
            chroma={"host": "127.0.0.1", "port": proxy.port},
            retry={"attempts": 10, "deadline_s": 120},
        )
        col = Collection("proxied-first", encoder=HashEncoder(DIM), settings=settings)
        assert {"drop", "reset", "503"} <= set(proxy.faults), proxy.faults
        records = [{"id": f"r{i}", "text": f"record {i}", "g": i % 4} for i in range(n)]
        report = col.ingest(records, window=500)
        assert (report.written, report.failed) == (n, 0)
        proxy.fault_rate = 0.0
        assert col.count() == n
        stored = col.get([r["id"] for r in records])
        assert [r.id for r in stored] == [r["id"] for r in records]  # each once, all there
        assert all(r.metadata == {"g": int(r.id[1:]) % 4} for r in stored)
        assert proxy.faults["reset"] > 1, proxy.faults
        col.close()


RANDOM_FAULT_RATE = 0.2
RANDOM_SEEDS = (11,)


def _through_a_flaky_network(settings: Any, proxy: Any, n: int = 3000) -> None:
    """Open, ingest, read back through ``proxy``; with the default retry settings."""
    col = Collection(f"flaky-{uuid.uuid4().hex[:8]}", encoder=HashEncoder(DIM), settings=settings)
    records = [{"id": f"r{i}", "text": f"record {i}", "g": i % 4} for i in range(n)]
    report = col.ingest(records, window=50)  # many calls, each several requests
    assert (report.written, report.failed) == (n, 0), report.failures[:3]
    assert col.ingest(records, window=50).unchanged == n  # re-read through the faults too
    stored = col.get([r["id"] for r in records])
    assert [r.id for r in stored] == [r["id"] for r in records]
    assert all(r.metadata == {"g": int(r.id[1:]) % 4} for r in stored)
    assert col.count() == n and col.count({"g": 0}) == n // 4
    col.close()
    assert sum(proxy.faults.values()) > 15, proxy.faults  # it was really flaky
    assert proxy.requests > 100


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_chroma_through_random_faults_from_the_first_request(
    chroma: tuple[str, int], seed: int
) -> None:
    """A fifth of the requests fail at random (so one call can fail several times in a row),
    from the client's construction on; the default retry budget carries the job through."""
    with fault_proxy(chroma[1], fault_rate=RANDOM_FAULT_RATE, fault_first=1, seed=seed) as proxy:
        settings = load_settings(backend="chroma", chroma={"host": "127.0.0.1", "port": proxy.port})
        _through_a_flaky_network(settings, proxy)


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_pinecone_through_random_faults_from_the_first_request(seed: int) -> None:
    with pinecone_server(DIM) as (host, _):
        port = int(host.rsplit(":", 1)[1])
        with fault_proxy(port, fault_rate=RANDOM_FAULT_RATE, fault_first=1, seed=seed) as proxy:
            settings = load_settings(
                backend="pinecone",
                pinecone={"host": f"http://127.0.0.1:{proxy.port}", "api_key": "k"},
            )
            _through_a_flaky_network(settings, proxy)


def test_chroma_killed_mid_ingest_then_rerun_is_exact(tmp_path: Path) -> None:
    n = 30_000
    source = write_source(tmp_path / "src.jsonl", n)
    data = tmp_path / "server"
    data.mkdir()
    servers: list[subprocess.Popen[bytes]] = []
    with chroma_server(data, procs=servers) as (host, port):
        env = {
            **os.environ,
            "VECSTORE_MODEL": f"hash:{DIM}",
            "VECSTORE_BACKEND": "chroma",
            "VECSTORE_CHROMA__HOST": host,
            "VECSTORE_CHROMA__PORT": str(port),
            "VECSTORE_RETRY__ATTEMPTS": "2",
            "VECSTORE_RETRY__DEADLINE_S": "5",
        }
        with cli("ingest", str(source), "--json", env=env, cwd=tmp_path) as proc:
            time.sleep(3)
            servers[0].send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=300)
        # The run either finished before the kill, or stopped with one clear error line.
        assert "Traceback" not in err
        assert proc.returncode == 0 or err.strip().splitlines()[-1].startswith("error: ")
    with chroma_server(data, port=port) as (host, port):
        with cli("ingest", str(source), "--json", env=env, cwd=tmp_path) as proc:
            out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        report = json.loads(out)
        settings = load_settings(backend="chroma", chroma={"host": host, "port": port})
        col = Collection("default", encoder=HashEncoder(DIM), settings=settings)
        assert col.count() == n
        assert report["unchanged"] + report["written"] == n
        col.close()
