"""HTTP: post one payload and hand back the raw answer; httpx's errors become ours here."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import httpx

from ingestd import __version__
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
    ) -> None:
        self._url = url
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers=headers or {},
            follow_redirects=False,
            verify=verify,
        )

    def post(self, body: bytes, idempotency_key: str) -> Answer:
        """Send `body` as is; raise ReceiverUnavailable when no complete answer arrives."""
        headers = request_headers(body, idempotency_key, USER_AGENT)
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise ReceiverUnavailable(f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise ReceiverUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return Answer(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )

    def close(self) -> None:
        self._client.close()
