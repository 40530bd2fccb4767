"""Which reader a file gets is decided by its name; an inbox's patterns decide what it claims."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestd.core.settle import may_match_suffix, wanted
from ingestd.errors import ConfigError
from ingestd.readers.inbox import readers_for
from ingestd.settings import DEFAULT_PATTERNS, InboxSettings, from_mapping
from tests.harness import INBOX, staged_records


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.json", "json"),
        ("a.xlsx", "excel"),
        ("A.XLSM", "excel"),
        ("a.xls", "excel"),
        ("a.ods", "excel"),
        ("a.csv", "csv"),
        ("A.TSV", "csv"),
        ("a.ndjson", "ndjson"),
        ("a.jsonl", "ndjson"),
        ("a.xml", "xml"),
        ("a.data", "json"),
        ("xlsx", "json"),
        ("csv", "json"),
    ],
)
def test_a_file_is_read_by_the_reader_its_name_calls_for(name, kind):
    assert readers_for(INBOX)(name).file_type == kind


def test_a_tsv_file_is_tab_separated_whatever_csv_delimiter_says(tmp_path):
    choose = readers_for(INBOX.model_copy(update={"csv_delimiter": ";"}))
    data = b"sku\tname;x\nA\tb;c\n"
    assert staged_records(tmp_path, "f.tsv", data, choose("f.tsv")) == [
        {"sku": "A", "name;x": "b;c"}
    ]
    assert staged_records(tmp_path, "f.csv", data, choose("f.csv")) == [
        {"sku\tname": "A\tb", "x": "c"}
    ]


def test_the_default_patterns_claim_every_format_but_xml():
    assert list(DEFAULT_PATTERNS) == [
        "*.json",
        "*.xlsx",
        "*.xlsm",
        "*.csv",
        "*.tsv",
        "*.ndjson",
        "*.jsonl",
    ]
    claimed = [
        n
        for n in ["a.json", "a.xlsx", "a.csv", "a.tsv", "a.ndjson", "a.jsonl", "a.xml"]
        if wanted(n, DEFAULT_PATTERNS)
    ]
    assert claimed == ["a.json", "a.xlsx", "a.csv", "a.tsv", "a.ndjson", "a.jsonl"]


@pytest.mark.parametrize(
    ("pattern", "admits"),
    [
        ("*.xml", True),
        ("*", True),
        ("feed_*.xml", True),
        ("feed?.xml", True),
        ("[a-z]*.xml", True),
        ("*.XML", True),
        ("*.[xX][mM][lL]", True),
        ("data.*", True),
        ("*.json", False),
        ("*.xlsx", False),
        ("*.xml.done", False),
    ],
)
def test_which_patterns_admit_xml_files(pattern, admits):
    assert may_match_suffix(pattern, ".xml") is admits


def _inbox(**extra) -> dict:
    return {
        "inbox": [{"name": "feeds", "root": "/srv/feeds", "callback_url": "http://h/", **extra}]
    }


def test_an_inbox_that_admits_xml_must_name_its_record_path():
    with pytest.raises(ConfigError) as refused:
        from_mapping(_inbox(patterns=["*.json", "*.xml"]))
    assert "inbox feeds" in str(refused.value) and "xml_record_path" in str(refused.value)
    settings = from_mapping(_inbox(patterns=["*.xml"], xml_record_path="/products/product"))
    assert settings.inbox[0].xml_record_path == "/products/product"


@pytest.mark.parametrize(
    ("path", "namespaces", "complaint"),
    [
        ("products/product", {}, "a path from the root element"),
        ("/", {}, "a path from the root element"),
        ("/products//product", {}, "not an element name"),
        ("/p:products/p:product", {}, "the prefix 'p' is not in xml_namespaces"),
        ("/products/1product", {}, "not an element name"),
    ],
)
def test_a_bad_record_path_is_refused_saying_why(path, namespaces, complaint):
    with pytest.raises(ConfigError) as refused:
        from_mapping(_inbox(xml_record_path=path, xml_namespaces=namespaces))
    assert complaint in str(refused.value) and "xml_record_path" in str(refused.value)


def test_csv_settings_are_checked():
    for bad in [
        {"csv_delimiter": ";;"},
        {"csv_delimiter": "\n"},
        {"csv_encoding": "utf-32"},
        {"csv_header_row": 0},
        {"csv_header_conflicts": "keep"},
    ]:
        with pytest.raises(ConfigError):
            from_mapping(_inbox(**bad))
    good = InboxSettings(name="x", root=Path("/x"), callback_url="http://h/", csv_encoding="cp1252")
    assert (good.csv_delimiter, good.csv_quotechar, good.csv_header_row) == (",", '"', 1)
