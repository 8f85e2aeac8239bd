"""Configuration: environment, TOML file, overrides, precedence, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from vecstore import ConfigError, load_settings, open_collection

TOML = """
backend = "numpy"
collection = "from_file"
model = "hash:8"
[numpy]
path = "{path}"
[pinecone]
api_key = "file-secret"
namespace = "ns"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("VECSTORE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    s = load_settings()
    assert (s.backend, s.collection, s.model) == (
        "numpy",
        "default",
        "sentence-transformers/all-MiniLM-L6-v2",
    )
    assert s.numpy.path == Path(".vecstore")


def test_precedence_override_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "conf.toml"
    cfg.write_text(TOML.format(path=tmp_path / "file"))
    s = load_settings(cfg)
    assert s.collection == "from_file" and s.numpy.path == tmp_path / "file"
    monkeypatch.setenv("VECSTORE_COLLECTION", "from_env")
    monkeypatch.setenv("VECSTORE_NUMPY__PATH", str(tmp_path / "env"))
    s = load_settings(cfg)
    assert s.collection == "from_env" and s.numpy.path == tmp_path / "env"
    assert s.model == "hash:8"  # the file still fills what the environment leaves out
    s = load_settings(cfg, collection="from_kwarg")
    assert s.collection == "from_kwarg"


def test_vecstore_toml_in_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / "vecstore.toml").write_text(TOML.format(path=tmp_path / "cwd"))
    assert load_settings().collection == "from_file"


def test_secrets_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECSTORE_PINECONE__API_KEY", "env-secret-value")
    monkeypatch.setenv("VECSTORE_QDRANT__API_KEY", "qdrant-secret-value")
    s = load_settings()
    assert s.pinecone.api_key is not None
    assert s.pinecone.api_key.get_secret_value() == "env-secret-value"
    for text in (repr(s), str(s), s.model_dump_json()):
        assert "env-secret-value" not in text and "qdrant-secret-value" not in text


@pytest.mark.parametrize("bad", ["[numpy]\npath = 3\nbogus = 1", "backend = ", "model = 3"])
def test_bad_file_is_config_error(tmp_path: Path, bad: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(bad)
    with pytest.raises(ConfigError):
        load_settings(cfg)


def test_missing_file_and_unknown_backend(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="unknown backend 'nosuch'"):
        open_collection("x", backend="nosuch", model="hash:8")
    with pytest.raises(ConfigError, match="chroma.port"):
        load_settings(chroma={"port": "bad-port"})


def test_open_collection_from_configuration_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VECSTORE_MODEL", "hash:8")
    monkeypatch.setenv("VECSTORE_NUMPY__PATH", str(tmp_path / "data"))
    monkeypatch.setenv("VECSTORE_COLLECTION", "jobs")
    with open_collection() as col:
        col.upsert(["configured only"])
        assert col.describe()["path"] == str(tmp_path / "data" / "jobs")
    assert (tmp_path / "data" / "jobs" / "manifest.json").exists()


SECRET = "sk-live-0123456789abcdef"


def _everything_said(exc: BaseException) -> str:
    """Every string an error could be shown as: itself, its chain, a formatted traceback."""
    import traceback

    seen: list[str] = []
    link: BaseException | None = exc
    while link is not None:
        seen += [str(link), repr(link), repr(link.args)]
        link = link.__cause__ or link.__context__
    seen.append("".join(traceback.format_exception(exc)))
    return "\n".join(seen)


@pytest.mark.parametrize(
    ("env", "toml", "overrides"),
    [
        ({"VECSTORE_PINECONE__APIKEY": SECRET}, None, {}),  # misspelt key
        ({"VECSTORE_QDRANT__APIKEY": SECRET, "VECSTORE_QDRANT__URL": "http://q"}, None, {}),
        ({}, f'[pinecone]\napi_key = ["{SECRET}"]\n', {}),
        ({}, f'[pinecone]\napikey = "{SECRET}"\n', {}),
        ({}, f'api_key = "{SECRET}"\n', {}),
        ({}, None, {"pinecone": {"api_key": [SECRET]}}),
        ({}, None, {"pinecone": {"api_key": SECRET, "hots": "x"}}),
        ({}, None, {"pinecone": {"api_key": SECRET}, "retry": {"attempts": "many"}}),
    ],
)
def test_secrets_never_leak_from_a_bad_configuration(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    toml: str | None,
    overrides: dict[str, object],
) -> None:
    from vecstore.cli import main

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = None
    if toml is not None:
        config = tmp_path / "bad.toml"
        config.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(config, **overrides)
    said = _everything_said(info.value)
    assert SECRET not in said and info.value.__cause__ is None and info.value.__context__ is None
    argv = ["count", *(["--config", str(config)] if config else [])]
    if not overrides:  # the CLI reads the same sources
        assert main(argv) == 1
        out, err = capsys.readouterr()
        assert SECRET not in out + err and err.startswith("error: invalid configuration")
    assert all(SECRET not in r.getMessage() for r in caplog.records)


def test_secrets_never_leak_from_a_refused_request() -> None:
    """A store that refuses the key: the error names the store, never the key."""
    pytest.importorskip("pinecone", reason="the pinecone extra is not installed")
    from vecstore import StoreError

    with pytest.raises(StoreError) as info:
        open_collection(
            "c",
            backend="pinecone",
            model="hash:8",
            pinecone={"host": "http://127.0.0.1:9", "api_key": SECRET},
            retry={"deadline_s": 0.5},
        )
    assert SECRET not in _everything_said(info.value)
