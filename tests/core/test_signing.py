"""Standard Webhooks signatures, checked both ways against the `standardwebhooks` package."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ingestd.core import signing

KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(bytes(range(24))).decode()
BODY = b'{"type":"chunk","records":[{"sku":"A"}]}'


def test_a_secrets_file_holds_one_secret_a_line_for_rotation():
    keys = signing.parse_secrets(f"whsec_{KEY_A}\n\n  whsec_{KEY_B}  \n")
    assert keys == (b"a" * 32, bytes(range(24)))


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "holds no secret"),
        (f"{KEY_A}\n", "line 1 does not start with whsec_"),
        (f"whsec_{KEY_A}\nwhsec_not base64!\n", "line 2 is not whsec_ followed by base64"),
        (f"whsec_{base64.b64encode(b'short').decode()}", "holds 5 bytes; at least 24"),
    ],
)
def test_a_bad_secrets_file_is_refused_without_showing_the_secret(text, complaint):
    with pytest.raises(ValueError) as refused:
        signing.parse_secrets(text)
    assert complaint in str(refused.value)
    assert KEY_A not in str(refused.value) and "base64!" not in str(refused.value)


def test_our_signature_verifies_with_the_standard_webhooks_package():
    now = int(time.time())
    keys = signing.parse_secrets(f"whsec_{KEY_A}\nwhsec_{KEY_B}")
    headers = signing.headers(keys, "abc:0", now, BODY)
    assert headers["webhook-id"] == "abc:0" and headers["webhook-timestamp"] == str(now)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (KEY_A, KEY_B):  # either side of a rotation accepts it
        assert Webhook(f"whsec_{secret}").verify(BODY, headers) is not None
    with pytest.raises(WebhookVerificationError):
        Webhook(f"whsec_{KEY_A}").verify(BODY + b" ", headers)  # exactly the bytes sent
    with pytest.raises(WebhookVerificationError):
        other = base64.b64encode(b"o" * 32).decode()
        Webhook(f"whsec_{other}").verify(BODY, headers)


def test_a_signature_made_by_the_package_verifies_here():
    from datetime import UTC, datetime

    moment = datetime.now(UTC)
    signature = Webhook(f"whsec_{KEY_B}").sign("id-1", moment, BODY)
    headers = {
        "webhook-id": "id-1",
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": f"v1,bm90IGl0 {signature}",
    }
    keys = signing.parse_secrets(f"whsec_{KEY_B}")
    assert signing.verify(keys, headers, BODY, moment.timestamp()) is None


def test_verification_refuses_a_stale_or_future_timestamp_and_missing_headers():
    keys = signing.parse_secrets(f"whsec_{KEY_A}")
    headers = signing.headers(keys, "x", 1_000_000, BODY)
    assert signing.verify(keys, headers, BODY, 1_000_000 + 300) is None
    assert "more than 300 s" in str(signing.verify(keys, headers, BODY, 1_000_000 + 301))
    assert "more than 300 s" in str(signing.verify(keys, headers, BODY, 1_000_000 - 301))
    assert "missing" in str(signing.verify(keys, {}, BODY, 1_000_000))
    assert "no signature matches" in str(signing.verify(keys, headers, b"{}", 1_000_000))
