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
        (["query", "x", "--search", "fuzzy"], "search must be one of dense, keyword, hybrid"),
        (["query", "x", "--mmr", "1.5"], "mmr (lambda) must be in [0, 1]"),
        (["query", "x", "--min-score", "nan"], "min_score must be finite"),
        (["query", "x", "--top-k", "5", "--fetch-k", "2"], "fetch_k (2) must be >= top_k (5)"),
        (["query", "x", "--mmr", "0.5", "--rerank", "m"], "give mmr or rerank, not both"),
    ],
)
def test_errors_are_one_line_without_traceback(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_query_ranks_by_keywords_hybrid_mmr_and_a_floor(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "ingest", str(env))
    code, out, _ = run(capsys, "query", "postman", "--search", "keyword", "--json")
    hits = json.loads(out)
    assert code == 0 and [h["id"] for h in hits] == ["two"] and hits[0]["rank_by"] == "keyword"
    assert hits[0]["rank_score"] > 0 and -1 <= hits[0]["score"] <= 1  # BM25 apart from cosine
    code, out, _ = run(capsys, "query", "postman sofa", "--search", "hybrid")
    lines = out.splitlines()
    assert code == 0 and "rank score" in lines[0] and "hybrid" in lines[2]
    code, out, _ = run(capsys, "query", "cats", "--mmr", "0.3", "--top-k", "2", "--json")
    assert [h["rank_by"] for h in json.loads(out)] == ["mmr", "mmr"]
    code, out, _ = run(capsys, "query", "cats", "--json")
    best = json.loads(out)[0]["score"]
    code, out, _ = run(capsys, "query", "cats", "--min-score", str(best), "--json")
    assert [h["score"] >= best for h in json.loads(out)] == [True]


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


@pytest.mark.parametrize(
    "argv",
    [
        ["query", "anything"],
        ["count"],
        ["get", "x"],
        ["info"],
        ["delete", "x"],
        ["pairs"],
        ["upgrade"],
        ["count", "--collection", "misspelt"],
    ],
)
def test_a_missing_collection_is_an_error_naming_it_and_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, *argv)
    name = argv[-1] if "--collection" in argv else "default"
    assert code == 1 and out == "" and err.count("\n") == 1
    assert f"no collection {name!r}" in err and str(tmp_path / "store") in err
    assert "vecstore list" in err
    assert not (tmp_path / "store").exists()  # nothing created


def test_list_version_and_help(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "list", "--json")
    assert code == 0 and json.loads(out)["collections"] == []
    run(capsys, "ingest", str(env))
    run(capsys, "ingest", str(env), "--collection", "second", "--metadata-fields", "topic")
    code, out, err = run(capsys, "list")
    assert code == 0 and "2 collection(s) in the numpy store at" in err
    rows = [line.split() for line in out.splitlines()[2:]]
    assert rows == [["default", "3", "hash:16", "16"], ["second", "3", "hash:16", "16"]]
    listed = json.loads(run(capsys, "list", "--json")[1])
    assert [c["name"] for c in listed["collections"]] == ["default", "second"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("vecstore ")
    with pytest.raises(SystemExit):
        main(["query", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--top-k TOP_K how many records (default: 5)" in text


def test_get_names_ids_that_are_not_there(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "ingest", str(env))
    code, out, err = run(capsys, "get", "two", "nope", "gone", "--json")
    assert code == 1 and [r["id"] for r in json.loads(out)] == ["two"]
    assert "not found in 'default': nope, gone" in err


def test_an_empty_answer_says_so(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "ingest", str(env))
    code, out, err = run(capsys, "query", "cats", "--where", '{"topic": "nothing"}')
    assert code == 0 and "no hits" in err and "holds 3 records" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["query", "  "], "text is empty"),
        (["query", "x", "--top-k", "-1"], "top_k must be an int >= 0"),
        (["query", "x", "--where", '{"year": {"$gt": "a"}}'], "$gt takes a number"),
        (["delete"], "give ids or a non-empty --where"),
        (["pairs", "--top", "0"], "top must be a positive int"),
        (["upgrade", "--batch-size", "0"], "batch_size must be >= 1"),
        (["ingest", "nowhere.jsonl"], "no such file"),
        (["ingest", "data.xml"], "unknown file type"),
    ],
)
def test_argument_errors_come_before_any_store_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and err.count("\n") == 1 and message in err
    assert "no collection" not in err  # the store was never asked
    assert not (tmp_path / "store").exists()


