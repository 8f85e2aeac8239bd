"""A model's own text preprocessing without torch, and reading only what the model reads.

**Without torch.** sentence-transformers tokenises with the model's fast tokenizer, which is
the ``tokenizers`` library over the model's ``tokenizer.json``, set up by the model's files: the
maximum sequence length (``sentence_bert_config.json``, capped by the transformer's position
embeddings), lower-casing (``do_lower_case``), padding to the longest text on the right, and
truncation. :class:`TextTokenizer` sets up the same library from the same files, so a process
that only queries (``vecstore query``) needs neither torch nor sentence-transformers. A
``tokenizer.json`` may carry truncation and padding of its own (all-MiniLM-L6-v2's says 128
tokens, fixed): they are replaced, as sentence-transformers replaces them. Only the plain text
chain is taken (a Transformer module first, right padding, no chat template); anything else
returns None from :func:`text_tokenizer` and the model loads as before. Whether it gives the
model's own features is checked against the loaded model when the ONNX graph is exported
(:func:`agrees`), and only a graph with that check passed is used without torch.

**Only what is read.** A text longer than the model reads is cut by characters before it is
tokenised (:func:`readable`): at a whitespace, at a bound that grows until the part kept alone
holds more tokens than the model reads. Tokenisers split words at whitespace, so the tokens of
the part kept are the first tokens of the whole text, and the model's truncation gives the same
tokens either way; whether the text was too long is known exactly from the part kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vecstore.model_files import json_object

CHARS_PER_TOKEN = 8
"""The first character bound, per token the model reads (then four times more each round)."""
TRANSFORMER_TYPES = frozenset(
    {
        "sentence_transformers.models.Transformer",
        "sentence_transformers.base.modules.transformer.Transformer",
        "sentence_transformers.sentence_transformer.modules.Transformer",
    }
)
_SPACE = re.compile(r"\s")


def readable(text: str, limit: int, count: Callable[[str], int]) -> tuple[str, bool]:
    """(the part of ``text`` to tokenise, whether ``text`` holds more than ``limit`` tokens).

    ``count`` gives a text's tokens as the model counts them (special tokens and prompt
    included). A text within the first bound is returned whole; see the module docstring.
    """
    bound = limit * CHARS_PER_TOKEN
    while bound < len(text):
        cut = _last_space(text, bound)
        if cut > 0:
            part = text[:cut]
            if count(part) > limit:
                return part, True
        bound *= 4
    return text, count(text) > limit


def _last_space(text: str, bound: int) -> int:
    """The position of the last whitespace before ``bound`` in its second half, else 0."""
    for at in range(bound - 1, bound // 2, -1):
        if _SPACE.match(text, at):
            return at
    return 0


@dataclass(frozen=True, slots=True)
class TextSettings:
    """What the model's files say about tokenising its texts."""

    tokenizer_file: Path
    max_length: int
    lowercase: bool
    pad_token: str


def text_settings(directory: Path) -> TextSettings | None:
    """The plain text chain's settings from a model directory; None for anything else."""
    modules = _modules(directory)
    if not modules or modules[0].get("type") not in TRANSFORMER_TYPES:
        return None
    base = directory / str(modules[0].get("path", ""))
    tokenizer_file = base / "tokenizer.json"
    st_config = json_object(base / "sentence_bert_config.json")
    tok_config = json_object(base / "tokenizer_config.json")
    config = json_object(base / "config.json")
    if not tokenizer_file.is_file() or tok_config.get("chat_template"):
        return None
    if tok_config.get("padding_side", "right") != "right":
        return None
    max_length = st_config.get("max_seq_length") or tok_config.get("model_max_length")
    positions = config.get("max_position_embeddings")
    if not isinstance(max_length, int) or max_length <= 0:
        return None
    if isinstance(positions, int) and positions > 0:
        max_length = min(max_length, positions)
    pad = tok_config.get("pad_token", "[PAD]")
    if isinstance(pad, dict):
        pad = pad.get("content")
    if not isinstance(pad, str):
        return None
    return TextSettings(tokenizer_file, max_length, bool(st_config.get("do_lower_case")), pad)


def _modules(directory: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads((directory / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []


class TextTokenizer:
    """The model's tokenizer, as sentence-transformers sets it up, giving NumPy features."""

    def __init__(self, settings: TextSettings) -> None:
        from tokenizers import Tokenizer, normalizers

        tok = Tokenizer.from_file(str(settings.tokenizer_file))
        if settings.lowercase:
            tok.normalizer = normalizers.Sequence(
                [normalizers.Lowercase(), *([tok.normalizer] if tok.normalizer else [])]
            )
        pad_id = tok.token_to_id(settings.pad_token)
        if pad_id is None:
            raise ValueError(f"the tokenizer has no pad token {settings.pad_token!r}")
        self._plain = Tokenizer.from_str(tok.to_str())  # untruncated, unpadded: for counting
        self._plain.no_truncation()
        self._plain.no_padding()
        tok.enable_truncation(settings.max_length)
        tok.enable_padding(direction="right", pad_id=pad_id, pad_token=settings.pad_token)
        self._tok = tok
        self.max_length = settings.max_length

    def count(self, text: str) -> int:
        """Tokens of ``text``, special tokens included, untruncated."""
        return len(self._plain.encode(text).ids)

    def features(self, texts: Sequence[str], prompt: str = "") -> dict[str, np.ndarray]:
        """input_ids, attention_mask and token_type_ids (int64, right-padded) for the model."""
        found = self._tok.encode_batch([prompt + t for t in texts])
        return {
            "input_ids": np.array([e.ids for e in found], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in found], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in found], dtype=np.int64),
        }


def text_tokenizer(directory: Path) -> TextTokenizer | None:
    """The model's tokenizer without torch, or None where its files are not the plain chain."""
    settings = text_settings(directory)
    if settings is None:
        return None
    try:
        return TextTokenizer(settings)
    except (ImportError, ValueError, OSError, Exception):  # tokenizers' own error types
        return None


def agrees(tokenizer: TextTokenizer, model: Any, inputs: Sequence[str]) -> bool:
    """Whether ``tokenizer`` gives the loaded model's own features on sample texts."""
    long_text = " ".join(["the model reads only so many tokens of a text"] * 200)
    samples = ["a short text", "Ünïcödé, CAPITALS and punctuation!", "  padded  ", long_text]
    for prompt in ("", "query: "):
        ours = tokenizer.features(samples, prompt)
        theirs = model.preprocess(samples, prompt=prompt or None)
        for name in inputs:
            if name not in ours or name not in theirs:
                return False
            if not np.array_equal(ours[name], theirs[name].numpy()):
                return False
    return True
