"""Real servers the integration tests start and stop themselves, on loopback only."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"no answer from {url} after {START_TIMEOUT_S}s: {log.read_text()[-2000:]}")


@contextmanager
def chroma_server(
    data: Path, port: int | None = None, procs: list[subprocess.Popen[bytes]] | None = None
) -> Iterator[tuple[str, int]]:
    """``chroma run`` on loopback (a free port unless given); yields (host, port).

    ``procs`` receives the server process, for tests that kill it.
    """
    port = port or free_port()
    exe = Path(sys.executable).with_name("chroma")
    log = data / "chroma.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(exe),
                "run",
                "--path",
                str(data / "db"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if procs is not None:
        procs.append(proc)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, log)
        yield "127.0.0.1", port
    finally:
        close_chroma_sessions()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def close_chroma_sessions() -> None:
    """Close the HTTP sessions chromadb caches per server for the life of the process."""
    from chromadb.api import ServerAPI
    from chromadb.api.shared_system_client import SharedSystemClient

    for system in list(SharedSystemClient._identifier_to_system.values()):
        session = getattr(system.instance(ServerAPI), "_session", None)
        if session is not None:
            session.close()
    SharedSystemClient.clear_system_cache()
