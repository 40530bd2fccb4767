"""CSV, NDJSON and XML files through the real daemon to the reference receiver, and the config
rule that an inbox claiming XML files names its record path."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import Spool, inbox_config, wait_until
from tests.integration.test_cli import ingestd

GOLDEN = Path(__file__).parents[1] / "readers" / "golden"
SETTINGS = json.loads((GOLDEN / "settings.json").read_text())
BMECAT = "bmecat-2005.xml"


def test_a_bmecat_catalog_reaches_the_receiver_product_by_product(tmp_path, receiver, daemon):
    spool = Spool(tmp_path / "spool" / "bmecat")
    daemon.configure(
        [
            inbox_config(
                spool.root,
                receiver,
                name="bmecat",
                patterns=["*.xml"],
                xml_record_path="/BMECAT/T_NEW_CATALOG/PRODUCT",
            )
        ]
    )
    daemon.start()
    spool.drop("acme-2026.xml", (GOLDEN / BMECAT).read_bytes())
    wait_until(lambda: spool.data_files("done"), what="the catalog in done/")
    (ingestion,) = receiver.ingestions()
    assert ingestion["completed"] and ingestion["file_type"] == "xml"
    records = receiver.records(ingestion["ingestion_id"])
    assert records == json.loads((GOLDEN / f"{BMECAT}.expected.json").read_text())
    assert [r["SUPPLIER_PID"] for r in records] == ["ACME-1001", "ACME-1002", "ACME-1003"]
    assert records[0]["PRODUCT_FEATURES"]["FEATURE"][1] == {
        "FNAME": "Gewicht",
        "FVALUE": "1,2",
        "FUNIT": "kg",
    }


def test_every_format_in_one_inbox_and_a_broken_file_beside_them(tmp_path, receiver, daemon):
    """The default patterns claim CSV, TSV, NDJSON and JSON Lines; each file gets its reader;
    a broken CSV file fails with its line while the others are delivered."""
    spool = Spool(tmp_path / "spool" / "products")
    daemon.configure([inbox_config(spool.root, receiver, csv_delimiter=";", csv_encoding="cp1252")])
    daemon.start()
    spool.drop("erp.csv", (GOLDEN / "erp-export.csv").read_bytes())
    spool.drop("shop.tsv", "sku\tname\r\nT-1\tTürklinke\r\n".encode("cp1252"))
    spool.drop("pipeline.ndjson", (GOLDEN / "pipeline-export.ndjson").read_bytes())
    spool.drop("lines.jsonl", b'{"sku": "L-1"}\n')
    spool.drop("broken.csv", b"sku;name\nA;b\nC;d;e\n")
    wait_until(
        lambda: len(spool.data_files("done")) == 4 and spool.data_files("failed"),
        what="four files done and one failed",
    )
    kinds = {i["file_name"]: i["file_type"] for i in receiver.ingestions()}
    assert kinds == {
        "erp.csv": "csv",
        "shop.tsv": "csv",
        "pipeline.ndjson": "ndjson",
        "lines.jsonl": "ndjson",
    }
    by_name = {i["file_name"]: i["ingestion_id"] for i in receiver.ingestions()}
    assert receiver.records(by_name["shop.tsv"]) == [{"sku": "T-1", "name": "Türklinke"}]
    assert receiver.records(by_name["erp.csv"]) == json.loads(
        (GOLDEN / "erp-export.csv.expected.json").read_text()
    )
    (report,) = spool.reports()
    assert report["where"]["line"] == 3 and "has 3 fields where the header has 2" in report["error"]


def test_run_and_check_config_refuse_an_xml_inbox_without_a_record_path(tmp_path, daemon):
    spool = Spool(tmp_path / "spool" / "feeds")
    config = tmp_path / "xml.toml"
    config.write_text(
        f'[[inbox]]\nname = "feeds"\nroot = "{spool.root}"\n'
        'callback_url = "http://127.0.0.1:9/"\npatterns = ["*.json", "*.xml"]\n'
    )
    for command in ("check-config", "run"):
        result = ingestd(command, "--config", str(config))
        assert result.returncode == 2, result.stderr
        assert "inbox feeds" in result.stderr and "xml_record_path" in result.stderr
    assert not spool.root.exists()
