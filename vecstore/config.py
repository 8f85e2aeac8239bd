"""Configuration: ``VECSTORE_*`` environment variables, a TOML file, keyword overrides.

Precedence, highest first: keyword overrides given to :func:`load_settings` (or the CLI),
then ``VECSTORE_*`` environment variables, then the TOML file (the path given explicitly,
else ``vecstore.toml`` in the working directory when it exists), then the defaults below.
Nested keys use ``__`` in the environment (``VECSTORE_NUMPY__PATH``) and tables in TOML
(``[numpy] path = "..."``). API keys are ``SecretStr``: never shown in a repr or a log line,
and a configuration that is wrong (a misspelt key, a list where a string goes) is a
``ConfigError`` that names the setting and the problem but never quotes a value, and chains no
exception that would.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from vecstore.errors import ConfigError
from vecstore.hardware import PrecisionSetting, RuntimeSetting
from vecstore.metadata import MetadataPolicy
from vecstore.model_files import DEFAULT_MODEL

DEFAULT_COLLECTION = "default"
DEFAULT_CONFIG_FILE = "vecstore.toml"
BackendName = Literal["numpy", "qdrant", "chroma", "pinecone", "pgvector"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NumpySettings(_Section):
    """The embedded store: one directory per collection under ``path``."""

    path: Path = Path(".vecstore")
    lock_timeout_s: float = Field(default=30.0, ge=0)
    """How long a writer waits for another writer of the collection before StoreLocked."""


MEMORY = ":memory:"
"""A store path that keeps the data in this process only: asked for by name, never a default."""


class QdrantSettings(_Section):
    """A server by ``url``, else local mode on ``path`` (``":memory:"``: in this process only).

    Neither is a ``ConfigError``: a store with nowhere to write is never chosen by default.
    """

    url: str | None = None
    path: Path | None = None
    api_key: SecretStr | None = None


class ChromaSettings(_Section):
    """A server by ``host``/``port``, else embedded on ``path``."""

    host: str | None = None
    port: int = 8000
    path: Path | None = None
    ef_search: int = Field(default=600, ge=1)
    """HNSW search breadth of collections vecstore creates; fixed at creation (Chroma's default,
    100, found 0.89-0.92 of the true top 10 on 100,000 real-text vectors; see bench_recall.py)."""


class PineconeSettings(_Section):
    """The data plane of one index, by its host."""

    host: str | None = None
    api_key: SecretStr | None = None
    namespace: str = ""


class PgvectorSettings(_Section):
    """PostgreSQL with pgvector, by ``dsn``: a libpq URI or key=value string.

    The DSN may hold a password, so it is a secret: never shown.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dsn: SecretStr | None = None
    schema_: str = Field(default="public", alias="schema", min_length=1, max_length=63)
    """The schema holding vecstore's tables (created if missing)."""
    index: Literal["hnsw", "exact"] = "hnsw"
    """The vector index of collections vecstore creates: HNSW (approximate), or none (exact)."""
    ef_search: int = Field(default=400, ge=1, le=1000)
    """HNSW search breadth per query (pgvector's ``hnsw.ef_search``; its own default, 40, found
    0.80 of the true top 10 and 100 found 0.85 on 100,000 real-text vectors; 400 found 0.985:
    see bench_pgvector.py)."""
    pool_size: int = Field(default=4, ge=1, le=100)
    """Connections each open collection may hold at once."""


class ChunkingSettings(_Section):
    """How ``upsert_documents`` cuts documents (see vecstore.chunking); defaults need no choice."""

    max_tokens: int | None = Field(default=None, ge=8)
    """Tokens per chunk, as the model counts them; None: all the model reads (256 for MiniLM)."""
    overlap: float = Field(default=0, ge=0)
    """Overlap of consecutive chunks: tokens, or a fraction of max_tokens when below 1."""
    max_chars: int = Field(default=10_000_000, ge=1)
    """A longer document is refused (characters)."""


class TelemetrySettings(_Section):
    """What vecstore's OpenTelemetry spans may carry (see vecstore.telemetry)."""

    query_text: bool = False
    """Put query texts on ``vecstore.query`` spans (off by default: they may be personal data)."""


class RetrySettings(_Section):
    """Retries of transient store errors (see vecstore.retry): a time budget per call."""

    attempts: int | None = Field(default=None, ge=1)
    """Attempts at most per call; None: as many as ``deadline_s`` allows."""
    deadline_s: float = Field(default=120.0, gt=0)
    """Seconds a call may spend retrying, from its first attempt."""
    backoff_max_s: float = Field(default=10.0, gt=0)
    """The longest wait between two attempts (waits grow exponentially, with jitter)."""


