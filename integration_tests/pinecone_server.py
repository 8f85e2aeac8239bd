"""A loopback server speaking Pinecone's data-plane REST API, for the real ``pinecone`` SDK.

Endpoints the adapter calls: upsert, query, fetch, fetch_by_metadata, delete,
describe_index_stats, list. One
dense cosine index of a fixed dimension, namespaces in memory. Pinecone's documented limits:
1,000 vectors and 2 MB per upsert, 40 KB metadata per vector, ids ASCII of at most 512
characters, 1,000 ids per fetch or delete, top_k 1..10,000, at least one non-zero value.
Errors come back as Pinecone sends them: ``{"code": N, "message": "..."}`` with the status.

Its metadata filter is its own code, written from Pinecone's filter documentation and not from
vecstore's: ``$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or``; a list field matches
``$eq``/``$in`` when one element does. Where the docs are silent it takes the narrow reading:
``$ne`` and ``$nin`` do not match a record that lacks the field. vecstore must not depend on it.

Faults for resilience tests: ``fail_rate`` answers that share of requests with 429 (with
Retry-After) or 503.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

MAX_UPSERT_VECTORS = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
MAX_IDS = 1000
MAX_TOP_K = 10_000
MAX_ID_LENGTH = 512
MAX_FETCH_BY_METADATA = 10_000
DEFAULT_FETCH_BY_METADATA = 100


class ApiFailure(Exception):
    def __init__(self, status: int, message: str, code: int = 3) -> None:
        super().__init__(message)
        self.status, self.code = status, code


# -- Pinecone's filter language, evaluated independently ----------------------------------------


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)
    return isinstance(a, str) and isinstance(b, str) and a == b


def _field(meta: dict[str, Any], key: str, cond: Any) -> bool:
    if not isinstance(cond, dict):
        cond = {"$eq": cond}
    present = key in meta
    value = meta.get(key)
    elements = value if isinstance(value, list) else [value]
    for op, arg in cond.items():
        if op == "$exists":
            ok = present == bool(arg)
        elif not present:
            ok = False
        elif op == "$eq":
            ok = any(_same(e, arg) for e in elements)
        elif op == "$ne":
            ok = not any(_same(e, arg) for e in elements)
        elif op == "$in":
            ok = any(_same(e, a) for e in elements for a in arg)
        elif op == "$nin":
            ok = not any(_same(e, a) for e in elements for a in arg)
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            if not _is_number(arg):
                raise ApiFailure(400, f"{op} needs a number")
            ok = (
                _is_number(value)
                and {
                    "$gt": value > arg,
                    "$gte": value >= arg,
                    "$lt": value < arg,
                    "$lte": value <= arg,
                }[op]
            )
        else:
            raise ApiFailure(400, f"unsupported filter operator {op}")
        if not ok:
            return False
    return True


def pinecone_match(flt: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
    """Whether metadata satisfies a Pinecone filter."""
    if not flt:
        return True
    for key, cond in flt.items():
        if key == "$and":
            ok = all(pinecone_match(c, meta) for c in cond)
        elif key == "$or":
            ok = any(pinecone_match(c, meta) for c in cond)
        elif key.startswith("$"):
            raise ApiFailure(400, f"unsupported filter operator {key}")
        else:
            ok = _field(meta, key, cond)
        if not ok:
            return False
    return True


# -- the index --------------------------------------------------------------------------------


class Index:
    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.lock = threading.Lock()
        self.spaces: dict[str, dict[str, tuple[list[float], dict[str, Any]]]] = {}
        self.fail_rate = 0.0
        self.rng = random.Random(0)
        self.requests = 0

    def space(self, namespace: str) -> dict[str, tuple[list[float], dict[str, Any]]]:
        return self.spaces.setdefault(namespace, {})

    def upsert(self, body: dict[str, Any]) -> dict[str, Any]:
        vectors = body.get("vectors") or []
        if len(vectors) > MAX_UPSERT_VECTORS:
            raise ApiFailure(400, f"upsert holds {len(vectors)} vectors, over {MAX_UPSERT_VECTORS}")
        staged = {}
        for v in vectors:
            vid, values, meta = v.get("id"), v.get("values"), v.get("metadata") or {}
            if not isinstance(vid, str) or not vid or len(vid) > MAX_ID_LENGTH or not vid.isascii():
                raise ApiFailure(400, f"invalid vector id {vid!r}")
            if not isinstance(values, list) or len(values) != self.dimension:
                raise ApiFailure(
                    400,
                    f"Vector dimension {len(values or [])} does not match the "
                    f"dimension of the index {self.dimension}",
                )
            if any(x is None or not math.isfinite(x) for x in values) or not any(values):
                raise ApiFailure(400, "dense vectors need finite values and one non-zero value")
            size = len(json.dumps(meta).encode())
            if size > MAX_METADATA_BYTES:
                raise ApiFailure(
                    400,
                    f"Metadata size is {size} bytes, which exceeds the limit "
                    f"of {MAX_METADATA_BYTES} bytes per vector",
                )
            for key, value in meta.items():
                ok = (
                    isinstance(value, str | bool)
                    or _is_number(value)
                    or (isinstance(value, list) and all(isinstance(e, str) for e in value))
                )
                if not ok:
                    raise ApiFailure(
                        400,
                        f"metadata value of {key!r} must be a string, number, "
                        "boolean or list of strings",
                    )
            staged[vid] = (values, {k: x for k, x in meta.items() if x is not None})
        with self.lock:
            self.space(body.get("namespace", "")).update(staged)
        return {"upsertedCount": len(staged)}

    def query(self, body: dict[str, Any]) -> dict[str, Any]:
        top_k = body.get("topK")
        if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise ApiFailure(400, f"topK must be 1..{MAX_TOP_K}")
        q = body.get("vector") or []
        if len(q) != self.dimension:
            raise ApiFailure(400, "query vector dimension does not match the index")
        qn = math.sqrt(sum(x * x for x in q)) or 1.0
        ns = body.get("namespace", "")
        scored = []
        with self.lock:
            items = list(self.space(ns).items())
        for vid, (values, meta) in items:
            if not pinecone_match(body.get("filter"), meta):
                continue
            norm = math.sqrt(sum(x * x for x in values)) or 1.0
            score = sum(a * b for a, b in zip(values, q, strict=True)) / (norm * qn)
            scored.append((score, vid, values, meta))
        scored.sort(key=lambda s: (-s[0], s[1]))
        matches = []
        for score, vid, values, meta in scored[:top_k]:
            m: dict[str, Any] = {"id": vid, "score": score}
            if body.get("includeValues"):
                m["values"] = values
            if body.get("includeMetadata"):
                m["metadata"] = meta
            matches.append(m)
        return {"matches": matches, "namespace": ns, "usage": {"readUnits": 1}}

    def fetch(self, query: dict[str, list[str]]) -> dict[str, Any]:
        ids = query.get("ids", [])
        if len(ids) > MAX_IDS:
            raise ApiFailure(400, f"fetch takes at most {MAX_IDS} ids")
        ns = query.get("namespace", [""])[0]
        with self.lock:
            space = self.space(ns)
            found = {
                i: {"id": i, "values": space[i][0], "metadata": space[i][1]}
                for i in ids
                if i in space
            }
        return {"vectors": found, "namespace": ns, "usage": {"readUnits": 1}}

    def fetch_by_metadata(self, body: dict[str, Any]) -> dict[str, Any]:
        flt = body.get("filter")
        if not flt:
            raise ApiFailure(400, "fetch_by_metadata needs a non-empty filter")
        limit = body.get("limit", DEFAULT_FETCH_BY_METADATA)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_FETCH_BY_METADATA:
            raise ApiFailure(400, f"limit must be 1..{MAX_FETCH_BY_METADATA}")
        ns = body.get("namespace", "")
        start = body.get("paginationToken") or ""
        with self.lock:
            items = sorted((i, v) for i, v in self.space(ns).items() if i > start)
        found: dict[str, Any] = {}
        more = False
        for vid, (values, meta) in items:  # ids in order: the token is the last id served
            if pinecone_match(flt, meta):
                if len(found) == limit:
                    more = True
                    break
                found[vid] = {"id": vid, "values": values, "metadata": meta}
        out: dict[str, Any] = {"vectors": found, "namespace": ns, "usage": {"readUnits": 1}}
        if more:
            out["pagination"] = {"next": list(found)[-1]}
        return out

    def delete(self, body: dict[str, Any]) -> dict[str, Any]:
        ns = body.get("namespace", "")
        with self.lock:
            space = self.space(ns)
            if body.get("deleteAll"):
                space.clear()
            elif "ids" in body:
                if len(body["ids"]) > MAX_IDS:
                    raise ApiFailure(400, f"delete takes at most {MAX_IDS} ids")
                for i in body["ids"]:
                    space.pop(i, None)
            elif body.get("filter"):
                for i in [i for i, (_, m) in space.items() if pinecone_match(body["filter"], m)]:
                    del space[i]
            else:
                raise ApiFailure(400, "delete needs ids, deleteAll or a filter")
        return {}

    def stats(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            spaces = {
                ns: {
                    "vectorCount": sum(
                        pinecone_match(body.get("filter"), m) for _, m in space.values()
                    )
                }
                for ns, space in self.spaces.items()
            }
        total = sum(s["vectorCount"] for s in spaces.values())
        return {
            "namespaces": spaces,
            "dimension": self.dimension,
            "indexFullness": 0.0,
            "totalVectorCount": total,
            "metric": "cosine",
            "vectorType": "dense",
        }

    def list(self, query: dict[str, list[str]]) -> dict[str, Any]:
        ns = query.get("namespace", [""])[0]
        prefix = query.get("prefix", [""])[0]
        limit = int(query.get("limit", ["100"])[0])
        start = query.get("paginationToken", [""])[0]
        with self.lock:
            ids = sorted(i for i in self.space(ns) if i.startswith(prefix) and i > start)
        page = ids[:limit]
        out: dict[str, Any] = {
            "vectors": [{"id": i} for i in page],
            "namespace": ns,
            "usage": {"readUnits": 1},
        }
        if len(ids) > limit:
            out["pagination"] = {"next": page[-1]}
        return out


def _injected_fault(index: Index) -> tuple[int, dict[str, Any], dict[str, str]] | None:
    """A 429 or a 503 at the index's fail rate (None: serve the request)."""
    if not index.fail_rate or index.rng.random() >= index.fail_rate:
        return None
    if index.rng.random() < 0.5:
        return 429, {"code": 8, "message": "Too many requests"}, {"Retry-After": "0"}
    return 503, {"code": 14, "message": "Service unavailable"}, {}


