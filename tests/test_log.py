import io

import orjson
import pytest
import structlog

from ingestd import log


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_structlog():
    yield
    structlog.reset_defaults()


def test_json_lines_when_not_on_a_terminal():
    """journald gets one JSON object per line, with the bound context and escaped names."""
    out = io.StringIO()
    log.setup("info", "auto", out)
    structlog.get_logger().bind(inbox="p", file="a\\x0ab.json").info("claimed", chunk_number=3)
    (line,) = out.getvalue().splitlines()
    entry = orjson.loads(line)
    assert entry["event"] == "claimed" and entry["inbox"] == "p" and entry["chunk_number"] == 3
    assert entry["level"] == "info" and entry["timestamp"].endswith("Z")


def test_console_rendering_on_a_terminal():
    out = Terminal()
    log.setup("info", "auto", out)
    structlog.get_logger().info("claimed", inbox="p")
    assert not out.getvalue().startswith("{") and "claimed" in out.getvalue()


def test_level_filters():
    out = io.StringIO()
    log.setup("warning", "json", out)
    structlog.get_logger().info("quiet")
    structlog.get_logger().warning("loud")
    assert [orjson.loads(line)["event"] for line in out.getvalue().splitlines()] == ["loud"]


class CountingRaw(io.RawIOBase):
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.writes.append(bytes(data))
        return len(data)


def test_each_line_reaches_the_stream_in_one_write():
    """On journald's pipe, one write of up to 4 kB is never interleaved with another writer's.
    The stream is stdout as the unit's PYTHONUNBUFFERED=1 makes it: text written straight to
    the file descriptor."""
    raw = CountingRaw()
    log.setup("info", "json", io.TextIOWrapper(raw, encoding="utf-8", write_through=True))
    structlog.get_logger().info("claimed", inbox="p")
    structlog.get_logger().info("file finished", inbox="p")
    assert [orjson.loads(w)["event"] for w in raw.writes] == ["claimed", "file finished"]
    assert all(w.endswith(b"}\n") for w in raw.writes)


def test_under_systemd_each_entry_goes_to_the_journal_with_fields_of_its_own(tmp_path):
    """JOURNAL_STREAM names stdout: entries go by journald's native protocol, PRIORITY from
    the level, each field a journal field (INGESTION_ID finds one ingestion's lines)."""
    import os
    import socket

    journald = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journald.bind(str(tmp_path / "journal.sock"))
    journald.settimeout(5)
    stdout = open(tmp_path / "stdout", "w")  # noqa: SIM115 (closed below)
    info = os.fstat(stdout.fileno())
    try:
        log.setup(
            "info",
            "auto",
            stdout,
            environ={"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"},
            journal_socket=str(tmp_path / "journal.sock"),
        )
        logger = structlog.get_logger().bind(inbox="p", ingestion_id="abc")
        logger.error("file failed", reason="invalid_input", error="bad\nthing")
        logger.warning("receiver not ready, will retry", chunk_number=3)
        entries = [_fields(journald.recv(65536)) for _ in range(2)]
    finally:
        stdout.close()
        journald.close()
    failed, retry = entries
    assert failed["PRIORITY"] == "3" and retry["PRIORITY"] == "4"
    assert failed["INGESTION_ID"] == "abc" and failed["INBOX"] == "p"
    assert failed["REASON"] == "invalid_input" and failed["ERROR"] == "bad\nthing"
    assert (
        failed["MESSAGE"].startswith("file failed ") and "reason=invalid_input" in failed["MESSAGE"]
    )
    assert retry["CHUNK_NUMBER"] == "3" and failed["SYSLOG_IDENTIFIER"] == "ingestd"
    assert (tmp_path / "stdout").read_text() == ""  # nothing twice


def test_without_the_journal_stream_it_writes_lines(tmp_path):
    out = io.StringIO()
    log.setup("info", "auto", out, environ={"JOURNAL_STREAM": "1:2"})
    structlog.get_logger().info("claimed")
    assert orjson.loads(out.getvalue())["event"] == "claimed"


def _fields(datagram: bytes) -> dict[str, str]:
    """Decode the native protocol: KEY=value lines, or KEY, a newline, a length, the value."""
    import struct

    fields, at = {}, 0
    while at < len(datagram):
        end = datagram.index(b"\n", at)
        line = datagram[at:end]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            at = end + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", datagram[end + 1 : end + 9])
            value = datagram[end + 9 : end + 9 + size]
            at = end + 9 + size + 1
        fields[key.decode()] = value.decode()
    return fields
