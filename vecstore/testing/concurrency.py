"""One Collection shared by threads and by asyncio tasks: nothing acknowledged is lost.

Part of the contract every backend keeps (:class:`~vecstore.testing.conformance.BackendContract`).
Besides ``make_collection``, the contract needs ``reopen_collection``: a callable that closes a
Collection and opens the same stored collection anew (a fresh client, fresh files), so that what
the threads were told was written is checked where it was really kept. The default closes it
and calls ``make_collection`` with its name; a module whose ``make_collection`` gives each call
a unique name (to keep server tests apart) overrides it.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from vecstore.collection import Collection
from vecstore.errors import VecstoreError

MakeCollection = Callable[[str], Collection]
ReopenCollection = Callable[[Collection], Collection]

THREADS = 8
OPS_PER_THREAD = 14
SEEDS = 40
ASYNC_CALLS = 240


def text_of(rid: str) -> str:
    """The text a record of these tests carries: derived from its id, so a torn read shows."""
    return f"record {rid} words {len(rid) % 7} shared"


@dataclass
class Ledger:
    """What the callers were told: written ids with their metadata, and deleted ids."""

    written: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrote(self, ids: list[str], metas: list[dict[str, Any]]) -> None:
        with self.lock:
            self.written.update(zip(ids, metas, strict=True))

    def gone(self, ids: list[str]) -> None:
        with self.lock:
            self.deleted.update(ids)


def searches(col: Collection) -> list[dict[str, Any]]:
    """Query options to take turns with: keyword and hybrid where the store ranks keywords."""
    out: list[dict[str, Any]] = [{}, {"mmr": 0.5}]
    if col.backend.abilities.keyword is not None:
        out += [{"search": "keyword"}, {"search": "hybrid"}]
    return out


def check_hits(col: Collection, query: str, options: dict[str, Any]) -> None:
    """Every hit is one whole record: its text and metadata belong to its id."""
    for hit in col.query(query, top_k=5, **options):
        assert hit.text == text_of(hit.id), f"torn record {hit.id}: text {hit.text!r}"
        assert hit.metadata.get("rid") == hit.id, f"torn record {hit.id}: {hit.metadata}"


def seed(col: Collection, ledger: Ledger) -> list[str]:
    """Records that only deletes touch."""
    ids = [f"seed-{i}" for i in range(SEEDS)]
    metas = [{"rid": rid, "seed": True} for rid in ids]
    col.upsert([text_of(i) for i in ids], ids=ids, metadata=metas)
    ledger.wrote(ids, metas)
    return ids


def verify(col: Collection, ledger: Ledger, seeds: list[str]) -> None:
    """After a fresh open: every acknowledged write there, every acknowledged delete gone."""
    alive = {rid: meta for rid, meta in ledger.written.items() if rid not in ledger.deleted}
    assert col.count() == len(alive)
    got = {r.id: r for r in col.get(sorted(ledger.written))}
    assert set(got) == set(alive), (
        f"missing {sorted(set(alive) - set(got))[:5]}, not deleted "
        f"{sorted(set(got) - set(alive))[:5]}"
    )
    for rid, meta in alive.items():
        assert got[rid].metadata == meta and got[rid].text == text_of(rid)
    assert col.count({"seed": True}) == len([s for s in seeds if s not in ledger.deleted])


class ConcurrencyContract:
    """Many threads, then many asyncio tasks, on one Collection; then a fresh open checks it."""

    @pytest.fixture
    def reopen_collection(self, make_collection: MakeCollection) -> ReopenCollection:
        def reopen(col: Collection) -> Collection:
            col.close()
            return make_collection(col.name)

        return reopen

    def _worker(self, col: Collection, ledger: Ledger, n: int, mine: list[str]) -> None:
        rng = random.Random(n)
        try:
            for op in range(OPS_PER_THREAD):
                kind = rng.choice(["upsert", "upsert", "query", "get", "count", "delete"])
                if kind == "upsert":
                    ids = [f"t{n}-{op}-{k}" for k in range(rng.randint(1, 6))]
                    metas = [{"rid": rid, "thread": n, "op": op} for rid in ids]
                    col.upsert([text_of(i) for i in ids], ids=ids, metadata=metas)
                    ledger.wrote(ids, metas)
                elif kind == "query":
                    options = rng.choice(searches(col))
                    check_hits(col, f"record t{rng.randrange(THREADS)} shared", options)
                elif kind == "get":
                    for record in col.get([f"t{n}-{rng.randrange(op + 1)}-0", "seed-1"]):
                        assert record.metadata["rid"] == record.id
                elif kind == "count":
                    assert col.count() >= 0 and col.count({"thread": n}) >= 0
                elif mine:
                    doomed = [mine.pop()]
                    col.delete(doomed)
                    ledger.gone(doomed)
        except BaseException as exc:  # collected: the test fails on any of them below
            ledger.errors.append(exc)

    def test_threads_share_one_collection(
        self, make_collection: MakeCollection, reopen_collection: ReopenCollection
    ) -> None:
        col = make_collection("threads")
        ledger = Ledger()
        seeds = seed(col, ledger)
        shares = [seeds[i::THREADS] for i in range(THREADS)]
        workers = [
            threading.Thread(target=self._worker, args=(col, ledger, n, shares[n]))
            for n in range(THREADS)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        foreign = [e for e in ledger.errors if not isinstance(e, VecstoreError | AssertionError)]
        assert not foreign, f"exceptions from outside the vecstore tree: {foreign[:3]!r}"
        assert not ledger.errors, f"{len(ledger.errors)} calls failed: {ledger.errors[:3]!r}"
        col.delete(where={"thread": 0})  # a filtered delete, amid nothing: still exact
        ledger.gone([rid for rid, m in ledger.written.items() if m.get("thread") == 0])
        verify(reopen_collection(col), ledger, seeds)

    def test_asyncio_gather_of_mixed_calls(
        self, make_collection: MakeCollection, reopen_collection: ReopenCollection
    ) -> None:
        col = make_collection("asyncio")
        ledger = Ledger()
        seeds = seed(col, ledger)

        modes = searches(col)

        async def one(i: int) -> None:
            kind = i % 6
            if kind in (0, 1):
                ids = [f"a{i}-{k}" for k in range(3)]
                metas = [{"rid": rid, "task": i} for rid in ids]
                assert await col.aupsert([text_of(r) for r in ids], ids, metas) == ids
                ledger.wrote(ids, metas)
            elif kind == 2:
                options = modes[(i // 6) % len(modes)]
                for hit in await col.aquery(f"record a{i} shared", top_k=3, **options):
                    assert hit.metadata["rid"] == hit.id
            elif kind == 3:
                assert [r.id for r in await col.aget(["seed-0", "nope"])] in (["seed-0"], [])
            elif kind == 4:
                assert await col.acount() >= 0
            elif i // 6 < len(seeds):
                await col.adelete([seeds[i // 6]])
                ledger.gone([seeds[i // 6]])

        async def run() -> None:
            results = await asyncio.gather(
                *(one(i) for i in range(ASYNC_CALLS)), return_exceptions=True
            )
            failed = [r for r in results if isinstance(r, BaseException)]
            assert not failed, f"{len(failed)} async calls failed: {failed[:3]!r}"
            async with reopen_collection(col) as fresh:
                verify(fresh, ledger, seeds)
                assert await fresh.acount() == fresh.count()

        asyncio.run(run())
