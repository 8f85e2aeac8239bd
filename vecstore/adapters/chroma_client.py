"""The chromadb HTTP client's loose ends: the sessions it leaves open, on close and on failure.

chromadb 1.5.9 gives every HTTP client (and its internal admin client) a system of its own, and
stops it on ``close()`` without closing its HTTP session; a constructor that fails part-way
leaks the connections its earlier requests opened. Nothing else shares those sessions, so
closing them here is safe.
"""

from __future__ import annotations

from typing import Any


def sessions(client: Any) -> list[Any]:
    """The HTTP sessions of a chromadb client and of its admin client (none when embedded)."""
    found = []
    for part in (client, getattr(client, "_admin_client", None)):
        session = getattr(getattr(part, "_server", None), "_session", None)
        if session is not None:
            found.append(session)
    return found


def close_half_built(exc: BaseException) -> None:
    """Close the sessions of an HTTP client whose constructor failed part-way.

    Its constructor talks to the server; when a later request fails, chromadb releases the
    client's system but not the connections the earlier requests opened, and the caller never
    gets the object to close. The constructor's frame still holds it.
    """
    tb = exc.__traceback__
    while tb is not None:
        half = tb.tb_frame.f_locals.get("self")
        if type(half).__name__ == "Client" and type(half).__module__.startswith("chromadb"):
            for session in sessions(half):
                session.close()
        tb = tb.tb_next
