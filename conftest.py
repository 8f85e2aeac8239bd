"""Settings shared by tests/ and integration_tests/."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from hypothesis import settings

pytest_plugins = ["tests.disks"]  # small_disk: a full or read-only disk, for both suites

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Exported ONNX graphs go to a cache of this session's own (child processes inherit it), never
# the user's ~/.cache.
if "VECSTORE_TEST_KEEP_CACHE" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="vecstore-test-cache-")
    os.environ["XDG_CACHE_HOME"] = _cache
    atexit.register(shutil.rmtree, _cache, True)

# CI runs a fixed, repeatable set of examples; local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
