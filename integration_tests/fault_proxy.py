"""A TCP proxy on loopback that breaks a share of the traffic between a client and a server.

Each HTTP request the client starts (a chunk opening with a method) is forwarded, or, at
``fault_rate`` and for the first ``fault_first`` requests (client construction and collection
opening included), meets one fault: the connection dropped (closed), reset (RST), delayed, or
answered with an HTTP 503 and closed. Without ``seed`` every n-th request fails and the kinds
come in turn (a fixed pattern); with ``seed`` each request fails with probability
``fault_rate`` and the kind is drawn at random too (reproducible from the seed), so the same
call can fail several times in a row, as on a real flaky network. The rest of a request's bytes
pass. Faults count by kind in ``faults``. Only loopback addresses are used.

With ``protocol="tcp"`` (PostgreSQL's wire protocol) every chunk the client sends is a request
and the kinds are drop, reset and delay (no HTTP answer to give).
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

BUFFER = 65536
KINDS = ("drop", "reset", "delay", "503")
METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"PATCH ", b"HEAD ")
DELAY_S = 0.3
SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 11\r\nConnection: close\r\n\r\nunavailable"
)


class FaultProxy:
    def __init__(
        self,
        upstream_port: int,
        fault_rate: float,
        fault_first: int = 0,
        seed: int | None = None,
        protocol: str = "http",
    ) -> None:
        self.kinds = KINDS if protocol == "http" else KINDS[:3]
        self.starts = METHODS if protocol == "http" else (b"",)
        self.upstream_port = upstream_port
        self.fault_rate = fault_rate
        self.fault_first = fault_first
        self.random = random.Random(seed) if seed is not None else None
        self.lock = threading.Lock()
        self.faults: Counter[str] = Counter()
        self.requests = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.stopped = threading.Event()

    def _decide(self) -> str | None:
        """The first ``fault_first`` requests and a ``fault_rate`` share of the rest meet a fault:
        every (1 / fault_rate)-th with the kinds in turn, or at random with ``seed``."""
        with self.lock:
            self.requests += 1
            first = self.requests <= self.fault_first
            if self.random is not None:
                hit = self.random.random() < self.fault_rate
            else:
                hit = self.fault_rate > 0 and not (
                    self.requests % max(1, round(1 / self.fault_rate))
                )
            if not (first or hit):
                return None
            if self.random is not None:
                kind = self.random.choice(self.kinds)
            else:
                kind = self.kinds[sum(self.faults.values()) % len(self.kinds)]
            self.faults[kind] += 1
            return kind

    def serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._connection, args=(client,), daemon=True).start()

    def _connection(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
        except OSError:
            client.close()
            return
        back = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
        back.start()
        try:
            while True:
                data = client.recv(BUFFER)
                if not data:
                    break
                kind = self._decide() if data.startswith(self.starts) else None
                if kind == "drop":
                    break
                if kind == "reset":
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    break
                if kind == "503":
                    client.sendall(SERVICE_UNAVAILABLE)
                    break
                if kind == "delay":
                    time.sleep(DELAY_S)
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                try:
                    sock.close()
                except OSError:
                    pass

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(BUFFER):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass


@contextmanager
def fault_proxy(
    upstream_port: int,
    fault_rate: float,
    fault_first: int = 0,
    seed: int | None = None,
    protocol: str = "http",
) -> Iterator[FaultProxy]:
    """A running proxy to ``127.0.0.1:upstream_port``; stopped on exit."""
    proxy = FaultProxy(upstream_port, fault_rate, fault_first, seed, protocol)
    thread = threading.Thread(target=proxy.serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.stopped.set()
        proxy.listener.close()
        thread.join(timeout=5)
