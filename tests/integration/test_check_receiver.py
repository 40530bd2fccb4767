"""`ingestd check-receiver` against real receivers over loopback: the reference receiver
passes every check, an independent one too, and one broken a rule at a time fails exactly the
check for that rule."""

from __future__ import annotations

import base64

import orjson
import pytest

from tests.broken_receiver import RULES
from tests.integration.conftest import LegacyReceiver, Process, free_port, wait_until
from tests.integration.test_cli import ingestd

SECRET = "whsec_" + base64.b64encode(b"check-receiver-secret-0123456789").decode()
FAILS = {
    "canonical": "valid chunks acknowledged in order",
    "duplicate": "a duplicate of an acknowledged chunk acknowledged again",
    "checksum": "a wrong checksum refused with Checksum mismatch",
    "digest": "a body whose Content-Digest does not match refused",
    "order": "a skipped chunk number refused with Out-of-order chunk",
    "expected_chunk": "the Out-of-order refusal names the expected_chunk",
    "signature": "a bad signature refused",
    "total": "a completion whose total_records is wrong refused",
    "completion": "the completion acknowledged",
    "answers": "every answer a JSON object with a boolean ack, naming what was sent",
    "slow": "answers within the timeout (1 s)",
}
REQUIRED_TO_FAIL = {"expected_chunk": False, "total": False}


def check(url: str, *options: str) -> tuple[int, dict]:
    result = ingestd("check-receiver", url, "--json", "--timeout", "1", *options)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, orjson.loads(result.stdout)


def failed(document: dict) -> set[str]:
    return {c["name"] for c in document["checks"] if c["passed"] is False}


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    return path


def start_broken(tmp_path, processes, rule: str | None, secret_file) -> str:
    port = free_port()
    options = ["--port", str(port), "--signing-secret-file", str(secret_file)]
    process = Process(
        options + (["--break", rule] if rule else []),
        tmp_path / f"broken-{rule}.log",
        module="tests.broken_receiver",
    )
    processes.append(process)
    url = f"http://127.0.0.1:{port}/callback"
    wait_until(lambda: ingestd_health(port), what="the receiver")
    return url


def ingestd_health(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=1, trust_env=False).is_success
    except httpx.TransportError:
        return False


def test_the_reference_receiver_passes_every_check(tmp_path, receiver, secret_file):
    receiver.start("--signing-secret-file", str(secret_file))
    code, document = check(receiver.url, "--signing-secret-file", str(secret_file))
    assert code == 0 and document["conforming"]
    assert all(c["passed"] for c in document["checks"]), document
    assert len(document["checks"]) == len(FAILS)
    inboxes = {i["inbox"] for i in receiver.ingestions()}
    assert inboxes == {"ingestd-check"}  # a receiver can recognise and drop them


def test_without_a_secret_the_signature_check_is_skipped_not_passed(tmp_path, receiver):
    code, document = check(receiver.url)
    (skipped,) = [c for c in document["checks"] if c["passed"] is None]
    assert code == 0 and skipped["name"] == "a bad signature refused"


def test_an_independent_receiver_passes_every_check(tmp_path, processes, secret_file):
    url = start_broken(tmp_path, processes, None, secret_file)
    code, document = check(url, "--signing-secret-file", str(secret_file))
    assert code == 0 and failed(document) == set()


@pytest.mark.parametrize("rule", RULES)
def test_a_receiver_breaking_one_rule_fails_exactly_its_check(
    tmp_path, processes, secret_file, rule
):
    url = start_broken(tmp_path, processes, rule, secret_file)
    code, document = check(url, "--signing-secret-file", str(secret_file))
    assert failed(document) == {FAILS[rule]}, document
    required = next(c["required"] for c in document["checks"] if c["name"] == FAILS[rule])
    assert required is REQUIRED_TO_FAIL.get(rule, True)
    assert code == (1 if required else 0)


def test_a_receiver_written_like_the_earlier_services_is_told_what_it_lacks(tmp_path, processes):
    legacy = LegacyReceiver(tmp_path, processes).start()
    code, document = check(legacy.url)
    assert code == 1
    assert failed(document) == {
        "a body whose Content-Digest does not match refused",
        "the Out-of-order refusal names the expected_chunk",
        "a completion whose total_records is wrong refused",
    }


def test_usage_errors_exit_2(tmp_path):
    assert ingestd("check-receiver", "ftp://x/").returncode == 2
    missing = tmp_path / "missing"
    assert (
        ingestd(
            "check-receiver", "http://127.0.0.1:9/", "--signing-secret-file", str(missing)
        ).returncode
        == 2
    )
    assert ingestd("check-receiver", "http://127.0.0.1:9/", "--timeout", "0").returncode == 2


def test_the_text_report_has_one_line_per_check(tmp_path, receiver):
    result = ingestd("check-receiver", receiver.url)
    lines = result.stdout.splitlines()
    assert lines[0] == f"check-receiver {receiver.url}"
    assert sum(1 for line in lines if line[:4] in ("PASS", "FAIL", "SKIP")) == len(FAILS)
    assert lines[-1].startswith("OK: 10 of 11 checks passed")


def test_the_token_is_sent_to_a_receiver_that_demands_one(tmp_path, receiver):
    token = tmp_path / "token"
    token.write_text("check-t0ken\n")
    receiver.start("--token-file", str(token))
    code, document = check(receiver.url, "--token-file", str(token))
    assert code == 0 and failed(document) == set()
    code, document = check(receiver.url)
    assert code == 1 and "valid chunks acknowledged in order" in failed(document)
