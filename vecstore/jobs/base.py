"""What a job needs of a collection: the small protocol :class:`vecstore.Collection` provides.

Jobs (ingest, pairs, migrate, upgrade) work above the facade, through this protocol and its one
backend handle, which retries transient store errors; they never reach below it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from vecstore.encoders import Encoder
from vecstore.metadata import MetadataPolicy
from vecstore.records import CollectionInfo, Vectors
from vecstore.retry import RetryingBackend

if TYPE_CHECKING:
    from vecstore.chunking import Chunker
    from vecstore.config import ChunkingSettings

BatchDone = Callable[[int], None]
"""Called with the number of texts whose encoding just finished."""


class Target(Protocol):
    """A collection, as jobs see it."""

    name: str
    info: CollectionInfo
    metadata_policy: MetadataPolicy
    encoder: Encoder
    chunking: ChunkingSettings

    def chunker(self) -> Chunker:
        """The chunker of the collection's model and chunking settings (documents)."""

    @property
    def backend(self) -> RetryingBackend:
        """The store, every call retried on transient errors (raises once closed)."""

    def encode(self, texts: Sequence[str], *, progress: BatchDone | None = None) -> Vectors:
        """Encode texts to store (the document side), checked."""
