"""vecstore: one Collection API over local NumPy, Qdrant, Chroma and Pinecone vector stores.

``import vecstore`` loads no store SDK and no torch; the model loads when first needed, and
pydantic-settings when configuration is first read.
"""

from typing import TYPE_CHECKING, Any

from vecstore.adapters.base import Backend, Capabilities, registry
from vecstore.collection import Collection, open_collection
from vecstore.encoders import Encoder, HashEncoder, SentenceTransformerEncoder
from vecstore.errors import (
    BackendError,
    BackendUnavailable,
    CapabilityError,
    CollectionNotFound,
    ConfigError,
    DuplicateId,
    EncoderError,
    FilterError,
    IncompatibleCollection,
    InvalidInput,
    InvalidName,
    MissingDependency,
    StoreCorrupted,
    StoreError,
    StoreLocked,
    StoreUnwritable,
    VecstoreError,
)
from vecstore.jobs.report import IngestReport
from vecstore.records import CollectionInfo, Hit, Pair, RecordBatch, StoredRecord

if TYPE_CHECKING:
    from vecstore.config import Settings, load_settings

__version__ = "0.1.0"
_LAZY = {"Settings", "load_settings"}


def __getattr__(name: str) -> Any:
    """Load the configuration names on first use (pydantic-settings is slow to import)."""
    if name in _LAZY:
        from vecstore import config

        return getattr(config, name)
    raise AttributeError(f"module 'vecstore' has no attribute {name!r}")


__all__ = [
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "Capabilities",
    "CapabilityError",
    "Collection",
    "CollectionInfo",
    "CollectionNotFound",
    "ConfigError",
    "DuplicateId",
    "Encoder",
    "EncoderError",
    "FilterError",
    "HashEncoder",
    "Hit",
    "IncompatibleCollection",
    "IngestReport",
    "InvalidInput",
    "InvalidName",
    "MissingDependency",
    "Pair",
    "RecordBatch",
    "SentenceTransformerEncoder",
    "Settings",
    "StoreCorrupted",
    "StoreError",
    "StoreLocked",
    "StoreUnwritable",
    "StoredRecord",
    "VecstoreError",
    "load_settings",
    "open_collection",
    "registry",
]
