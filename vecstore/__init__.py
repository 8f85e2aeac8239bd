"""vecstore: one Collection API over local NumPy, Qdrant, Chroma and Pinecone vector stores.

``import vecstore`` loads no store SDK and no torch; the model loads when first needed.
"""

from vecstore.adapters.base import Backend, Capabilities, registry
from vecstore.collection import Collection, open_collection
from vecstore.config import Settings, load_settings
from vecstore.encoders import Encoder, HashEncoder, SentenceTransformerEncoder
from vecstore.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    DuplicateId,
    FilterError,
    IncompatibleCollection,
    InvalidInput,
    InvalidName,
    MissingDependency,
    StoreCorrupted,
    StoreError,
    StoreLocked,
    VecstoreError,
)
from vecstore.ingest import IngestReport
from vecstore.records import CollectionInfo, Hit, RecordBatch, StoredRecord

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "Capabilities",
    "Collection",
    "CollectionInfo",
    "ConfigError",
    "DuplicateId",
    "Encoder",
    "FilterError",
    "HashEncoder",
    "Hit",
    "IncompatibleCollection",
    "IngestReport",
    "InvalidInput",
    "InvalidName",
    "MissingDependency",
    "RecordBatch",
    "SentenceTransformerEncoder",
    "Settings",
    "StoreCorrupted",
    "StoreError",
    "StoreLocked",
    "StoredRecord",
    "VecstoreError",
    "load_settings",
    "open_collection",
    "registry",
]
