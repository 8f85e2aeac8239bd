"""Several processes writing one NumPy collection: writers take turns, readers never block,
and a writer killed mid-write holds nothing up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests import store_files
from tests.conftest import DIM, make_collection

REPO = Path(__file__).resolve().parents[1]
WRITERS = 6
BATCHES = 12
BATCH = 25


def writer_script(store: Path, tag: str, batches: int, batch: int) -> str:
    """A process that writes ``batches`` upserts and prints each acknowledged batch number."""
    return textwrap.dedent(f"""
        from pathlib import Path
        from tests.conftest import make_collection
        col = make_collection(Path({str(store)!r}))
        print("ready", flush=True)
        for i in range({batches}):
            ids = [f"{tag}-{{i}}-{{j}}" for j in range({batch})]
            col.upsert([f"text of {{rid}}" for rid in ids], ids=ids,
                       metadata=[{{"writer": {tag!r}, "batch": i}}] * {batch})
            print(i, flush=True)
        col.close()
    """)


def spawn(script: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_several_processes_write_at_once(store_path: Path) -> None:
    procs = [spawn(writer_script(store_path, f"w{n}", BATCHES, BATCH)) for n in range(WRITERS)]
    reader = make_collection(store_path)
    seen = []
    while any(p.poll() is None for p in procs):
        seen.append(reader.count())  # a reader in the middle of it all: never blocked, never torn
        assert seen[-1] % BATCH == 0, seen[-1]
        time.sleep(0.01)
    for proc in procs:
        out, err = proc.communicate()
        assert proc.returncode == 0, err
        assert out.split()[-1] == str(BATCHES - 1)
    assert seen == sorted(seen)
    assert reader.count() == WRITERS * BATCHES * BATCH
    for n in range(WRITERS):
        assert reader.count({"writer": f"w{n}"}) == BATCHES * BATCH
    reader.close()


def test_a_writer_killed_mid_write_holds_nothing_up(store_path: Path) -> None:
    big = 20_000  # rows per write of the victim: most of its life is spent writing
    victim = spawn(writer_script(store_path, "victim", 1000, big))
    assert victim.stdout is not None and victim.stdout.readline().strip() == "ready"
    acked = [int(victim.stdout.readline())]  # it has written once; now kill it in a later write
    others = [spawn(writer_script(store_path, f"w{n}", BATCHES, BATCH)) for n in range(3)]
    time.sleep(0.3)
    os.kill(victim.pid, signal.SIGKILL)
    rest, _ = victim.communicate()
    acked += [int(line) for line in rest.split()]
    for proc in others:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    col = make_collection(store_path)
    victims = col.count({"writer": "victim"})
    assert victims % big == 0 and victims // big >= len(acked)  # every acknowledged batch kept
    assert col.count() == victims + 3 * BATCHES * BATCH
    started = time.monotonic()
    col.upsert(["after the kill"], ids=["after"])  # the lock died with its holder
    assert time.monotonic() - started < 5
    directory = store_path / "test"
    # Its half-written files removed, its appended rows cut off.
    assert store_files.on_disk(directory) == store_files.listed(directory)
    assert store_files.committed_sizes_match(directory, DIM)
    assert col.count() == victims + 3 * BATCHES * BATCH + 1
    col.close()
