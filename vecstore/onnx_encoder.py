"""ONNX Runtime in place of the model's torch forward pass; everything else stays the model's.

Texts are sorted by length and cut into batches as sentence-transformers does, and each batch is
tokenised by the model's own preprocessing (its tokenizer, ``max_seq_length`` truncation and
prompts); only the forward pass (transformer, pooling, dense layers, normalisation: the graph
of :mod:`vecstore.onnx_export`) runs on ONNX Runtime, so the vectors agree with the model's fp32
ones to float rounding. The session uses ``threads`` intra-op threads (None: onnxruntime's own
choice, one per core), with every graph optimisation on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vecstore.onnx_export import Exported
from vecstore.records import Vectors

BATCH_SIZE = 4
"""Texts per session run, in length order. Small batches waste no padding; measured on 2,000
standard-library docstrings with MiniLM on 2 cores (benchmarks/bench_encode.py): batch 4 ran
1.3x faster than batch 32, batch 1 slower again (per-run overhead)."""


def session(exported: Exported, threads: int | None) -> Any:
    """An onnxruntime CPU session over the exported graph."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads is not None:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # warnings and worse only: its info lines are noise in a job
    return ort.InferenceSession(
        str(exported.path), sess_options=options, providers=["CPUExecutionProvider"]
    )


class OnnxRunner:
    """Encodes with a loaded sentence-transformers model's preprocessing and an ONNX session."""

    def __init__(self, model: Any, exported: Exported, runtime_session: Any) -> None:
        self.model = model
        self.inputs = exported.inputs
        self.session = runtime_session

    def encode(self, texts: Sequence[str], prompt: str, batch_size: int = BATCH_SIZE) -> Vectors:
        """Unit vectors of ``texts`` (with ``prompt`` before each, as the model puts it)."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), 0), np.float32)
        parts: list[Vectors] = []
        for start in range(0, len(texts), batch_size):
            batch = [texts[i] for i in order[start : start + batch_size]]
            features = self.model.preprocess(batch, prompt=prompt or None)
            feed = {name: features[name].numpy() for name in self.inputs}
            parts.append(self.session.run(None, feed)[0])
        if parts:
            out = np.concatenate(parts).astype(np.float32, copy=False)
        result = np.empty_like(out)
        result[order] = out
        norms = np.linalg.norm(result.astype(np.float64), axis=1, keepdims=True)
        return (result / np.where(norms > 0, norms, 1.0)).astype(np.float32)