def _route(
    index: Index, method: str, path: str, body: Any, query: dict[str, list[str]]
) -> dict[str, Any]:
    routes = {
        ("POST", "/vectors/upsert"): lambda: index.upsert(body),
        ("POST", "/query"): lambda: index.query(body),
        ("GET", "/vectors/fetch"): lambda: index.fetch(query),
        ("POST", "/vectors/fetch_by_metadata"): lambda: index.fetch_by_metadata(body),
        ("POST", "/vectors/delete"): lambda: index.delete(body),
        ("POST", "/describe_index_stats"): lambda: index.stats(body),
        ("GET", "/vectors/list"): lambda: index.list(query),
    }
    route = routes.get((method, path))
    if route is None:
        raise ApiFailure(404, f"no route {method} {path}", code=5)
    out: dict[str, Any] = route()
    return out


def _handler(index: Index) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _serve(self, method: str) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            index.requests += 1
            try:
                if not self.headers.get("Api-Key"):
                    raise ApiFailure(401, "missing Api-Key", code=16)
                fault = _injected_fault(index)
                if fault is not None:
                    self._send(*fault)
                    return
                if length > MAX_REQUEST_BYTES:
                    raise ApiFailure(413, f"request of {length} bytes exceeds 2 MB", code=3)
                body = json.loads(raw) if raw else {}
                self._send(200, _route(index, method, url.path, body, parse_qs(url.query)))
            except ApiFailure as exc:
                self._send(exc.status, {"code": exc.code, "message": str(exc), "details": []})

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

    return Handler


@contextmanager
def pinecone_server(dimension: int) -> Iterator[tuple[str, Index]]:
    """Serve one index on a free loopback port; yields (host URL, index)."""
    index = Index(dimension)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(index))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", index
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def main() -> None:
    """Serve until interrupted: ``python -m integration_tests.pinecone_server --port 5081``."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5081)
    parser.add_argument("--dimension", type=int, default=384)
    args = parser.parse_args()
    index = Index(args.dimension)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(index))
    print(f"serving a {args.dimension}-d cosine index at http://127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        time.sleep(0)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
