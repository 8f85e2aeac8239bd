"""A collection written by the previous release opens, answers as it did, and takes writes.

``tests/fixtures/numpy-format2`` was written by vecstore at commit 2a6125b (before the NumPy
store became a subpackage), with ``answers.json`` holding what that release answered: a
change to the store's code that changes a stored file's meaning, or an answer, fails here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.conftest import make_collection
from vecstore.collection import Collection

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "numpy-format2"


def populate(col: Collection) -> None:
    """Several segments, dead rows, lists, bools, floats, texts of many words, an update."""
    for batch in range(4):
        texts = [f"record {batch} {i} about {'solar wind' if i % 3 else 'tidal power'}"
                 for i in range(25)]
        metas: list[dict[str, Any]] = [
            {"batch": batch, "i": i, "w": i / 4, "even": i % 2 == 0, "tags": ["x", f"t{i % 4}"]}
            for i in range(25)
        ]
        col.upsert(texts, ids=[f"b{batch}-{i}" for i in range(25)], metadata=metas)
    col.delete([f"b1-{i}" for i in range(0, 25, 5)])
    col.delete(where={"batch": 3, "i": {"$gte": 20}})
    col.update_metadata(["b0-1", "b2-2"], [{"batch": 9, "note": "moved"}, {}])
    col.upsert(["replaced text about tidal power"], ids=["b2-3"], metadata=[{"batch": 2}])


def answers(col: Collection) -> list[Any]:
    """What a reader can ask, as plain JSON values (scores rounded to 5 places)."""

    def hits(found: list[Any]) -> list[Any]:
        return [[h.id, round(h.score, 5)] for h in found]

    return [
        col.count(),
        col.count({"batch": 2}),
        col.count({"tags": "t1", "w": {"$lt": 3.0}, "even": False}),
        col.count({"note": {"$exists": True}}),
        [[r.id, r.text, r.metadata] for r in col.get(["b0-1", "b1-0", "b2-3", "b3-24", "nope"])],
        hits(col.query("record 1 7 solar", top_k=5)),
        hits(col.query("tidal power", top_k=5, where={"batch": {"$in": [0, 2]}})),
        hits(col.query("tidal power record 2", top_k=5, search="keyword")),
        hits(col.query("solar wind 3", top_k=5, search="hybrid")),
        sorted(r.id for batch in col.scan(batch_size=17) for r in batch),
    ]


def test_a_collection_of_the_previous_release_answers_as_it_did(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "store")
    expected = json.loads((tmp_path / "store" / "answers.json").read_text())
    col = make_collection(tmp_path / "store", "written")
    assert json.loads(json.dumps(answers(col))) == expected
    assert col.upgrade() == 0  # already current: nothing to rewrite
    col.upsert(["a new record about solar wind"], ids=["new"], metadata=[{"batch": 5}])
    col.delete(["b0-0"])
    col.close()
    col = make_collection(tmp_path / "store", "written")
    assert col.count() == expected[0] and col.get(["new"])[0].metadata == {"batch": 5}
    assert [h.id for h in col.query("a new record about solar wind", top_k=1)] == ["new"]
    col.close()
