"""The backend seam: a handful of methods over raw vectors, and a registry by name.

``Collection`` does all validation, id handling, encoding and batching; a backend stores
unit-normalised float32 vectors with ids, texts and portable metadata, and answers exact
cosine queries. Backends register under the entry-point group ``vecstore.backends``; the
built-in ones are also known without installed metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from vecstore.errors import ConfigError
from vecstore.filters import Filter
from vecstore.keywords import Terms
from vecstore.records import CollectionInfo, Hit, Metadata, RecordBatch, StoredRecord, Vectors

if TYPE_CHECKING:
    from vecstore.config import Settings

ENTRY_POINT_GROUP = "vecstore.backends"
BUILTIN_BACKENDS = {
    "numpy": "vecstore.adapters.numpy:NumpyBackend",
    "qdrant": "vecstore.adapters.qdrant:QdrantBackend",
    "chroma": "vecstore.adapters.chroma:ChromaBackend",
    "pinecone": "vecstore.adapters.pinecone:PineconeBackend",
    "pgvector": "vecstore.adapters.pgvector:PgvectorBackend",
}
K = TypeVar("K", bound=Hashable)
INF = float("inf")
ALL_FILTER_OPS: frozenset[str] = frozenset(
    "$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or $not $contains".split()
)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do; Collection checks against it before any I/O."""

    filter_ops: frozenset[str] = ALL_FILTER_OPS
    no_keywords: str = ""  # why a store without KeywordSearch cannot rank by keywords


@dataclass(frozen=True, slots=True)
class StoreDescription:
    """Where a collection's data lives, for ``vecstore info`` and ``vecstore list``.

    Never holds a secret (no API key, no password).
    """

    backend: str
    """The store's registry name: ``numpy``, ``qdrant``, ``chroma``, ``pinecone``."""
    location: str
    """Where the store is: the NumPy store's root directory, a server's address, ``memory``."""
    details: Mapping[str, str | int] = field(default_factory=dict)
    """What this store adds, as ``vecstore info`` prints it (say, the NumPy store's format)."""


@runtime_checkable
class Backend(Protocol):
    """One store holding one collection."""

    capabilities: Capabilities

    def open(self, info: CollectionInfo, *, create: bool = True) -> CollectionInfo:
        """Create the collection, or check that the stored one matches ``info``.

        With ``create=False`` a missing collection raises ``CollectionNotFound``. A network
        backend connects here (not in its constructor), inside the store-layer retry.
        """

    def upsert(self, batch: RecordBatch) -> None:
        """Insert or wholly replace records.

        Check every record first (refuse what the store cannot hold before any write), then
        split into requests within the store's limits.
        """

    def query(
        self, vectors: Vectors, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[list[Hit]]:
        """Best ``top_k`` records per query vector, best first (with their vectors if asked).

        Collection passes ``with_vectors`` only when it is True, so a backend without it still
        answers plain queries.
        """

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredRecord]:
        """Records with these ids, in the order asked; unknown ids are left out."""

    def update_metadata(self, ids: Sequence[str], metadata: Sequence[Metadata]) -> list[str]:
        """Replace the whole stored metadata of existing records, keeping vectors and texts.

        ``ids`` are unique; unknown ids are left out (never created). Returns the ids updated,
        in the order given. Validated by Collection; all or nothing where the store allows.
        """

    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        """Remove records by id or by filter; unknown ids are ignored. Neither: every record."""

    def count(self, where: Filter | None = None) -> int:
        """How many records (match the filter)."""

    def scan(
        self, batch_size: int, with_vectors: bool = True, where: Filter | None = None
    ) -> Iterator[list[StoredRecord]]:
        """Every record ``where`` selects (all without it), in batches; filtered by the store."""

    def describe(self) -> StoreDescription:
        """Where the data lives, for ``vecstore info`` and ``vecstore list`` (never a secret)."""

    def close(self) -> None:
        """Release files, locks and connections."""


@runtime_checkable
class KeywordSearch(Protocol):
    """An optional ability: rank records by BM25 over :mod:`vecstore.keywords`' analyser.

    A store without it refuses keyword and hybrid search (``CapabilityError``).
    """

    def keyword_query(
        self, terms: Terms, top_k: int, where: Filter | None, with_vectors: bool = False
    ) -> list[Hit]:
        """The ``top_k`` records with the best BM25 score for these distinct term ids.

        Best first; each hit's ``score`` is its BM25 score (Collection turns it into the
        cosine). Only records holding a query term are hits. Refuse with ``CapabilityError``
        (naming what to run) when the stored records lack keyword data.
        """


@dataclass(frozen=True, slots=True)
class Fusion:
    """A hybrid query's fusion: the ``top_k`` best of each side's ``depth`` best, fused."""

    depth: int
    top_k: int
    rrf_k: int
    weights: tuple[float, float]  # (dense, keyword)


