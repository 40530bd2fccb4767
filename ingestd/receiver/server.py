"""A small threaded HTTP/1.1 server around ReceiverApp, with Nagle off so answers leave at once."""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

from ingestd.receiver.app import Policy, ReceiverApp

MAX_BODY = 256 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, b'{"ack":false,"error":"Body too large"}')
            self.close_connection = True
            return
        body = self.rfile.read(length)
        if len(body) < length:  # the sender went away mid-body: there is no request to answer
            self.close_connection = True
            return
        self._answer(body)

    def _answer(self, body: bytes) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, answer = self.server.app.handle(self.command, self.path, headers, body)
        if self.command == "POST":
            self.server.log_request(headers, body, status, answer)
        self._send(status, answer)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], app: ReceiverApp, request_log: Path | None
    ) -> None:
        self.app = app
        self._log = request_log.open("ab") if request_log else None
        self._log_lock = threading.Lock()
        super().__init__(address, _Handler)

    def log_request(self, headers: dict[str, str], body: bytes, status: int, answer: bytes) -> None:
        """One JSON line per request, for tests and for debugging a sender: what came, and
        what was answered."""
        if self._log is None:
            return
        line = orjson.dumps(
            {
                "headers": headers,
                "body": body.decode("utf-8", "replace"),
                "status": status,
                "answer": answer.decode("utf-8", "replace"),
            }
        )
        with self._log_lock:
            self._log.write(line + b"\n")
            self._log.flush()

    def server_close(self) -> None:
        super().server_close()
        if self._log is not None:
            self._log.close()


class ReceiverServer:
    """Serves the reference receiver on a loopback port until stopped."""

    def __init__(
        self,
        data: Path,
        host: str = "127.0.0.1",
        port: int = 9000,
        tls: tuple[Path, Path] | None = None,
        policy: Policy | None = None,
        request_log: Path | None = None,
    ) -> None:
        self.app = ReceiverApp(data, policy=policy)
        self._server = _Server((host, port), self.app, request_log)
        self._scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile=tls[0], keyfile=tls[1])
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}/callback"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.app.close()
