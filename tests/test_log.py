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
