"""Bring a collection written by an older vecstore to the form this one writes, in place."""

from __future__ import annotations

from vecstore.errors import InvalidInput
from vecstore.jobs.base import Target

UPGRADE_BATCH = 1000


def upgrade(target: Target, batch_size: int = UPGRADE_BATCH) -> int:
    """Rewrite what the store holds in an older form; return how many records changed.

    Chroma and Pinecone collections written before filter facts existed keep their exact
    answers by slower routes until this writes the facts, without re-encoding, in batches of
    ``batch_size``. Resumable: run it again after an interruption; retried like every store
    call. Stores with nothing to upgrade return 0.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
    store = target.backend.abilities.upgrade
    return store.upgrade(batch_size) if store is not None else 0