class DistributedSettings(_Section):
    """Ingest on Ray Data or Spark (vecstore.integrations.ray / .spark)."""

    max_writers: int | None = Field(default=None, ge=1)
    """Write tasks at most at once per collection (a store's rate limit, e.g. Pinecone's per
    namespace); None: as many as the engine runs."""
    task_retries: int = Field(default=3, ge=0)
    """Times the engine runs a failed write task again (each run skips what was written)."""
    encoders: int | None = Field(default=None, ge=1)
    """Encoder workers (Ray actors); None: the engine's CPUs divided by ``threads``."""
    window: int = Field(default=1000, ge=1)
    """Rows a write task encodes and writes at a time."""


class Settings(BaseSettings):
    """Everything ``open_collection`` needs."""

    model_config = SettingsConfigDict(
        env_prefix="VECSTORE_", env_nested_delimiter="__", extra="forbid"
    )

    backend: str = "numpy"
    collection: str = DEFAULT_COLLECTION
    model: str = DEFAULT_MODEL
    metadata_policy: MetadataPolicy = "strict"
    """strict (refuse what is not portable) or coerce (flatten, dates to ISO; vecstore.metadata)."""
    device: str = "auto"
    """Where the model runs: auto, cpu, cuda, cuda:N or mps (see vecstore.hardware)."""
    precision: PrecisionSetting = "auto"
    """auto (fp16 on CUDA, bf16 on a CPU with native bf16, else fp32), fp32, bf16 or fp16."""
    threads: int | None = Field(default=None, ge=1)
    """Intra-op threads of the encoder (torch's, process-wide, or the ONNX session's); None keeps
    the runtime's own."""
    runtime: RuntimeSetting = "auto"
    """What runs the model: auto (ONNX Runtime on a CPU without native bf16, else torch), torch
    or onnx (see vecstore.hardware)."""
    cache_dir: Path | None = None
    """Where exported ONNX graphs are kept; None: $XDG_CACHE_HOME/vecstore, else
    ~/.cache/vecstore."""
    query_prompt: str | None = None
    """Prompt before queries; None takes the model's own configured one."""
    document_prompt: str | None = None
    """Prompt before documents; None takes the model's own configured one."""
    numpy: NumpySettings = NumpySettings()
    qdrant: QdrantSettings = QdrantSettings()
    chroma: ChromaSettings = ChromaSettings()
    pinecone: PineconeSettings = PineconeSettings()
    pgvector: PgvectorSettings = PgvectorSettings()
    retry: RetrySettings = RetrySettings()
    distributed: DistributedSettings = DistributedSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    chunking: ChunkingSettings = ChunkingSettings()
    log_format: Literal["text", "json"] = "text"
    """How the CLI writes log lines on stderr: plain text, or one JSON object per line."""

    def memory_only(self) -> str | None:
        """The setting that keeps the configured store's data in this process only, if any.

        The CLI refuses such a store: each command is a process of its own, so what it wrote
        would be gone when it exits.
        """
        if self.backend == "qdrant" and not self.qdrant.url and str(self.qdrant.path) == MEMORY:
            return f"qdrant.path = {MEMORY!r} (VECSTORE_QDRANT__PATH)"
        return None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources: overrides, environment, TOML file."""
        # The TOML file arrives as the init value "file_data_" and ranks below the environment.
        assert isinstance(init_settings, InitSettingsSource)
        kwargs = dict(init_settings.init_kwargs)
        file_data = kwargs.pop("file_data_", {})
        return (
            InitSettingsSource(settings_cls, init_kwargs=kwargs),
            env_settings,
            InitSettingsSource(settings_cls, init_kwargs=file_data),
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings from overrides, the environment and a TOML file (see module doc)."""
    if config_file is not None:
        file_data = _read_toml(Path(config_file))
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        file_data = _read_toml(Path(DEFAULT_CONFIG_FILE))
    else:
        file_data = {}
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(file_data_=file_data, **given)  # type: ignore[call-arg]
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_context=False, include_url=False)
        )
    # Raised here, outside the except block: pydantic's error quotes the values it refused (an
    # API key among them), so it must be neither the cause nor the context of ours.
    raise ConfigError(f"invalid configuration: {problems}")
