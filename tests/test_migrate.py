"""Migration between backends without re-encoding: NumPy to Qdrant local and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_collection
from vecstore import Collection, HashEncoder, IncompatibleCollection, load_settings
from vecstore.cli import main
from vecstore.jobs.migrate import migrate

pytest.importorskip("qdrant_client", reason="qdrant-client is not installed (vecstore[qdrant])")


def test_numpy_to_qdrant_and_back(tmp_path: Path) -> None:
    source = make_collection(tmp_path / "np", "src")
    source.upsert(
        [f"record {i} about {i % 5}" for i in range(2500)],
        metadata=[{"n": i, "tags": ["a", f"t{i % 3}"]} for i in range(2500)],
    )
    qdrant = Collection(
        "copy",
        encoder=HashEncoder(32),
        settings=load_settings(backend="qdrant", qdrant={"path": str(tmp_path / "q")}),
    )
    report = migrate(source, qdrant, batch_size=700)
    assert report.ok and report.copied == 2500 and report.sampled == 20
    (one,) = qdrant.get(["" + source.get(source.upsert(["record 7 about 2"]))[0].id])
    assert one.metadata == {"n": 7, "tags": ["a", "t1"]}
    back = make_collection(tmp_path / "np2", "back")
    again = migrate(qdrant, back)
    assert again.ok and back.count() == 2500
    # content hashes travel along: ingesting the same record into the copy changes nothing
    assert (
        back.ingest([{"id": one.id, "text": one.text, "n": 7, "tags": ["a", "t1"]}]).unchanged == 1
    )
    for col in (source, qdrant, back):
        col.close()


def test_model_mismatch_is_refused(tmp_path: Path) -> None:
    a = make_collection(tmp_path / "a", "a", dim=32)
    b = make_collection(tmp_path / "b", "b", dim=16)
    with pytest.raises(IncompatibleCollection):
        migrate(a, b)
    a.close()
    b.close()


def test_cli_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VECSTORE_MODEL", "hash:16")
    monkeypatch.setenv("VECSTORE_NUMPY__PATH", str(tmp_path / "store"))
    (tmp_path / "target.toml").write_text(f'[qdrant]\npath = "{tmp_path / "q"}"\n')
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": i, "text": f"text {i}"}) + "\n" for i in range(50)))
    assert main(["ingest", str(data)]) == 0
    capsys.readouterr()
    code = main(["migrate", "--to-backend", "qdrant", "--to-config", "target.toml", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"] and report["target_count"] == 50
