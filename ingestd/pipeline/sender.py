"""HTTP: post one payload and hand back the raw answer; httpx's errors become ours here.

Requests go straight to an httpx transport (a connection pool, or a proxy in front of one),
not through httpx.Client. The client's layers (URL merging, cookies, auth and redirect flows,
event hooks) are all unused here, one URL with fixed headers and no redirects, yet they cost
more CPU per request than the transport itself: about 0.6 ms a request, a fifth of the
daemon's time per small file.
"""

from __future__ import annotations

import ipaddress
import ssl
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from ingestd import __version__
from ingestd.core import signing
from ingestd.core.protocol import request_headers
from ingestd.errors import ReceiverUnavailable

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
        self._url = httpx.URL(url)
        self._signing_keys = signing_keys
        self._now = now
        self._transport = transport or httpx.HTTPTransport(verify=verify, proxy=proxy_for(url))
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}
        self._headers = headers or {}

    def post(self, body: bytes, idempotency_key: str) -> Answer:
        """Send `body` as is; raise ReceiverUnavailable when no complete answer arrives."""
        headers = {**self._headers, **request_headers(body, idempotency_key, USER_AGENT)}
        if self._signing_keys:
            stamp = int(self._now())
            headers.update(signing.headers(self._signing_keys, idempotency_key, stamp, body))
        request = httpx.Request(
            "POST", self._url, headers=headers, content=body, extensions=self._extensions
        )
        try:
            response = self._transport.handle_request(request)
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

    def close(self) -> None:
        self._transport.close()


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTP_PROXY, HTTPS_PROXY or ALL_PROXY, in
    either case), unless NO_PROXY exempts its host: the conventions httpx.Client and Python's
    urllib follow, read once at start. A receiver on this machine is reached directly."""
    parsed = httpx.URL(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parsed.scheme) or proxies.get("all")
    if not proxy or _loopback(parsed.host) or urllib.request.proxy_bypass(parsed.host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
