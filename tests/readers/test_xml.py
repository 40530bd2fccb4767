"""XML: the elements at xml_record_path as objects by xmltodict's conventions, streamed with
bounded memory, hostile documents refused, every failure placed."""

from __future__ import annotations

import http.server
import random
import threading
from pathlib import Path

import pytest
import xmltodict

from ingestd.core.chunking import ChunkLimits
from ingestd.errors import InvalidInput
from ingestd.pipeline.isolation import ParserProcess
from ingestd.readers.xml.document import MAX_RECORD_BYTES, Document
from ingestd.readers.xml.paths import RecordPath
from ingestd.readers.xml.reader import XmlReader
from tests.harness import INBOX, Harness, stage_bytes, staged_records

PATH = "/catalog/product"


def read(tmp_path: Path, data: bytes, path: str = PATH, namespaces=None) -> list[dict]:
    return staged_records(tmp_path, "f.xml", data, XmlReader(path, namespaces))


def failure(tmp_path: Path, data: bytes, path: str = PATH) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        stage_bytes(tmp_path, "f.xml", data, XmlReader(path), ChunkLimits(50, 1 << 20))
    return caught.value


CONVENTION = [
    ("<product><sku>A</sku></product>", {"sku": "A"}),
    ('<product id="7"><sku>A</sku></product>', {"@id": "7", "sku": "A"}),
    (
        '<product><price currency="EUR">9.90</price></product>',
        {"price": {"@currency": "EUR", "#text": "9.90"}},
    ),
    ("<product><tag>a</tag><x>1</x><tag>b</tag></product>", {"tag": ["a", "b"], "x": "1"}),
    (
        "<product><empty/><blank></blank><sku>A</sku></product>",
        {"empty": None, "blank": None, "sku": "A"},
    ),
    ("<product><n>  padded\n</n><m> </m></product>", {"n": "padded", "m": None}),
    (
        "<product><p>Hello <b>big</b> world</p></product>",
        {"p": {"b": "big", "#text": "Hello  world"}},
    ),
    ("<product><q>1 &lt; 2 &amp; &#233;&#x1F600;</q></product>", {"q": "1 < 2 & é😀"}),
    ("<product><c><![CDATA[<raw> & ]]></c></product>", {"c": "<raw> &"}),
    ("<product><d><e><f>deep</f></e></d></product>", {"d": {"e": {"f": "deep"}}}),
    ("<product>own <s>A</s> text </product>", {"s": "A", "#text": "own  text"}),
    (
        '<product xmlns:p="urn:p"><p:sku p:kind="x">A</p:sku></product>',
        {"@xmlns:p": "urn:p", "p:sku": {"@p:kind": "x", "#text": "A"}},
    ),
]


@pytest.mark.parametrize(("element", "record"), CONVENTION)
def test_an_element_becomes_an_object_by_xmltodicts_convention(tmp_path, element, record):
    data = f"<catalog>{element}</catalog>".encode()
    assert read(tmp_path, data) == [record]


def test_elements_outside_the_record_path_are_not_records(tmp_path):
    data = b"""<?xml version="1.0"?>
    <catalog version="2">
      <header><product>not a record: wrong parent</product></header>
      text outside records
      <product><sku>A</sku></product>
      <other><sku>B</sku></other>
      <product><sku>C</sku></product>
    </catalog>"""
    assert read(tmp_path, data) == [{"sku": "A"}, {"sku": "C"}]


def test_a_file_without_records_fails_listing_the_paths_it_has(tmp_path):
    data = b"<shop><items><item><sku>A</sku></item></items><meta/></shop>"
    error = failure(tmp_path, data)
    assert "no element at /catalog/product" in error.message
    assert error.where["paths"] == [
        "/shop",
        "/shop/items",
        "/shop/items/item",
        "/shop/items/item/sku",
        "/shop/meta",
    ]


NAMESPACED = b"""<f:feed xmlns:f="urn:feed" xmlns:o="urn:other">
  <f:item><f:sku>A</f:sku></f:item>
  <o:item><o:sku>B</o:sku></o:item>
  <item xmlns="urn:feed"><sku>C</sku></item>
</f:feed>"""


