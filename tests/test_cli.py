"""The vecstore command, run in-process against a temporary store with the hash encoder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vecstore.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VECSTORE_MODEL", "hash:16")
    monkeypatch.setenv("VECSTORE_NUMPY__PATH", str(tmp_path / "store"))
    data = tmp_path / "data.jsonl"
    data.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": 1, "text": "cats purr on the sofa", "topic": "pets", "year": 2020},
                {"id": "two", "text": "dogs bark at the postman", "topic": "pets", "year": 2022},
                {"id": "three", "text": "stocks fell on monday", "topic": "finance", "year": 2021},
            ]
        )
        + "\n"
    )
    return data


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_query_get_count_delete_info(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ingest", str(env), "--metadata-fields", "topic,year", "--json")
    assert code == 0 and json.loads(out)["written"] == 3
    code, out, _ = run(capsys, "query", "cats on a sofa", "--top-k", "2", "--json")
    hits = json.loads(out)
    assert code == 0 and hits[0]["id"] == "1" and len(hits) == 2
    assert hits[0]["metadata"] == {"topic": "pets", "year": 2020}
    code, out, _ = run(capsys, "query", "anything", "--where", '{"topic": "finance"}')
    assert code == 0 and "three" in out and "score" in out.splitlines()[0]
    code, out, _ = run(capsys, "count", "--where", '{"year": {"$gte": 2021}}')
    assert out.strip() == "2"
    code, out, _ = run(capsys, "get", "two", "missing", "--json")
    assert [r["id"] for r in json.loads(out)] == ["two"]
    code, out, _ = run(capsys, "delete", "two", "nope")
    assert code == 0 and "deleted 1" in out
    code, out, _ = run(capsys, "info", "--json")
    info = json.loads(out)
    assert info["count"] == 2 and info["model"] == "hash:16" and info["backend"] == "numpy"
    code, out, err = run(capsys, "info", "--collection", "other")
    assert code == 1 and out == "" and "no collection" in err and "other" in err
    assert not (env.parent / "store" / "other").exists()  # info creates nothing


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["query", "x", "--where", "{bad json"], "--where is not valid JSON"),
        (["query", "x", "--where", '{"a": {"$regex": 1}}'], "unknown operator '$regex'"),
        (["query", "x", "--top-k", "-1"], "top_k must be an int >= 0"),
        (["ingest", "missing.jsonl"], "no such file"),
        (["ingest", "data.txt"], "unknown file type"),
        (["count", "--collection", "../escape"], "collection name '../escape'"),
        (["count", "--config", "nope.toml"], "cannot read config file"),
    ],
)
def test_errors_are_one_line_without_traceback(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_bad_records_are_dead_lettered_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": ""}\n{"id": \n')
    code, out, err = run(capsys, "ingest", str(bad), "--json")
    report = json.loads(out)
    assert code == 2 and (report["written"], report["failed"]) == (1, 2)
    assert "line 2" in err and "'text'" in err and "line 3: not valid JSON" in err
    dead = [json.loads(x) for x in (tmp_path / "bad.dead.jsonl").read_text().splitlines()]
    assert [d["where"] for d in dead] == ["line 2", "line 3"]
    code, out, _ = run(capsys, "count")
    assert out.strip() == "1"


def test_dry_run_and_rerun(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ingest", str(env), "--dry-run")
    assert code == 0 and "dry run" in out
    code, out, err = run(capsys, "count")  # a dry run writes nothing, and makes no collection
    assert code == 1 and "no collection 'default'" in err
    run(capsys, "ingest", str(env))
    code, out, _ = run(capsys, "ingest", str(env), "--json")
    again = json.loads(out)
    assert (again["unchanged"], again["written"]) == (3, 0)


def test_csv_ingest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("key,body,lang\nk1,hello world,en\nk2,hallo welt,\n")
    code, _, _ = run(capsys, "ingest", str(csv_file), "--id-field", "key", "--text-field", "body")
    assert code == 0
    code, out, _ = run(capsys, "get", "k1", "k2", "--json")
    assert [r["metadata"] for r in json.loads(out)] == [{"lang": "en"}, {}]


def test_console_script_runs_as_a_process(env: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("vecstore")
    assert exe.exists(), "the console script is installed with the package"
    proc = subprocess.run(
        [str(exe), "ingest", str(env)],
        capture_output=True,
        text=True,
        env={**os.environ},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "written" in proc.stdout
    proc = subprocess.run(
        [str(exe), "query", "x", "--top-k", "-1"],
        capture_output=True,
        text=True,
        env={**os.environ},
        cwd=tmp_path,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_pairs_command(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "ingest", str(env))
    code, out, _ = run(capsys, "pairs", "--top", "2", "--json")
    pairs = json.loads(out)
    assert code == 0 and len(pairs) == 2 and pairs[0]["score"] >= pairs[1]["score"]
    assert {pairs[0]["a"], pairs[0]["b"]} <= {"1", "two", "three"}
    code, out, _ = run(capsys, "pairs", "--threshold", "-1", "--where", '{"topic": "pets"}')
    assert code == 0 and len(out.strip().splitlines()) == 3  # header, rule, one pair
    code, _, err = run(capsys, "pairs", "--top", "0")
    assert code == 1 and "top must be a positive int" in err
    code, _, err = run(capsys, "pairs", "--threshold", "2")
    assert code == 1 and "within [-1, 1]" in err


def test_upgrade_command(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "upgrade", "--collection", "nowhere")
    assert code == 1 and "nowhere" in err  # nothing to upgrade is not created
    run(capsys, "ingest", str(env))
    code, out, _ = run(capsys, "upgrade", "--json")
    assert code == 0 and json.loads(out)["upgraded"] == 0  # the NumPy store needs no facts
    code, _, err = run(capsys, "upgrade", "--batch-size", "0")
    assert code == 1 and "batch_size" in err
