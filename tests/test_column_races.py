"""Filter columns shared by reader threads: built once, and a shared cache never raises."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vecstore.adapters.numpy.columns import Column, ColumnIndex
from vecstore.filters import parse

METAS = [{"k": f"v{i % 5}", "n": i} for i in range(50)]


class _ClearedRightAfterAReader(dict[Any, Any]):
    """A cache that another thread clears just after a reader has looked into it."""

    def __contains__(self, key: object) -> bool:
        found = super().__contains__(key)
        self.clear()
        return found

    def get(self, key: Any, default: Any = None) -> Any:
        found = super().get(key, default)
        self.clear()
        return found


def test_a_string_code_survives_a_clear_between_look_and_read() -> None:
    column = ColumnIndex.of_metadata(METAS).column("k")
    assert column is not None
    vocab = column.vocab
    expected = vocab.code("v3")
    vocab._found = _ClearedRightAfterAReader({"v3": expected})
    assert vocab.code("v3") == expected  # a test-then-read would raise KeyError here


def test_a_column_is_built_once_while_threads_ask_for_it() -> None:
    built = ColumnIndex.of_metadata(METAS).column("k")
    calls: list[str] = []
    release = threading.Event()

    def slow_source(key: str) -> Column | None:
        calls.append(key)
        release.wait(5)
        return built if key == "k" else None

    index = ColumnIndex(len(METAS), slow_source)
    node = parse({"k": "v2"})
    assert node is not None
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(index.evaluate, node) for _ in range(8)]
        release.wait(0.3)  # every thread is inside column() by now
        release.set()
        masks = [f.result(timeout=10).tolist() for f in futures]
    assert calls == ["k"]
    assert masks == [[m["k"] == "v2" for m in METAS]] * 8
