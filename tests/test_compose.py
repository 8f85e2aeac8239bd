"""docker-compose.yml: the services and pins the README promises, valid where it can be checked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def test_services_pinned_to_the_client_versions() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["qdrant"]["image"] == "qdrant/qdrant:v1.20.0"  # qdrant-client 1.20.0
    assert services["chroma"]["image"] == "chromadb/chroma:1.5.9"  # chromadb 1.5.9
    assert services["pinecone"]["image"].startswith("ghcr.io/pinecone-io/pinecone-index")
    assert services["pinecone"]["environment"]["DIMENSION"] == "384"
    assert services["postgres"]["image"].startswith("pgvector/pgvector:pg18")  # the tests' PG 18
    for name in ("qdrant", "chroma", "postgres"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose is not installed (Debian package docker-compose)",
)
def test_docker_compose_config_accepts_it() -> None:
    subprocess.run(["docker-compose", "-f", str(COMPOSE), "config", "-q"], check=True)
