"""A loopback HTTP/1.1 server answering JSON, for the test receivers written outside the
package (tests/legacy_receiver.py, tests/broken_receiver.py)."""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

Answer = tuple[int, Any]
Handler = Callable[[str, str, dict[str, str], bytes], Answer]  # method, path, headers, body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _answer(self, body: bytes) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, value = self.server.handle(self.command, self.path, headers, body)
        answer = orjson.dumps(value)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, handle: Handler) -> None:
        self.handle = handle
        super().__init__(("127.0.0.1", port), _Handler)


def serve(port: int, handle: Handler) -> None:
    """Answer every request on 127.0.0.1:`port` with `handle`, until the process is killed."""
    _Server(port, handle).serve_forever(poll_interval=0.1)
