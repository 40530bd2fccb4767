"""Receipts are told from data by name and content; a claim folder's data file is found even when
its name looks like a receipt, and known to be gone when an admin moved it out."""

from __future__ import annotations

import pytest

from ingestd.fs.claim import data_name, receipt_kind

REPORT = b'{"file": "x.json", "reason": "invalid_input", "error": "e", "what_to_do": "w"}'
JOURNAL = b'{"ingestion_id": "a", "type": "begin", "journal_version": 1, "claim_token": "t"}\n'
RETRY = b'{"reason": "HTTP 503", "attempt": 2, "since": "s", "next_try_at": "n"}'


@pytest.mark.parametrize(
    "name,content,kind",
    [
        ("x.json.journal", JOURNAL, "journal"),
        ("x.json.error.json", REPORT, "failure report"),
        ("x.json.retry.json", RETRY, "retry state"),
        ("orders.error.json", b'[{"sku": "A"}]', None),  # data that only has the name
        ("x.journal", b"not json", None),
        ("x.json", REPORT, None),  # the content without the name
        ("x.json.error.json", b'{"file": "x.json"}', None),
    ],
)
def test_a_receipt_is_recognised_by_name_and_content(tmp_path, name, content, kind):
    (tmp_path / name).write_bytes(content)
    assert receipt_kind(tmp_path / name) == kind


def never(name: str) -> bool:
    raise AssertionError("not ambiguous: content need not be read")


@pytest.mark.parametrize(
    "entries,found",
    [
        (["x.json"], ("x.json", True)),
        (["x.json", "x.json.journal", "x.json.staged", "x.json.index"], ("x.json", True)),
        (["x.json.journal", "x.json.error.json"], ("x.json", False)),
        (["x.json.error.json", "x.json.journal.tmp"], ("x.json", False)),
        (["orders.error.json", "orders.error.json.error.json"], ("orders.error.json", True)),
        (["x.journal", "x.journal.journal", "x.journal.staged"], ("x.journal", True)),
        (["a.json", "b.json"], None),
    ],
)
def test_the_data_name_of_a_claim_folder(entries, found):
    assert data_name(entries, never) == found


def test_a_lone_entry_that_could_be_either_is_decided_by_its_content():
    """`x.json.journal` alone: a journal whose data file was moved out, or data of that name."""
    assert data_name(["x.json.journal"], lambda n: True) == ("x.json", False)
    assert data_name(["x.json.journal"], lambda n: False) == ("x.json.journal", True)
