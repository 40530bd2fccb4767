"""The real daemon against the bundle's test app (php -S, SQLite and a MariaDB the test starts):
every record stored once and in order, through kill -9 of either side, and imported exactly once
by a messenger:consume worker."""

from __future__ import annotations

import base64
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests import workbooks
from tests.bundle.php import App, Database
from tests.integration.conftest import Daemon, Spool, inbox_config, wait_until
from tests.integration.test_check_receiver import check

SECRET = "whsec_" + base64.b64encode(b"bundle-end-to-end-secret-0123456").decode()
TOKEN = "bundle-token-0123456789"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def daemon(tmp_path: Path, processes: list[Any]) -> Daemon:
    return Daemon(tmp_path, processes)


def catalog(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "sku": f"SKU-{i:05d}",
            "name": rng.choice(["Schraube", "Écrou", "螺丝", "Nut 😀", 'Bolt "M8"\\x']) + f" {i}",
            "price": round(rng.uniform(0, 1000), 2),
            "stock": rng.randint(-5, 10**12),
            "ratio": rng.choice([0.1, 1e-7, 1e16, 2.5, -0.0]),
            "attributes": {"color": rng.choice(["red", "grün"]), "10": "numeric key", "A": None},
            "tags": ["a", {"b": [1, 2.0]}],
        }
        for i in range(count)
    ]


def workbook(path: Path, count: int) -> Path:
    rows: list[list[Any]] = [["sku", "name", "price", "stock"]]
    rows += [[f"XLS-{i:05d}", f"Zeile {i} ✓", i * 1.5, i] for i in range(count)]
    return workbooks.write(path, {"Products": rows})


def secret_files(tmp_path: Path) -> tuple[Path, Path]:
    secret, token = tmp_path / "signing-secret", tmp_path / "callback-token"
    secret.write_text(SECRET + "\n")
    token.write_text(TOKEN + "\n")
    return secret, token


def start_daemon(tmp_path: Path, daemon: Daemon, spool: Spool, app: App, **settings: Any) -> None:
    secret, token = secret_files(tmp_path)
    options = {"signing_secret_file": str(secret), "callback_token_file": str(token), **settings}
    daemon.configure([inbox_config(spool.root, app, **options)])
    spool.inbox.mkdir(parents=True, exist_ok=True)
    daemon.start()


def stored_count(database: Database) -> int:
    return int(database.rows("SELECT COUNT(*) FROM ingestd_chunk")[0][0])


def assert_stored_once_in_order(app: App, expected: dict[str, list[dict[str, Any]]]) -> None:
    """Per ingestion (by file name): chunks 0..n-1 with no gap, offsets adding up, the records
    exactly the file's, in order; the completion stored with matching counts."""
    by_file = {i["source"].split("/", 1)[1].split("#")[0]: i for i in app.status()}
    assert set(by_file) == set(expected)
    chunks = app.database.chunks()
    for name, records in expected.items():
        ingestion = by_file[name]
        assert ingestion["state"] == "completed"
        assert ingestion["received"] == len(records)
        mine = [c for c in chunks if c["ingestion_id"] == ingestion["ingestion_id"]]
        assert [c["chunk_number"] for c in mine] == list(range(len(mine)))
        offsets = [c["record_offset"] for c in mine]
        assert offsets == [sum(c["record_count"] for c in mine[:k]) for k in range(len(mine))]
        assert [r for c in mine for r in c["records"]] == records


def consume_all(app: App) -> None:
    """One messenger:consume worker until the queue is empty (on MySQL, Messenger marks a
    handled message delivered in the year 9999 and deletes it later)."""
    waiting = "SELECT COUNT(*) FROM messenger_messages WHERE delivered_at IS NULL"
    count = int(app.database.rows(waiting)[0][0])
    assert count > 0
    app.console("messenger:consume", "ingestd", f"--limit={count}", "--time-limit=300")
    assert app.database.rows(waiting) == [("0",)]


def assert_imported_exactly_once(app: App, expected: dict[str, list[dict[str, Any]]]) -> None:
    rows = app.database.rows(
        "SELECT file_name, record_index, record FROM test_imported ORDER BY seq"
    )
    for name, records in expected.items():
        mine = [r for r in rows if r[0] == name]
        assert [int(r[1]) for r in mine] == list(range(len(records))), "not once, in order"
        assert [orjson.loads(r[2])["sku"] for r in mine] == [r["sku"] for r in records]
    assert app.database.rows("SELECT COUNT(*) FROM ingestd_failure") == [("0",)]
    assert sorted(i["imported"] for i in app.status()) == sorted(map(len, expected.values()))


