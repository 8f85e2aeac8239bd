"""The one error translation of the network adapters: by type and status, never message text."""

from __future__ import annotations

import sys
import types

import httpx
import pytest

from vecstore.adapters.translate import StoreErrors
from vecstore.errors import BackendError, BackendUnavailable, InvalidInput

SERVER = StoreErrors("Store", "http://127.0.0.1:1", ("fakesdk",))
EMBEDDED = StoreErrors("Store", "/data", ("fakesdk",), remote=False)


def raised(errors: StoreErrors, fn: types.FunctionType) -> BaseException:
    with pytest.raises(BaseException) as info:
        with errors:
            fn()
    return info.value


def status_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1:1/x")
    response = httpx.Response(status, request=request, headers=headers or {})
    return httpx.HTTPStatusError("status", request=request, response=response)


def test_a_wrapped_connection_failure_is_unavailable() -> None:
    def construct() -> None:  # chromadb's constructor: ValueError(str(e)) while handling
        try:
            raise httpx.ConnectError("[Errno 104] Connection reset by peer")
        except httpx.ConnectError as e:
            raise ValueError(str(e))  # noqa: B904

    err = raised(SERVER, construct)
    assert isinstance(err, BackendUnavailable) and err.transient
    assert "unreachable" in str(err) and isinstance(err.__cause__, ValueError)


@pytest.mark.parametrize("cause", [ConnectionResetError(104, "reset"), TimeoutError("slow")])
def test_builtin_connection_errors_are_unavailable(cause: Exception) -> None:
    def call() -> None:
        raise cause

    assert isinstance(raised(SERVER, call), BackendUnavailable)


def test_statuses_decide_transient_and_carry_retry_after() -> None:
    def bare(status: int, headers: dict[str, str] | None = None) -> types.FunctionType:
        def call() -> None:  # chromadb's non-JSON errors: a bare Exception from the status error
            try:
                raise status_error(status, headers)
            except httpx.HTTPStatusError:
                raise Exception("<html>whatever the proxy said</html>")  # noqa: B904

        return call  # type: ignore[return-value]

    err = raised(SERVER, bare(503, {"Retry-After": "3"}))
    assert isinstance(err, BackendUnavailable) and (err.status, err.retry_after) == (503, 3.0)
    err = raised(SERVER, bare(413))
    assert type(err) is BackendError and err.status == 413 and not err.transient
    err = raised(EMBEDDED, bare(503))
    assert type(err) is BackendError and not err.transient  # embedded: nothing to wait for


def test_status_attributes_and_hooks() -> None:
    class RateLimited(Exception):
        status_code = 429
        retry_after = 1.5

    class Internal(Exception):
        def code(self) -> int:
            return 500

    def rate() -> None:
        raise RateLimited("slow down")

    err = raised(SERVER, rate)
    assert isinstance(err, BackendUnavailable) and err.retry_after == 1.5

    def status_of(exc: BaseException) -> int | None:
        return exc.code() if isinstance(exc, Internal) else None

    hooked = StoreErrors("Store", "x", ("fakesdk",), status_of=status_of)

    def internal() -> None:
        raise Internal("boom")

    assert isinstance(raised(hooked, internal), BackendUnavailable)


def test_errors_from_inside_the_client_are_permanent_store_errors() -> None:
    sdk = types.ModuleType("fakesdk")
    exec("def call(rows):\n    return rows[5]\n", sdk.__dict__)  # an IndexError deep in the SDK
    sys.modules["fakesdk"] = sdk
    try:
        err = raised(SERVER, lambda: sdk.call([]))  # type: ignore[arg-type]
    finally:
        del sys.modules["fakesdk"]
    assert type(err) is BackendError and not err.transient
    assert isinstance(err.__cause__, IndexError)


def test_a_bug_of_ours_is_not_a_store_error() -> None:
    def ours() -> None:
        raise KeyError("a bug in vecstore itself")

    err = raised(SERVER, ours)
    assert type(err) is KeyError  # unchanged: never retried, never disguised


def test_vecstore_errors_pass_unchanged() -> None:
    def refuse() -> None:
        raise InvalidInput("bad", field="x")

    assert type(raised(SERVER, refuse)) is InvalidInput