def test_command_line_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["frobnicate"], ["get"], ["count", "--top-k", "3"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        err = capsys.readouterr().err
        assert info.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ")


def test_tsv_ingest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tsv = tmp_path / "rows.tsv"
    tsv.write_text("id\ttext\tlang\nk1\thello, world\ten\n")
    code, _, _ = run(capsys, "ingest", str(tsv), "--quiet")
    assert code == 0
    code, out, _ = run(capsys, "get", "k1", "--json")
    assert json.loads(out)[0] == {"id": "k1", "text": "hello, world", "metadata": {"lang": "en"}}


def test_progress_off_a_terminal_is_plain_lines(tmp_path: Path) -> None:
    import io
    import time

    from vecstore.jobs.progress import IngestProgress
    from vecstore.jobs.report import IngestReport

    stream = io.StringIO()
    with IngestProgress(1000, stream=stream, interval_s=0.05) as watch:
        watch(IngestReport(read=600, unchanged=100, encoded=300, done=400))
        time.sleep(0.2)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3 and "\r" not in stream.getvalue()
    assert lines[0].startswith("ingest: 400/1000 records (40%), 300 encoded at ")
    assert "ETA" in lines[0] and " in 0:00:0" in lines[-1]
    quiet = io.StringIO()
    with IngestProgress(1000, stream=quiet, quiet=True, interval_s=0.01) as watch:
        watch(IngestReport(read=5))
        time.sleep(0.05)
    assert quiet.getvalue() == ""


def test_ingest_from_a_script_prints_progress_lines_on_stderr(env: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("vecstore")
    proc = subprocess.run(
        [str(exe), "ingest", str(env)], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("ingest: 3/3 records (100%), 3 encoded at ")
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr
    quiet = subprocess.run(
        [str(exe), "ingest", str(env), "--quiet"], capture_output=True, text=True, cwd=tmp_path
    )
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_many_queries_from_a_file_one_json_line_each(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "ingest", str(env), "--metadata-fields", "topic,year", "--quiet")
    queries = env.parent / "queries.txt"
    queries.write_text(
        "cats on a sofa\n"
        "\n"
        '{"query": "stocks", "top_k": 1, "where": {"topic": "finance"}}\n'
        "{not json\n"
        '{"query": "x", "color": "red"}\n'
        '{"query": "dogs", "top_k": -2}\n'
        '{"query": "dogs", "search": "keyword"}\n'
    )
    code, out, err = run(capsys, "query", "--queries", str(queries), "--top-k", "2")
    answers = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and [a["line"] for a in answers] == [1, 3, 4, 5, 6, 7]
    assert answers[0]["query"] == "cats on a sofa" and len(answers[0]["hits"]) == 2
    assert [h["id"] for h in answers[1]["hits"]] == ["three"]
    assert "not valid JSON" in answers[2]["error"] and "color" in answers[3]["error"]
    assert "top_k must be an int >= 0" in answers[4]["error"]
    assert answers[5]["hits"][0]["id"] == "two" and answers[5]["hits"][0]["rank_by"] == "keyword"
    assert "line 4: " in err and "3 query line(s) failed" in err
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("cats\ndogs\n"))
    code, out, _ = run(capsys, "query", "--queries", "-", "--top-k", "1")
    assert code == 0 and [len(json.loads(x)["hits"]) for x in out.splitlines()] == [1, 1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["query"], "give a query TEXT or --queries FILE"),
        (["query", "x", "--queries", "q.txt"], "give a query TEXT or --queries FILE"),
        (["query", "--queries", "nope.txt"], "--queries: no such file"),
    ],
)
def test_query_needs_one_text_or_a_queries_file(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and err.count("\n") == 1 and message in err


@pytest.mark.parametrize(
    ("env_vars", "message"),
    [
        ({"VECSTORE_BACKEND": "qdrant"}, "Qdrant needs qdrant.url"),
        (
            {"VECSTORE_BACKEND": "qdrant", "VECSTORE_QDRANT__PATH": ":memory:"},
            "in one process only",
        ),
    ],
)
def test_a_store_with_nowhere_to_write_is_refused(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: Path,
    env_vars: dict[str, str],
    message: str,
) -> None:
    for key, value in env_vars.items():
        monkeypatch.setenv(key, value)
    for argv in (["ingest", str(env)], ["count"], ["list"]):
        code, out, err = run(capsys, *argv)
        assert code == 1 and out == "" and err.count("\n") == 1 and message in err, argv


def test_help_shows_each_default_once() -> None:
    from vecstore.cli.parser import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        text = " ".join(sub.format_help().split())
        assert "(default: None)" not in text and "(default: False)" not in text, name
        for line in text.split(" --"):
            assert line.count("(default") <= 1, (name, line)