def test_a_prefixed_step_matches_its_namespace_whatever_prefix_the_file_uses(tmp_path):
    records = read(tmp_path, NAMESPACED, "/x:feed/x:item", {"x": "urn:feed"})
    assert records == [{"f:sku": "A"}, {"@xmlns": "urn:feed", "sku": "C"}]


def test_a_bare_step_matches_its_local_name_in_any_namespace(tmp_path):
    records = read(tmp_path, NAMESPACED, "/feed/item")
    assert [list(r.values())[-1] for r in records] == ["A", "B", "C"]


def test_encodings_the_declaration_names_are_read(tmp_path):
    for encoding in ["windows-1252", "iso-8859-1", "utf-16"]:
        data = f'<?xml version="1.0" encoding="{encoding}"?><catalog><product><n>café</n></product></catalog>'
        assert read(tmp_path, data.encode(encoding)) == [{"n": "café"}]


HOSTILE = {
    "entity declaration": (
        b'<!DOCTYPE catalog [<!ENTITY e "x">]><catalog><product><n>&e;</n></product></catalog>',
        "declares the entity 'e'",
    ),
    "billion laughs": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
            for i in range(1, 10)
        )
        + b"]><catalog><product><n>&lol9;</n></product></catalog>",
        "declares the entity 'lol'",
    ),
    "external entity": (
        b'<!DOCTYPE catalog [<!ENTITY x SYSTEM "file:///etc/passwd">]><catalog><product><n>&x;</n></product></catalog>',
        "declares the entity 'x'",
    ),
    "parameter entity": (
        b'<!DOCTYPE catalog [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><catalog/>',
        "declares the entity 'p'",
    ),
    "entity from an external DTD": (
        b'<!DOCTYPE catalog SYSTEM "catalog.dtd"><catalog><product><n>a&nbsp;b</n></product></catalog>',
        "&nbsp; is declared nowhere",
    ),
    "undeclared entity": (
        b"<catalog><product><n>&nbsp;</n></product></catalog>",
        "undefined entity",
    ),
    "nested thousands deep": (
        b"<catalog><product>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</product></catalog>",
        "nested more than 128 deep",
    ),
    "malformed": (b"<catalog><product><n>a</product></catalog>", "mismatched tag"),
    "two roots": (
        b"<catalog><product><n>a</n></product></catalog><catalog/>",
        "junk after document element",
    ),
    "not xml": (b"sku,name\nA,b\n", "syntax error"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_or_broken_document_fails_with_its_line(tmp_path, kind):
    data, phrase = HOSTILE[kind]
    error = failure(tmp_path, data)
    assert phrase in error.message, error.message
    assert error.where["line"] >= 1 and "byte_offset" in error.where


def test_a_dtd_named_by_the_doctype_is_accepted_and_never_fetched(tmp_path):
    requests: list[str] = []

    class Count(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY nbsp "&#160;">')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Count)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/bmecat_2005.dtd"
        data = f'<?xml version="1.0"?>\n<!DOCTYPE catalog SYSTEM "{url}">\n<catalog><product><n>x</n></product></catalog>'
        assert read(tmp_path, data.encode()) == [{"n": "x"}]
        public = b'<!DOCTYPE BMECAT PUBLIC "-//BMEcat//DTD 2005//EN" "bmecat_2005.dtd"><catalog><product><n>y</n></product></catalog>'
        assert read(tmp_path, public) == [{"n": "y"}]
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    assert requests == []


@pytest.fixture(scope="module")
def parser():
    stager = ParserProcess(memory_limit_mb=256, time_limit_seconds=120)
    yield stager
    stager.close()


def test_a_100_mb_record_fails_within_a_small_memory_limit(tmp_path, parser):
    """The record is refused at MAX_RECORD_BYTES, long before the parser's 256 MB limit."""
    h = Harness(tmp_path, stager=parser)
    try:
        data = (
            b"<catalog><product><sku>A</sku></product><product><blob>"
            + b"x" * (100 << 20)
            + b"</blob></product></catalog>"
        )
        assert h.run(h.drop("big.xml", data)) == "failed"
        report = h.report()
        assert f"longer than {MAX_RECORD_BYTES} bytes" in report["error"]
        assert report["where"]["record_index"] == 1 and report["where"]["line"] == 1
        assert h.sent == []
    finally:
        h.close()


def test_a_billion_laughs_in_the_parser_process_fails_as_bad_input(tmp_path, parser):
    h = Harness(tmp_path, stager=parser)
    try:
        assert h.run(h.drop("lol.xml", HOSTILE["billion laughs"][0])) == "failed"
        assert h.report()["reason"] == "invalid_input"
    finally:
        h.close()


def test_text_between_records_never_reaches_the_record_builder():
    """What lies between records is not kept: memory holds one record, not the gaps."""
    seen: list[str] = []
    document = Document(RecordPath.parse("/catalog/product"))
    document.handle(text=seen.append)
    gap = " " * 100_000 + "stray text"
    document.feed(
        f"<catalog>{gap}<product>in</product>{gap}<product>also</product>{gap}</catalog>".encode(),
        final=True,
    )
    assert "".join(seen) == "inalso" and document.records == 2


def test_a_record_that_is_not_an_object_is_placed_by_line_and_column(tmp_path):
    products = [f'  <product id="{i}"><pad>{"é" * 500}</pad></product>\n' for i in range(300)]
    products[250] = "  <product>just text</product>\n"
    data = ("<catalog>\n" + "".join(products) + "</catalog>\n").encode()
    error = failure(tmp_path, data)
    assert "record 250 is a string, not an object" in error.message
    assert error.where["line"] == 252 and error.where["column"] == 3
    assert data[error.where["byte_offset"] :].startswith(b"<product>just text")


def test_through_an_ingestion_source_file_type_is_xml(tmp_path):
    h = Harness(tmp_path)
    try:
        data = (
            b"<catalog>"
            + b"".join(b"<product><n>%d</n></product>" % i for i in range(5))
            + b"</catalog>"
        )
        assert h.run(h.drop("p.xml", data)) == "done"
        chunks = [m for m in h.sent if m["type"] == "chunk"]
        assert [c["record_offset"] for c in chunks] == [0, 2, 4]
        assert h.sent[-1]["source"]["file_type"] == "xml"
        assert INBOX.xml_record_path == PATH
    finally:
        h.close()


NAMES = ["a", "b", "c"]


def _element(rng: random.Random, name: str, depth: int) -> str:
    attributes = "".join(
        f' {a}="{rng.choice(["1", "x y", "&amp;"])}"' for a in rng.sample(NAMES, rng.randint(0, 2))
    )
    parts = []
    for _ in range(rng.randint(0, 4) if depth < 4 else 0):
        kind = rng.random()
        if kind < 0.6:
            parts.append(_element(rng, rng.choice(NAMES), depth + 1))
        elif kind < 0.8:
            parts.append(rng.choice(["text", " spaced ", "é&lt;", "<![CDATA[c&d]]>", "\n  "]))
        else:
            parts.append("<!-- note -->")
    return (
        f"<{name}{attributes}>{''.join(parts)}</{name}>"
        if parts or rng.random() < 0.5
        else f"<{name}{attributes}/>"
    )


@pytest.mark.parametrize("seed", range(80))
def test_differential_against_xmltodict_parsing_the_whole_document(tmp_path, seed):
    rng = random.Random(seed)
    items = [_element(rng, "product", 1) for _ in range(rng.randint(1, 6))]
    items = [i.replace("<product", f'<product n="{n}"', 1) for n, i in enumerate(items)]
    data = ("<catalog><head>h</head>" + "".join(items) + "</catalog>").encode()
    whole = xmltodict.parse(data)["catalog"]["product"]
    expected = whole if isinstance(whole, list) else [whole]
    assert read(tmp_path, data) == expected
