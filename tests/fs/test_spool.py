"""The folders: claim by one rename, never overwrite, finish under a date, one filesystem."""

import os
import threading

import pytest

from ingestd.core.outcome import Outcome
from ingestd.errors import ConfigError
from ingestd.fs.claim import ClaimFolder
from ingestd.fs.durable import Disk
from ingestd.fs.spool import Layout, Spool


@pytest.fixture
def spool(tmp_path):
    layout = Layout(tmp_path / "root")
    layout.create(Disk())
    return Spool(layout, ["*.json"])


def test_layout_creates_the_four_folders(tmp_path):
    layout = Layout(tmp_path / "a" / "b")
    layout.create(Disk())
    assert all(folder.is_dir() for folder in layout.folders())


def test_folders_on_different_filesystems_are_refused(tmp_path):
    """rename is atomic only within one filesystem, so a split layout is refused at start-up."""
    if os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("/dev/shm is on the same filesystem here")
    layout = Layout(tmp_path / "root")
    layout.root.mkdir()
    elsewhere = os.path.join("/dev/shm", f"ingestd-test-{os.getpid()}")
    os.mkdir(elsewhere)
    try:
        os.symlink(elsewhere, layout.done)
        with pytest.raises(ConfigError, match="one filesystem"):
            layout.create(Disk())
    finally:
        os.rmdir(elsewhere)


def test_claim_moves_the_file_into_its_own_work_folder(spool):
    (spool.layout.inbox / "p.json").write_bytes(b"[]")
    claim = spool.claim("p.json", 0.0)
    assert claim is not None
    assert claim.data.read_bytes() == b"[]"
    assert claim.folder.parent == spool.layout.work
    assert not (spool.layout.inbox / "p.json").exists()


def test_of_two_racing_claimers_exactly_one_wins(tmp_path):
    """Two daemons on one inbox: one rename succeeds, the other sees ENOENT and moves on."""
    layout = Layout(tmp_path / "root")
    layout.create(Disk())
    for round_ in range(30):
        name = f"p{round_}.json"
        (layout.inbox / name).write_bytes(b"[]")
        spools = [Spool(layout, ["*.json"]) for _ in range(4)]
        barrier = threading.Barrier(len(spools))
        results: list[ClaimFolder | None] = []

        def claim(spool: Spool, barrier=barrier, results=results, name=name) -> None:
            barrier.wait()
            results.append(spool.claim(name, 0.0))

        threads = [threading.Thread(target=claim, args=(s,)) for s in spools]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
    folders = list(layout.work.iterdir())
    assert len(folders) == 30  # losers left no empty folders behind


def test_rename_noreplace_never_replaces(tmp_path):
    (tmp_path / "a").write_text("new")
    (tmp_path / "b").write_text("old")
    with pytest.raises(FileExistsError):
        Disk().rename_noreplace(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_text() == "old"


def test_finishing_the_same_name_twice_keeps_both(spool):
    """The same file name arrives every day; nothing in done/ is ever overwritten."""
    targets = []
    for content in (b"[1]", b"[2]"):
        (spool.layout.inbox / "p.json").write_bytes(content)
        claim = spool.claim("p.json", 1_800_000_000.0)
        targets.append(spool.finish(claim, Outcome.DONE, 1_800_000_000.0))
    assert targets[0] != targets[1]
    assert [t.read_bytes() for t in targets] == [b"[1]", b"[2]"]
    assert all(t.name == "p.json" and t.parent.parent.name == "2027-01-15" for t in targets)


def test_claims_lists_leftovers_oldest_first_and_drops_empty_folders(spool):
    for name in ("b.json", "a.json"):
        (spool.layout.inbox / name).write_bytes(b"[]")
    first = spool.claim("b.json", 1_000.0)
    second = spool.claim("a.json", 2_000.0)
    (spool.layout.work / "20000101T000000Z-deadbeef").mkdir()  # crash between mkdir and rename
    found = spool.claims()
    assert [c.folder for c in found] == [first.folder, second.folder]
    assert not (spool.layout.work / "20000101T000000Z-deadbeef").exists()


def test_the_data_file_is_found_among_its_companions(tmp_path):
    folder = tmp_path / "claim"
    folder.mkdir()
    for name in ("x.journal", "x.journal.journal", "x.journal.staged", "x.journal.error.json"):
        (folder / name).write_bytes(b"")
    assert ClaimFolder.in_folder(folder).name == "x.journal"


def test_look_ignores_what_is_not_a_regular_file(spool, caplog):
    inbox = spool.layout.inbox
    os.mkfifo(inbox / "fifo.json")
    os.symlink("/etc/passwd", inbox / "link.json")
    (inbox / "dir.json").mkdir()
    (inbox / "ok.json").write_bytes(b"[]")
    assert spool.look("fifo.json") is None
    assert spool.look("link.json") is None
    assert spool.look("dir.json") is None
    assert spool.look("ok.json") is not None
    assert sorted(spool.scan()) == ["dir.json", "fifo.json", "link.json", "ok.json"]


def test_a_non_regular_entry_is_warned_about_once(spool, capsys):
    """A FIFO left in the inbox gets one warning, not one per scan."""
    os.mkfifo(spool.layout.inbox / "fifo.json")
    for _ in range(3):
        spool.scan()
        spool.look("fifo.json")
    assert capsys.readouterr().out.count("fifo.json") == 1