def rrf_term(rank: int, rrf_k: int, weight: float) -> float:
    """One side's share of a fused score: ``1 / (rrf_k + rank / weight)``, 0 at weight 0.

    Written as Qdrant writes it (``k = rrf_k + 1``), so that equal scores come out equal in both.
    """
    if weight <= 0:
        return 0.0
    return 1 / (float(rank) / weight + (rrf_k + 1) - 1.0)


def fused_order(
    dense: Sequence[K], keyword: Sequence[K], rrf_k: int, weights: tuple[float, float]
) -> list[tuple[K, float]]:
    """Reciprocal rank fusion of two rankings of keys (:mod:`vecstore.retrieval`), best first."""
    fused: dict[K, float] = {}
    ranks: dict[K, list[float]] = {}
    for side, (keys, w) in enumerate(((dense, weights[0]), (keyword, weights[1]))):
        for rank, key in enumerate(keys, 1):
            fused[key] = fused.get(key, 0.0) + rrf_term(rank, rrf_k, w)
            ranks.setdefault(key, [INF, INF])[side] = rank
    order = sorted(fused, key=lambda i: (-fused[i], ranks[i][0], ranks[i][1]))
    return [(key, fused[key]) for key in order]


@runtime_checkable
class HybridSearch(Protocol):
    """An optional ability: fuse the dense and keyword rankings in the store, in one request."""

    def hybrid_query(
        self, vector: Vectors, terms: Terms, where: Filter | None, fusion: Fusion
    ) -> list[Hit]:
        """The best by reciprocal rank fusion of the dense and keyword rankings.

        The fusion is :func:`rrf_term`'s, dense side first; each hit's
        ``score`` is its fused score, and it carries its vector.
        """


@runtime_checkable
class GroupedSearch(Protocol):
    """An optional ability: the best record of each group by dense score, grouped by the store."""

    def grouped_query(
        self, vector: Vectors, top_k: int, key: str, where: Filter | None, with_vectors: bool
    ) -> list[Hit]:
        """The ``top_k`` best groups, each as its best record's hit, best first.

        Records holding the same str value of metadata ``key`` are one group; a record without
        ``key`` is a group of its own. Exact where the store's dense search is exact.
        """


@runtime_checkable
class MatrixSource(Protocol):
    """An optional ability: hand over the selected vectors as one matrix (the NumPy store)."""

    def matrix(self, where: Filter | None = None) -> tuple[list[str], Vectors]:
        """Ids and vectors of the live records ``where`` selects."""


@dataclass(frozen=True, slots=True)
class CollectionSummary:
    """One collection of a store, as ``vecstore list`` shows it."""

    name: str
    count: int
    model: str
    dimension: int


@dataclass(frozen=True, slots=True)
class StoreListing:
    """What ``vecstore list`` shows: a store and its vecstore collections, by name."""

    store: StoreDescription
    collections: list[CollectionSummary]


@runtime_checkable
class Catalog(Protocol):
    """An optional ability: list the vecstore collections of the whole store."""

    def collections(self) -> list[CollectionSummary]:
        """Every collection vecstore made in this store (others are left out), by name."""


@runtime_checkable
class Upgradable(Protocol):
    """An optional ability: bring records written by an older vecstore to the current form."""

    def upgrade(self, batch_size: int) -> int:
        """Rewrite what lacks the current form in place (resumable); return how many records."""


BackendFactory = Callable[[str, "Settings"], Backend]


@dataclass
class Registry:
    """Backend factories by name: built-ins, entry points, and ones registered at run time."""

    _factories: dict[str, BackendFactory] = field(default_factory=dict)

    def register(self, name: str, factory: BackendFactory) -> None:
        """Make ``factory`` the backend called ``name`` (overrides entry points)."""
        self._factories[name] = factory

    def names(self) -> list[str]:
        """Every backend name known."""
        from importlib.metadata import entry_points

        found = set(BUILTIN_BACKENDS) | set(self._factories)
        found |= {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
        return sorted(found)

    def factory(self, name: str) -> BackendFactory:
        """The factory of ``name``: registered, then entry point, then built-in."""
        from importlib.metadata import entry_points

        if name in self._factories:
            return self._factories[name]
        for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
            loaded: BackendFactory = ep.load()
            return loaded
        if name in BUILTIN_BACKENDS:
            module, _, attr = BUILTIN_BACKENDS[name].partition(":")
            builtin: BackendFactory = getattr(import_module(module), attr)
            return builtin
        raise ConfigError(f"unknown backend {name!r}; known: {', '.join(self.names())}")


registry = Registry()


def create_backend(name: str, collection: str, settings: Settings) -> Backend:
    """Build the backend called ``name`` for ``collection``."""
    return registry.factory(name)(collection, settings)
