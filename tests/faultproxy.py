"""A fault-injecting HTTP proxy on loopback, between the daemon and the reference receiver.

It reads each HTTP/1.1 request whole, then applies the next scripted fault (or none) and
forwards it upstream. Faults cover what networks and proxies do to a request in flight."""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

Fault = Callable[["Exchange"], bytes | None]


@dataclass
class Exchange:
    """One request as received, with a way to forward it upstream."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    forward: Callable[[], bytes]
    client: socket.socket


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self._upstream = upstream_port
        self.faults: list[Fault | None] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = False
        self._held: list[socket.socket] = []
        self._clients: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def close(self) -> None:
        """Stop listening, drop every connection, and wait for the threads serving them."""
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way
        self._listener.close()
        with self._lock:
            for sock in self._held + self._clients:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=10)
        for sock in self._held:
            sock.close()

    def _next_fault(self) -> Fault | None:
        with self._lock:
            self.requests += 1
            return self.faults.pop(0) if self.faults else None

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._clients.append(client)
            serving = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(serving)
            serving.start()

    def _serve(self, client: socket.socket) -> None:
        upstream = http.client.HTTPConnection("127.0.0.1", self._upstream, timeout=30)
        reader = client.makefile("rb")
        try:
            while True:
                exchange = _read_request(reader, client, upstream)
                if exchange is None:
                    return
                fault = self._next_fault()
                answer = fault(exchange) if fault else exchange.forward()
                if answer is None:
                    return
                client.sendall(answer)
        except (OSError, ValueError):
            return
        finally:
            upstream.close()
            reader.close()
            if client not in self._held:
                client.close()

    # -- the faults --------------------------------------------------------------------------

    def hang(self, exchange: Exchange) -> None:
        """Accept the request and never answer (the daemon's timeout must fire)."""
        self._held.append(exchange.client)
        while not self._closing:
            time.sleep(0.05)


def latency(seconds: float) -> Fault:
    def fault(exchange: Exchange) -> bytes:
        time.sleep(seconds)
        return exchange.forward()

    return fault


def reset(exchange: Exchange) -> None:
    """Drop the connection with a TCP reset, the request never forwarded."""
    _rst(exchange.client)


def reset_after_forwarding(exchange: Exchange) -> None:
    """The receiver stores the chunk, then the connection dies before its answer."""
    exchange.forward()
    _rst(exchange.client)


def cut_response(exchange: Exchange) -> None:
    answer = exchange.forward()
    exchange.client.sendall(answer[: len(answer) // 2])
    exchange.client.shutdown(socket.SHUT_RDWR)


def respond(
    status: int, body: bytes = b"", content_type: str = "text/plain", **headers: str
) -> Fault:
    def fault(exchange: Exchange) -> bytes:
        return _response(status, body, [("Content-Type", content_type), *headers.items()])

    return fault


def _rst(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _read_request(
    reader, client: socket.socket, upstream: http.client.HTTPConnection
) -> Exchange | None:
    line = reader.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers = []
    while (header := reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
    body = reader.read(length)

    def forward() -> bytes:
        upstream.request(method, path, body=body, headers=dict(headers))
        response = upstream.getresponse()
        data = response.read()
        kept = [
            (k, v)
            for k, v in response.getheaders()
            if k.lower() not in ("content-length", "connection")
        ]
        return _response(response.status, data, kept)

    return Exchange(method, path, headers, body, forward, client)


def _response(status: int, body: bytes, headers: list[tuple[str, str]]) -> bytes:
    reason = http.client.responses.get(status, "Status")
    lines = [
        f"HTTP/1.1 {status} {reason}",
        *(f"{k}: {v}" for k, v in headers),
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
