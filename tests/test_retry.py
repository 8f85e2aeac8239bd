"""Retries at the store layer: transient errors retried (honouring Retry-After), others not."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from vecstore import BackendError, BackendUnavailable, Collection, HashEncoder, load_settings
from vecstore.adapters.numpy import NumpyBackend
from vecstore.retry import RetryingBackend, RetryPolicy


class Flaky:
    """Wraps a backend; the next ``fail`` calls raise ``error`` before reaching it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities
        self.fail = 0
        self.error: Exception = BackendUnavailable("HTTP 503")
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.fail > 0:
                self.fail -= 1
                raise self.error
            return target(*args, **kwargs)

        return call


def flaky_collection(tmp_path: Path, attempts: int = 4) -> tuple[Collection, Flaky]:
    flaky = Flaky(NumpyBackend("r", path=tmp_path))
    settings = load_settings(retry={"attempts": attempts, "deadline_s": 30, "backoff_max_s": 0.05})
    return Collection("r", backend=flaky, encoder=HashEncoder(16), settings=settings), flaky  # type: ignore[arg-type]


def test_transient_errors_are_retried_on_every_call(tmp_path: Path) -> None:
    col, flaky = flaky_collection(tmp_path)
    flaky.fail = 2
    assert col.upsert(["a retried write"], ids=["a"]) == ["a"]
    for call in (
        lambda: col.query("a"),
        lambda: col.get(["a"]),
        lambda: col.count(),
        lambda: col.delete(["zzz"]),
    ):
        flaky.fail = 3
        call()
    assert col.count() == 1  # the retried write landed once


def test_gives_up_after_the_attempts(tmp_path: Path) -> None:
    col, flaky = flaky_collection(tmp_path, attempts=3)
    flaky.fail = 5
    before = flaky.calls
    with pytest.raises(BackendUnavailable):
        col.count()
    assert flaky.calls - before == 3


def test_permanent_errors_are_not_retried(tmp_path: Path) -> None:
    col, flaky = flaky_collection(tmp_path)
    flaky.error = BackendError("HTTP 400: bad request")
    flaky.fail = 1
    before = flaky.calls
    with pytest.raises(BackendError, match="400"):
        col.count()
    assert flaky.calls - before == 1


def test_retry_after_is_honoured() -> None:
    class Once:
        capabilities = NumpyBackend.capabilities
        calls: list[float] = []

        def count(self, where: Any = None) -> int:
            self.calls.append(time.monotonic())
            if len(self.calls) == 1:
                raise BackendUnavailable("HTTP 429", retry_after=0.6)
            return 7

    backend = RetryingBackend(Once(), RetryPolicy(attempts=3, deadline_s=10))  # type: ignore[arg-type]
    assert backend.count() == 7
    assert Once.calls[1] - Once.calls[0] >= 0.6


def test_a_call_has_a_time_budget_not_a_count_of_attempts() -> None:
    """By default a call is retried for as long as its deadline allows (a flaky network can
    fail the same call many times in a row), then the last error surfaces."""

    class Down:
        capabilities = NumpyBackend.capabilities

        def __init__(self, failures: int) -> None:
            self.failures, self.calls = failures, 0

        def count(self, where: Any = None) -> int:
            self.calls += 1
            if self.calls <= self.failures:
                raise BackendUnavailable("connection reset")
            return 3

    policy = RetryPolicy(attempts=None, deadline_s=3.0, backoff_max_s=0.02)
    flaky = Down(failures=25)
    assert RetryingBackend(flaky, policy).count() == 3 and flaky.calls == 26  # type: ignore[arg-type]
    forever = Down(failures=10**9)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="connection reset"):
        RetryingBackend(forever, RetryPolicy(None, 0.5, backoff_max_s=0.02)).count()  # type: ignore[arg-type]
    assert 0.5 <= time.monotonic() - started < 2.0 and forever.calls > 5


def test_the_default_policy_is_a_time_budget() -> None:
    settings = load_settings()
    assert settings.retry.attempts is None and settings.retry.deadline_s >= 120
    policy = RetryPolicy()
    assert policy.attempts is None and policy.deadline_s == settings.retry.deadline_s
