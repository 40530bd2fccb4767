"""`ingestd check-receiver URL`: does a receiver keep the protocol? A synthetic ingestion per
check (source.inbox is "ingestd-check", so a receiver can recognise and drop them), each in its
own ingestion so that one broken rule cannot make another check fail.

Every line is one check, required or recommended; the exit status is 0 when every required
check passes, 1 otherwise (2 for a usage error, as everywhere).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from ingestd import contract
from ingestd.core import protocol, signing
from ingestd.core.journal import Range
from ingestd.pipeline.sender import USER_AGENT

CHECK_INBOX = "ingestd-check"
SIMPLE = [{"n": 1, "sku": "CHECK-1"}, {"n": 2, "sku": "CHECK-2"}]
TRICKY_VECTORS = (
    "float 0.1",
    "float 1e+16",
    "float -0.0",
    f"integer {2**53 + 1}",
    "control characters",
    "slash",
    "U+2028 and U+2029",
    "non-BMP characters",
    "keys: non-ASCII",
    "keys: beyond the BMP",
    "nested objects",
)


@dataclass
class Check:
    name: str
    required: bool
    passed: bool | None = None  # None: not run (no secret given, or what it needs failed)
    saw: str = ""


@dataclass
class Exchange:
    status: int | None
    answer: Any
    seconds: float
    error: str | None = None

    @property
    def acked(self) -> bool:
        return (
            self.status is not None
            and 200 <= self.status < 300
            and isinstance(self.answer, dict)
            and self.answer.get("ack") is True
        )

    def describe(self) -> str:
        if self.error:
            return self.error
        shown = orjson.dumps(self.answer).decode() if self.answer is not None else "no JSON"
        return f"HTTP {self.status} {shown[:300]}"


@dataclass
class _Sent:
    ingestion: str
    number: int | None  # None for a completion
    exchange: Exchange


@dataclass
class Checker:
    url: str
    timeout: float
    token: str | None = None
    keys: tuple[bytes, ...] = ()
    verify: bool = True
    transport: httpx.BaseTransport | None = None
    log: list[_Sent] = field(default_factory=list)

    def run(self) -> list[Check]:
        with httpx.Client(
            timeout=self.timeout * 3, verify=self.verify, transport=self.transport
        ) as client:
            self._client = client
            checks = [
                self._in_order(),
                self._duplicate(),
                self._checksum(),
                self._digest(),
                *self._out_of_order(),
                self._signature(),
                self._wrong_total(),
                self._completion(),
            ]
        return [*checks, self._answers(), self._timely()]

    # -- the checks ----------------------------------------------------------------------------

    def _in_order(self) -> Check:
        check = Check("valid chunks acknowledged in order", True)
        vectors = {v["name"]: v for v in contract.load(contract.VECTORS)["vectors"]}
        tricky = [orjson.loads(vectors[name]["records"])[0] for name in TRICKY_VECTORS]
        parts = [tricky[0:4], tricky[4:8], tricky[8:]]
        ingestion = self._ingestion("in-order")
        offset = 0
        for number, records in enumerate(parts):
            exchange = self._chunk(ingestion, number, records, offset, number == len(parts) - 1)
            offset += len(records)
            if not exchange.acked:
                return self._failed(check, f"chunk {number}: {exchange.describe()}", exchange)
        return self._passed(check)

    def _duplicate(self) -> Check:
        check = Check("a duplicate of an acknowledged chunk acknowledged again", True)
        ingestion = self._ingestion("duplicate")
        first = self._chunk(ingestion, 0, SIMPLE, 0, False)
        if not first.acked:
            return self._not_run(check, f"chunk 0 was not acknowledged: {first.describe()}")
        again = self._chunk(ingestion, 0, SIMPLE, 0, False)
        return self._passed(check) if again.acked else self._failed(check, again.describe())

    def _checksum(self) -> Check:
        check = Check("a wrong checksum refused with Checksum mismatch", True)
        exchange = self._chunk(self._ingestion("checksum"), 0, SIMPLE, 0, True, checksum="0" * 64)
        if not exchange.acked and _error(exchange) == protocol.CHECKSUM_MISMATCH:
            return self._passed(check)
        return self._failed(check, exchange.describe())

    def _digest(self) -> Check:
        check = Check("a body whose Content-Digest does not match refused", True)
        wrong = "sha-256=:" + base64.b64encode(hashlib.sha256(b"other").digest()).decode() + ":"
        exchange = self._chunk(self._ingestion("digest"), 0, SIMPLE, 0, True, digest=wrong)
        return self._passed(check) if not exchange.acked else self._failed(check, "acknowledged")

    def _out_of_order(self) -> list[Check]:
        refused = Check("a skipped chunk number refused with Out-of-order chunk", True)
        expected = Check("the Out-of-order refusal names the expected_chunk", False)
        ingestion = self._ingestion("out-of-order")
        first = self._chunk(ingestion, 0, SIMPLE[:1], 0, False)
        if not first.acked:
            why = f"chunk 0 was not acknowledged: {first.describe()}"
            return [self._not_run(refused, why), self._not_run(expected, why)]
        skipped = self._chunk(ingestion, 2, SIMPLE[1:], 2, True)
        if skipped.acked or _error(skipped) != protocol.OUT_OF_ORDER:
            return [self._failed(refused, skipped.describe()), self._not_run(expected, "")]
        answer = skipped.answer if isinstance(skipped.answer, dict) else {}
        if answer.get("expected_chunk") == 1:
            return [self._passed(refused), self._passed(expected)]
        return [self._passed(refused), self._failed(expected, skipped.describe())]

    def _signature(self) -> Check:
        check = Check("a bad signature refused", True)
        if not self.keys:
            return self._not_run(check, "no --signing-secret-file given")
        wrong = (secrets.token_bytes(32),)
        exchange = self._chunk(self._ingestion("signature"), 0, SIMPLE, 0, True, keys=wrong)
        return self._passed(check) if not exchange.acked else self._failed(check, "acknowledged")

    def _wrong_total(self) -> Check:
        check = Check("a completion whose total_records is wrong refused", False)
        ingestion = self._ingestion("wrong-total")
        chunk = self._chunk(ingestion, 0, SIMPLE, 0, True)
        if not chunk.acked:
            return self._not_run(check, f"chunk 0 was not acknowledged: {chunk.describe()}")
        exchange = self._completion_of(ingestion, 1, len(SIMPLE) + 1)
        return self._passed(check) if not exchange.acked else self._failed(check, "acknowledged")

    def _completion(self) -> Check:
        check = Check("the completion acknowledged", True)
        ingestion = self._ingestion("completion")
        chunk = self._chunk(ingestion, 0, SIMPLE, 0, True)
        if not chunk.acked:
            return self._not_run(check, f"chunk 0 was not acknowledged: {chunk.describe()}")
        exchange = self._completion_of(ingestion, 1, len(SIMPLE))
        return self._passed(check) if exchange.acked else self._failed(check, exchange.describe())

    def _answers(self) -> Check:
        check = Check("every answer a JSON object with a boolean ack, naming what was sent", True)
        for sent in self.log:
            answer, exchange = sent.exchange.answer, sent.exchange
            if exchange.error:
                continue  # no answer at all: the timeliness check says so
            problem = _answer_problem(answer, sent.ingestion, sent.number)
            if problem:
                return self._failed(check, f"{problem}: {exchange.describe()}")
        return self._passed(check)

    def _timely(self) -> Check:
        check = Check(f"answers within the timeout ({self.timeout:g} s)", True)
        slow = [
            s.exchange for s in self.log if s.exchange.error or s.exchange.seconds > self.timeout
        ]
        if not slow:
            return self._passed(check)
        worst = slow[0]
        return self._failed(check, worst.error or f"an answer took {worst.seconds:.2f} s")

    # -- sending -------------------------------------------------------------------------------

    def _ingestion(self, name: str) -> str:
        return hashlib.sha256(f"{CHECK_INBOX}:{name}:{secrets.token_hex(16)}".encode()).hexdigest()

    def _chunk(
        self,
        ingestion: str,
        number: int,
        records: list[dict[str, Any]],
        offset: int,
        is_last: bool,
        checksum: str | None = None,
        digest: str | None = None,
        keys: tuple[bytes, ...] | None = None,
    ) -> Exchange:
        records_json = orjson.dumps(records, option=orjson.OPT_SORT_KEYS)
        sent = Range(offset, len(records), checksum or hashlib.sha256(records_json).hexdigest())
        body = protocol.chunk_body(ingestion, number, sent, records_json, is_last, _SOURCE)
        key = protocol.chunk_id(ingestion, number)
        return self._post(ingestion, number, body, key, digest, keys)

    def _completion_of(self, ingestion: str, chunks: int, total: int) -> Exchange:
        body = protocol.completion_body(ingestion, chunks, total, "0" * 64, _SOURCE)
        return self._post(ingestion, None, body, f"{ingestion}:completion", None, None)

    def _post(
        self,
        ingestion: str,
        number: int | None,
        body: bytes,
        key: str,
        digest: str | None,
        keys: tuple[bytes, ...] | None,
    ) -> Exchange:
        headers = protocol.request_headers(body, key, USER_AGENT)
        if digest is not None:
            headers["Content-Digest"] = digest
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        signing_keys = self.keys if keys is None else keys
        if signing_keys:
            headers.update(signing.headers(signing_keys, key, int(time.time()), body))
        started = time.monotonic()
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            exchange = Exchange(None, None, time.monotonic() - started, f"no answer: {exc!r}")
        else:
            exchange = Exchange(
                response.status_code, _json(response.content), time.monotonic() - started
            )
        self.log.append(_Sent(ingestion, number, exchange))
        return exchange

    # -- verdicts ------------------------------------------------------------------------------

    @staticmethod
    def _passed(check: Check) -> Check:
        check.passed = True
        return check

    @staticmethod
    def _failed(check: Check, saw: str, exchange: Exchange | None = None) -> Check:
        check.passed = False
        check.saw = saw
        if exchange is not None and _error(exchange) == protocol.CHECKSUM_MISMATCH:
            check.saw += (
                " (the receiver's canonical form differs from the sender's: see "
                "protocol-vectors.json, or check Content-Digest instead)"
            )
        return check

    @staticmethod
    def _not_run(check: Check, why: str) -> Check:
        check.saw = why
        return check


_SOURCE = protocol.Source(CHECK_INBOX, "ingestd-check.json", "json")


def _json(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def _error(exchange: Exchange) -> Any:
    return exchange.answer.get("error") if isinstance(exchange.answer, dict) else None


def _answer_problem(answer: Any, ingestion: str, number: int | None) -> str | None:
    if not isinstance(answer, dict):
        return "not a JSON object"
    if not isinstance(answer.get("ack"), bool):
        return '"ack" is not a boolean'
    if "ingestion_id" in answer and answer["ingestion_id"] != ingestion:
        return "it names another ingestion_id"
    if number is not None and "chunk_number" in answer and answer["chunk_number"] != number:
        return "it names another chunk_number"
    return None


def report(checks: list[Check], url: str) -> tuple[str, dict[str, Any], bool]:
    """The lines to print, the JSON document, and whether every required check passed."""
    ok = all(c.passed is not False for c in checks if c.required)
    lines = [f"check-receiver {url}"]
    for c in checks:
        verdict = {True: "PASS", False: "FAIL", None: "SKIP"}[c.passed]
        kind = "required" if c.required else "recommended"
        lines.append(f"{verdict}  {kind:<11}  {c.name}" + (f": {c.saw}" if c.saw else ""))
    passed = sum(1 for c in checks if c.passed)
    lines.append(f"{'OK' if ok else 'NOT CONFORMING'}: {passed} of {len(checks)} checks passed")
    document = {
        "url": url,
        "conforming": ok,
        "checks": [
            {"name": c.name.strip(" ."), "required": c.required, "passed": c.passed, "saw": c.saw}
            for c in checks
        ],
    }
    return "\n".join(lines), document, ok
