"""Reading only what the model reads: a long text is cut by characters, the tokens kept alike."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from vecstore.text_tokens import readable

WORD = re.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    """A tokenizer that splits at whitespace and punctuation, with two special tokens."""
    return ["[CLS]", *WORD.findall(text), "[SEP]"]


words = st.lists(
    st.sampled_from(["a", "bb", "word", "longerword", ",", ".", "x" * 40, "é", "\n", "  "]),
    max_size=600,
)


@settings(max_examples=300, deadline=None)
@given(words, st.integers(min_value=4, max_value=64))
def test_the_part_read_holds_the_first_tokens_and_tells_length(
    parts: list[str], limit: int
) -> None:
    text = " ".join(parts)
    part, over = readable(text, limit, lambda t: len(tokens(t)))
    whole = tokens(text)
    assert over == (len(whole) > limit)
    assert text.startswith(part)
    kept = tokens(part)
    if over:
        assert kept[: limit - 1] == whole[: limit - 1]  # what truncation keeps, [SEP] aside
    else:
        assert part == text


def test_a_long_text_is_counted_on_a_small_part() -> None:
    counted: list[int] = []

    def count(text: str) -> int:
        counted.append(len(text))
        return len(tokens(text))

    text = "word " * 400_000  # 2 MB
    part, over = readable(text, 256, count)
    assert over and len(part) < 10_000 and max(counted) < 10_000
