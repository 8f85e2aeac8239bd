"""The nightly job from cron: ``vecstore ingest --source-tag --sync --max-delete``.

Deletions of what the source dropped, a skipped sync that a script notices (exit 3, a line on
stderr saying why), and one meaning of tags for the CLI and the library.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import run
from vecstore import Collection, HashEncoder, load_settings
from vecstore.cli import main

ROWS = [{"id": f"r{i}", "text": f"record {i} about topic {i % 3}", "n": i} for i in range(10)]


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VECSTORE_MODEL", "hash:16")
    monkeypatch.setenv("VECSTORE_NUMPY__PATH", str(tmp_path / "store"))
    return tmp_path


def write(path: Path, rows: list[dict[str, Any]], bad: int = 0) -> Path:
    lines = [json.dumps(r) for r in rows] + ["{not json"] * bad
    path.write_text("\n".join(lines) + "\n")
    return path


def ids(env: Path) -> list[str]:
    col = Collection("default", encoder=HashEncoder(16), settings=load_settings())
    found = sorted(r.id for batch in col.scan() for r in batch)
    col.close()
    return found


def sync(capsys: pytest.CaptureFixture[str], path: Path, *more: str) -> tuple[int, Any, str]:
    code, out, err = run(capsys, "ingest", str(path), "--source-tag", "crm", "--sync", "--json",
                         "--quiet", *more)
    return code, json.loads(out), err


def test_sync_deletes_what_the_source_dropped(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = sync(capsys, write(env / "night1.jsonl", ROWS))
    assert code == 0 and report["written"] == 10 and report["deleted"] == 0
    code, report, err = sync(capsys, write(env / "night2.jsonl", ROWS[:7]))
    assert code == 0 and report["deleted"] == 3 and not report["sync_skipped"]
    assert ids(env) == [f"r{i}" for i in range(7)]
    code, out, _ = run(capsys, "ingest", str(env / "night2.jsonl"), "--source-tag", "crm",
                       "--sync", "--quiet")
    assert code == 0 and "deleted" in out.splitlines()[0]  # the table has the column


def test_a_failed_record_skips_the_sync_loudly(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sync(capsys, write(env / "night1.jsonl", ROWS))
    code, report, err = sync(capsys, write(env / "night2.jsonl", ROWS[:5], bad=1))
    assert code == 3 and report["sync_skipped"] and report["deleted"] == 0
    assert err.count("sync skipped, nothing deleted: 1 record(s) failed") == 1
    assert len(ids(env)) == 10  # nothing deleted


def test_max_delete_guards_a_truncated_source(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sync(capsys, write(env / "night1.jsonl", ROWS))
    code, report, err = sync(capsys, write(env / "cut.jsonl", ROWS[:2]), "--max-delete", "5")
    assert code == 3 and report["sync_skipped"] and report["deleted"] == 0
    assert "would delete 8 records of source 'crm', over max_delete (5)" in err
    assert len(ids(env)) == 10
    code, report, _ = sync(capsys, write(env / "fine.jsonl", ROWS[:6]), "--max-delete", "5")
    assert code == 0 and report["deleted"] == 4


def test_an_untagged_run_keeps_the_tag(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI without a tag over records the library's job tagged: nothing rewritten or lost."""
    col = Collection("default", encoder=HashEncoder(16), settings=load_settings())
    col.ingest(ROWS, source_tag="crm", metadata_fields=["n"])
    col.close()
    path = write(env / "same.jsonl", ROWS)
    code, out, _ = run(capsys, "ingest", str(path), "--metadata-fields", "n", "--json", "--quiet")
    report = json.loads(out)
    assert code == 0 and report["unchanged"] == 10 and report["written"] == 0
    code, report, _ = sync(capsys, write(env / "less.jsonl", ROWS[:9]), "--metadata-fields", "n")
    assert code == 0 and report["deleted"] == 1 and report["unchanged"] == 9  # still its own


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sync"], "--sync needs --source-tag"),
        (["--source-tag", "a", "--max-delete", "3"], "--max-delete limits --sync"),
    ],
)
def test_sync_arguments_are_checked_first(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "ingest", str(write(env / "x.jsonl", ROWS)), *argv)
    assert code == 1 and out == "" and err.count("\n") == 1 and message in err
    assert not (env / "store").exists()


@pytest.mark.parametrize("value", ["-1", "many", "2.5"])
def test_max_delete_must_be_a_count(
    env: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    path = write(env / "x.jsonl", ROWS)
    with pytest.raises(SystemExit) as info:
        main(["ingest", str(path), "--source-tag", "a", "--sync", "--max-delete", value])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and "--max-delete" in err
