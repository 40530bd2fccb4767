"""The HTTP sender on its own, against loopback sockets: proxies from the environment, the
headers every request carries, and a receiver that never answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from ingestd.errors import ReceiverUnavailable
from ingestd.pipeline.sender import USER_AGENT, Sender, proxy_for

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


class OneShotServer:
    """Accepts one connection, keeps what arrived, answers `answer` (or nothing at all)."""

    def __init__(self, answer: bytes | None) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.received = b""
        self._answer = answer
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        connection, _ = self._listener.accept()
        with connection:
            while b"\r\n\r\n" not in self.received:
                self.received += connection.recv(65536)
            head, _, body = self.received.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:
                body += connection.recv(65536)
            self.received = head + b"\r\n\r\n" + body
            if self._answer is None:
                connection.recv(1)  # until the client gives up and closes
                return
            connection.sendall(self._answer)

    def close(self) -> None:
        self._listener.close()
        self._thread.join(5)


@pytest.fixture
def acking_server() -> Iterator[OneShotServer]:
    body = b'{"ack": true}'
    server = OneShotServer(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    yield server
    server.close()


def test_the_environment_names_the_proxy(monkeypatch):
    assert proxy_for("http://pim.example/callback") is None
    monkeypatch.setenv("HTTP_PROXY", "proxy.example:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://tls-proxy.example:3128")
    assert proxy_for("http://pim.example/callback") == "http://proxy.example:3128"
    assert proxy_for("https://pim.example/callback") == "http://tls-proxy.example:3128"
    monkeypatch.setenv("NO_PROXY", "localhost,.internal.example")
    assert proxy_for("https://pim.internal.example/callback") is None
    assert proxy_for("https://pim.example/callback") == "http://tls-proxy.example:3128"


def test_a_receiver_on_this_machine_is_reached_without_the_proxy(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    for url in ("http://127.0.0.1:9000/cb", "http://[::1]:9000/cb", "http://localhost/cb"):
        assert proxy_for(url) is None, url
    assert proxy_for("http://10.0.0.5/cb") == "http://proxy.example:3128"


def test_all_proxy_serves_every_scheme_and_no_proxy_star_turns_proxies_off(monkeypatch):
    monkeypatch.setenv("ALL_PROXY", "http://any.example:8080")
    assert proxy_for("https://pim.example/callback") == "http://any.example:8080"
    monkeypatch.setenv("NO_PROXY", "*")
    assert proxy_for("https://pim.example/callback") is None


def test_requests_go_through_the_proxy_the_environment_names(monkeypatch, acking_server):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{acking_server.port}")
    sender = Sender("http://pim.invalid/ingest/callback", 5, headers={"Authorization": "Bearer t"})
    try:
        answer = sender.post(b'{"type":"completion"}', "the-key")
    finally:
        sender.close()
    assert (answer.status, answer.body) == (200, b'{"ack": true}')
    head, _, body = acking_server.received.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST http://pim.invalid/ingest/callback HTTP/1.1"  # the proxy's form
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    assert body == b'{"type":"completion"}'
    assert headers["idempotency-key"] == "the-key"
    assert headers["user-agent"] == USER_AGENT
    assert headers["authorization"] == "Bearer t"
    assert headers["content-digest"].startswith("sha-256=:")
    assert headers["content-type"] == "application/json"


def test_a_receiver_that_never_answers_is_given_up_on_after_the_timeout():
    silent = OneShotServer(answer=None)
    sender = Sender(f"http://127.0.0.1:{silent.port}/callback", 0.3)
    try:
        with pytest.raises(ReceiverUnavailable, match="timed out"):
            sender.post(b"{}", "k")
    finally:
        sender.close()
        silent.close()


def test_every_attempt_is_signed_afresh_over_the_exact_bytes_sent():
    """A retry carries a new webhook-timestamp and signature; both verify with the standard's
    own package; webhook-id is the Idempotency-Key (the chunk_id)."""
    import base64
    import time

    import httpx
    from standardwebhooks.webhooks import Webhook

    from ingestd.core import signing

    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ack": True})

    start = time.time()
    moments = iter([start - 60, start])
    sender = Sender(
        "http://127.0.0.1:9/cb",
        5,
        httpx.MockTransport(answer),
        signing_keys=signing.parse_secrets(secret),
        now=lambda: next(moments),
    )
    body = b'{"type":"chunk","chunk_id":"ab:3"}'
    sender.post(body, "ab:3")
    sender.post(body, "ab:3")
    first, second = (dict(r.headers) for r in seen)
    assert first["webhook-id"] == second["webhook-id"] == first["idempotency-key"] == "ab:3"
    assert int(second["webhook-timestamp"]) - int(first["webhook-timestamp"]) == 60
    assert first["webhook-signature"] != second["webhook-signature"]
    for request in seen:
        assert request.content == body
        Webhook(secret).verify(request.content, dict(request.headers))


def test_without_a_secret_nothing_is_signed():
    import httpx

    seen: list[httpx.Request] = []
    sender = Sender(
        "http://127.0.0.1:9/cb",
        5,
        httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200, json={"ack": True})),
    )
    sender.post(b"{}", "k")
    assert not any(name.startswith("webhook-") for name in seen[0].headers)