def excel_records(count: int) -> list[dict[str, Any]]:
    return [
        {"sku": f"XLS-{i:05d}", "name": f"Zeile {i} ✓", "price": i * 1.5, "stock": i}
        for i in range(count)
    ]


def test_json_and_xlsx_arrive_once_in_order_and_are_imported_once(
    tmp_path, database, make_app, daemon, spool
):
    app = make_app(database, INGESTD_SIGNING_SECRET=SECRET, INGESTD_TOKEN=TOKEN).start()
    start_daemon(tmp_path, daemon, spool, app, chunk_records=50)
    records = catalog(700)
    spool.drop("products.json", records)
    spool.drop("sheet.xlsx", workbook(tmp_path / "sheet.xlsx", 300).read_bytes())
    wait_until(lambda: len(spool.data_files("done")) == 2, timeout=180, what="both files done")

    expected = {"products.json": records, "sheet.xlsx": excel_records(300)}
    assert_stored_once_in_order(app, expected)
    consume_all(app)
    assert_imported_exactly_once(app, expected)
    sheets = app.database.rows("SELECT DISTINCT file_name, sheet FROM test_imported ORDER BY 1")
    assert sheets == [("products.json", None), ("sheet.xlsx", "Products")]


def start_sending(tmp_path, database, make_app, daemon, spool, seed: int):
    """The app serving, the daemon started and a 2400-record file (120 chunks) dropped."""
    app = make_app(database, INGESTD_SIGNING_SECRET=SECRET, INGESTD_TOKEN=TOKEN).start()
    start_daemon(tmp_path, daemon, spool, app, chunk_records=20)
    records = catalog(2400, seed=seed)
    spool.drop("products.json", records)
    return app, records


def finish_and_check(app: App, spool: Spool, records: list[dict[str, Any]]) -> None:
    wait_until(lambda: spool.data_files("done"), timeout=300, what="the file done")
    expected = {"products.json": records}
    assert_stored_once_in_order(app, expected)
    consume_all(app)
    assert_imported_exactly_once(app, expected)


def rewinds(spool: Spool) -> list[bytes]:
    """The journal's rewind lines: a receiver that kept its state never asks for one."""
    journals = list(spool.done.glob("*/*/*.journal"))
    assert journals
    return [line for j in journals for line in j.read_bytes().splitlines() if b'"rewind"' in line]


def test_the_daemon_killed_mid_file_resumes_without_duplicate_rows_or_gaps(
    tmp_path, database, make_app, daemon, spool
):
    app, records = start_sending(tmp_path, database, make_app, daemon, spool, seed=11)
    for stored in (10, 40):
        wait_until(lambda s=stored: stored_count(database) >= s, timeout=120, what="chunks stored")
        daemon.process.kill()
        assert not spool.data_files("done")
        daemon.start()
    finish_and_check(app, spool, records)
    assert rewinds(spool) == []


def test_the_php_server_killed_mid_file_keeps_its_state(
    tmp_path, database, make_app, daemon, spool
):
    app, records = start_sending(tmp_path, database, make_app, daemon, spool, seed=13)
    for stored in (10, 50):
        wait_until(lambda s=stored: stored_count(database) >= s, timeout=120, what="chunks stored")
        app.kill()
        held = stored_count(database)
        app.start()
        wait_until(lambda h=held: stored_count(database) > h, timeout=120, what="progress")
    finish_and_check(app, spool, records)
    assert rewinds(spool) == []


def test_check_receiver_passes_every_check_against_the_bundle(tmp_path, database, make_app):
    app = make_app(database, INGESTD_SIGNING_SECRET=SECRET, INGESTD_TOKEN=TOKEN).start()
    secret, token = secret_files(tmp_path)
    code, document = check(
        app.url, "--signing-secret-file", str(secret), "--token-file", str(token)
    )
    assert code == 0, document
    assert [c["passed"] for c in document["checks"]] == [True] * len(document["checks"])
    assert len(document["checks"]) == 11


def test_a_sender_without_the_secret_is_refused(tmp_path, sqlite_database, make_app):
    app = make_app(sqlite_database, INGESTD_SIGNING_SECRET=SECRET).start()
    code, document = check(app.url)
    assert code == 1
    first = document["checks"][0]
    assert first["passed"] is False and "401" in first["saw"], first
