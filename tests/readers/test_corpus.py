"""Every file of the hostile-input corpus ends as expected: delivered whole, ignored, or failed
with the named reason, before anything of it reaches the receiver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingestd.core.settle import wanted
from ingestd.pipeline.isolation import ParserProcess
from tests.harness import INBOX, Harness

CORPUS = Path(__file__).parents[1] / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
PATTERNS = INBOX.patterns  # the defaults, and *.xml


def test_the_corpus_is_large_and_matches_its_expectations():
    files = {p.name for p in (CORPUS / "files").iterdir()}
    assert files == set(EXPECTED) and len(files) >= 40


@pytest.fixture(scope="module")
def stager():
    stager = ParserProcess(memory_limit_mb=512, time_limit_seconds=120)
    yield stager
    stager.close()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(tmp_path, stager, name):
    expected = EXPECTED[name]
    content = (CORPUS / "files" / name).read_bytes()
    if expected["outcome"] == "ignored":
        assert not wanted(name, PATTERNS)
        return
    assert wanted(name, PATTERNS)
    h = Harness(tmp_path, stager=stager)
    try:
        outcome = h.run(h.drop(name, content))
        if expected["outcome"] == "delivered":
            assert outcome == "done"
            completion = h.sent[-1]
            assert completion["type"] == "completion"
            assert completion["total_records"] == expected["records"]
            assert len(h.received(completion["ingestion_id"])) == expected["records"]
        else:
            assert outcome == "failed"
            report = h.report()
            assert report["reason"] == expected["reason"]
            assert expected["error"] in report["error"], report["error"]
            assert h.sent == []
    finally:
        h.close()
