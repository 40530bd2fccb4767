import pytest

from ingestd.core.names import printable_name
from ingestd.core.settle import Observation, Settler, wanted


@pytest.mark.parametrize(
    "name,expected",
    [
        ("products.json", True),
        ("PRODUCTS.JSON", False),
        (".products.json", False),
        ("products.json.part", False),
        ("products.json.filepart", False),
        ("products.json.tmp", False),
        ("products.json.partial", False),
        ("products.json~", False),
        ("~$products.json", False),
        ("products.csv", False),
    ],
)
def test_which_names_are_ingested(name, expected):
    """Hidden files, upload temporaries and lock files are never claimed."""
    assert wanted(name, ["*.json"]) is expected


def test_a_file_is_ready_only_after_settle_seconds_unchanged():
    """A changing size or mtime restarts the settle window."""
    settler = Settler(2.0)
    settler.observe("a.json", Observation(10, 1, 7), now=0.0)
    assert settler.ready(1.9) == []
    settler.observe("a.json", Observation(20, 2, 7), now=1.9)
    assert settler.ready(3.0) == []
    settler.observe("a.json", Observation(20, 2, 7), now=3.5)
    assert settler.ready(3.9) == ["a.json"]
    assert settler.next_deadline() == pytest.approx(3.9)


def test_ready_files_come_in_name_order_and_vanish_when_gone():
    settler = Settler(0.0)
    for name in ("b.json", "a.json", "c.json"):
        settler.observe(name, Observation(1, 1, 1), now=0.0)
    settler.observe("c.json", None, now=0.0)
    assert settler.ready(0.0) == ["a.json", "b.json"]


@pytest.mark.parametrize(
    "name,shown",
    [
        ("plain name.json", "plain name.json"),
        ("line\nbreak.json", "line\\x0abreak.json"),
        ("bad\udcffbyte.json", "bad\\xffbyte.json"),
        ("tab\tand\x1b.json", "tab\\x09and\\x1b.json"),
        ("prodüct.json", "prodüct.json"),
        ("sep\u2028.json", "sep\\u2028.json"),
    ],
)
def test_printable_name_keeps_one_line(name, shown):
    """Names with control characters or non-UTF-8 bytes are escaped, never raw."""
    assert printable_name(name) == shown


def test_printable_names_are_found_as_the_escaping_finds_them():
    """The shortcut for names with nothing to escape (str.isprintable) agrees with the rule
    character by character, over the whole of Unicode but the surrogates."""
    from ingestd.core.names import _escape_char

    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        c = chr(code)
        assert c.isprintable() == (_escape_char(c) == c), hex(code)


def test_a_file_held_open_by_a_writer_is_not_ready():
    """A writer that pauses longer than settle_seconds keeps the file until it closes it."""
    settler = Settler(1.0)
    settler.opened("a.json")
    settler.observe("a.json", Observation(10, 1, 7), now=0.0)
    assert settler.ready(50.0) == []
    settler.opened("a.json")  # a reader opened it too
    settler.closed("a.json")
    assert settler.ready(51.0) == []
    settler.closed("a.json")
    assert settler.ready(51.0) == ["a.json"]


def test_a_lost_close_event_delays_but_never_strands_a_file():
    settler = Settler(1.0)
    settler.opened("a.json")
    settler.observe("a.json", Observation(10, 1, 7), now=0.0)
    assert settler.ready(299.0) == []
    assert settler.ready(300.0) == ["a.json"]


def test_forgetting_a_name_forgets_its_opens():
    """A file claimed (or gone) leaves no open count behind for the next file of that name."""
    settler = Settler(0.0)
    settler.opened("a.json")
    settler.forget("a.json")
    settler.observe("a.json", Observation(1, 1, 2), now=0.0)
    assert settler.ready(0.0) == ["a.json"]


def test_the_next_few_ready_names_come_in_name_order_past_unsettled_ones():
    """Thousands waiting: the scout asks for the first few, skipping a file still changing."""
    settler = Settler(1.0)
    for n in range(3000, 0, -1):
        settler.observe(f"f{n:05d}.json", Observation(1, 1, n), now=0.0)
    settler.observe("f00001.json", Observation(2, 2, 1), now=5.0)  # rewritten: not yet still
    assert settler.ready(5.5, limit=2) == ["f00002.json", "f00003.json"]
    assert len(settler.ready(5.5)) == 2999
    settler.forget("f00002.json")
    assert settler.ready(6.0, limit=2) == ["f00001.json", "f00003.json"]


def test_next_deadline_follows_changes_and_forgotten_files():
    settler = Settler(1.0)
    settler.observe("a.json", Observation(1, 1, 1), now=0.0)
    settler.observe("b.json", Observation(1, 1, 2), now=2.0)
    settler.observe("a.json", Observation(5, 5, 1), now=3.0)  # a changed: b is now earliest
    assert settler.next_deadline() == pytest.approx(3.0)
    settler.forget("b.json")
    assert settler.next_deadline() == pytest.approx(4.0)
    for step in range(1000):  # written to for a long time: the bookkeeping stays small
        settler.observe("a.json", Observation(step + 10, step, 1), now=4.0 + step)
    assert settler.next_deadline() == pytest.approx(1004.0)
    assert len(settler._changes) < 100
    settler.forget("a.json")
    assert settler.next_deadline() is None


def test_settled_answers_for_one_name_as_ready_does():
    settler = Settler(1.0)
    settler.observe("a.json", Observation(10, 1, 7), now=0.0)
    settler.observe("b.json", Observation(10, 1, 8), now=0.5)
    assert [settler.settled(n, 1.2) for n in ("a.json", "b.json", "gone.json")] == [
        True,
        False,
        False,
    ]
    settler.observe("a.json", Observation(11, 2, 7), now=1.2)  # written to again
    assert not settler.settled("a.json", 1.2)
    settler.opened("b.json")
    assert not settler.settled("b.json", 2.0)
