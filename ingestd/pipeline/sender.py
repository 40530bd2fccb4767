"""HTTP: post one payload and hand back the raw answer; httpx's errors become ours here.

Requests go straight to an httpx transport (a connection pool, or a proxy in front of one),
not through httpx.Client. The client's layers (URL merging, cookies, auth and redirect flows,
event hooks) are all unused here, one URL with fixed headers and no redirects, yet they cost
more CPU per request than the transport itself: about 0.6 ms a request, a fifth of the
daemon's time per small file.

httpx is imported with the first request, not at start: its import takes 0.14 s, about a
fifth of the time from start to READY=1, and a daemon with nothing to send needs none of it.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ingestd import __version__
from ingestd.core import signing
from ingestd.core.protocol import request_headers
from ingestd.errors import ReceiverUnavailable

if TYPE_CHECKING:
    import httpx

USER_AGENT = f"ingestd/{__version__}"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Sender:
    """Posts payloads to one callback URL over a kept-alive connection."""

    def __init__(
        self,
        url: str,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
        headers: dict[str, str] | None = None,
        verify: bool | ssl.SSLContext = True,
        signing_keys: tuple[bytes, ...] = (),
        now: Callable[[], float] = time.time,
    ) -> None:
        """With `signing_keys`, every attempt is signed afresh at `now()` (Standard Webhooks)."""
        self._url = url
        self._timeout = timeout
        self._verify = verify
        self._signing_keys = signing_keys
        self._now = now
        self._transport = transport
        self._connection: _Connection | None = None  # made with the first post
        self._connecting = threading.Lock()  # an inbox's workers share their sender
        self._headers = headers or {}

    def post(self, body: bytes, idempotency_key: str) -> Answer:
        """Send `body` as is; raise ReceiverUnavailable when no complete answer arrives."""
        import httpx

        headers = {**self._headers, **request_headers(body, idempotency_key, USER_AGENT)}
        if self._signing_keys:
            stamp = int(self._now())
            headers.update(signing.headers(self._signing_keys, idempotency_key, stamp, body))
        connection = self._connection or self._connect()
        request = httpx.Request(
            "POST", connection.url, headers=headers, content=body, extensions=connection.extensions
        )
        try:
            response = connection.transport.handle_request(request)
            try:
                content = response.read()
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise ReceiverUnavailable(f"timed out: {type(exc).__name__}", "timeout") from exc
        except httpx.TransportError as exc:
            raise ReceiverUnavailable(f"{type(exc).__name__}: {exc}", "connection") from exc
        return Answer(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            content,
        )

    def _connect(self) -> _Connection:
        import httpx

        with self._connecting:
            if self._connection is None:
                transport = self._transport or httpx.HTTPTransport(
                    verify=self._verify, proxy=proxy_for(self._url)
                )
                extensions = {"timeout": httpx.Timeout(self._timeout).as_dict()}
                self._connection = _Connection(httpx.URL(self._url), transport, extensions)
            return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.transport.close()
        elif self._transport is not None:
            self._transport.close()


@dataclass(frozen=True)
class _Connection:
    """What a request needs, made once: the parsed URL, the transport, its timeouts."""

    url: httpx.URL
    transport: httpx.BaseTransport
    extensions: dict[str, Any]


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTP_PROXY, HTTPS_PROXY or ALL_PROXY, in
    either case), unless NO_PROXY exempts its host: the conventions httpx.Client and Python's
    urllib follow, read once, with the first request. A receiver on this machine is reached
    directly."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parsed.scheme) or proxies.get("all")
    if not proxy or _loopback(host) or urllib.request.proxy_bypass(host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
