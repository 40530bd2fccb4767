"""Files as ERP systems, shops, pipelines, Excel and BMEcat tools write them, each with the
records it must give (golden/<name>.expected.json) under its settings (golden/settings.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingestd.readers.inbox import readers_for
from tests.harness import INBOX, staged_records

GOLDEN = Path(__file__).parent / "golden"
SETTINGS = json.loads((GOLDEN / "settings.json").read_text())


def test_every_golden_file_has_settings_and_expected_records():
    inputs = {p.name for p in GOLDEN.iterdir()} - {"settings.json"}
    expected = {n for n in inputs if n.endswith(".expected.json")}
    assert (
        {n.removesuffix(".expected.json") for n in expected} == inputs - expected == set(SETTINGS)
    )
    kinds = {Path(n).suffix for n in SETTINGS}
    assert kinds >= {".csv", ".tsv", ".ndjson", ".xml"}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_golden_file(tmp_path, name):
    reader = readers_for(INBOX.model_copy(update=SETTINGS[name]))(name)
    expected = json.loads((GOLDEN / f"{name}.expected.json").read_text())
    assert staged_records(tmp_path, name, (GOLDEN / name).read_bytes(), reader) == expected
