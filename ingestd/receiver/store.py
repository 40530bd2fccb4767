"""The receiver's durable state: SQLite for what was accepted, NDJSON files for people to read.

Each ingestion's NDJSON file is cut back to the length SQLite vouches for before every append,
so a crash between writing records and committing can never leave a record there twice.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ingestions (
    ingestion_id TEXT PRIMARY KEY,
    next_chunk INTEGER NOT NULL,
    records INTEGER NOT NULL,
    ndjson_bytes INTEGER NOT NULL,
    completed INTEGER NOT NULL DEFAULT 0,
    inbox TEXT, file_name TEXT, file_type TEXT, file_sha256 TEXT
);
CREATE TABLE IF NOT EXISTS chunks (
    ingestion_id TEXT NOT NULL,
    chunk_number INTEGER NOT NULL,
    checksum TEXT NOT NULL,
    record_offset INTEGER NOT NULL,
    record_count INTEGER NOT NULL,
    PRIMARY KEY (ingestion_id, chunk_number)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    ingestion_id TEXT NOT NULL,
    chunk_number INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
"""


@dataclass
class IngestionRow:
    ingestion_id: str
    next_chunk: int = 0
    records: int = 0
    ndjson_bytes: int = 0
    completed: bool = False


class Store:
    def __init__(self, folder: Path, fsync: Callable[[int], None] = os.fsync) -> None:
        self.folder = folder
        self._fsync = fsync
        folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(folder / "receiver.sqlite3", check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def ingestion(self, ingestion_id: str) -> IngestionRow:
        row = self._db.execute(
            "SELECT next_chunk, records, ndjson_bytes, completed FROM ingestions "
            "WHERE ingestion_id = ?",
            (ingestion_id,),
        ).fetchone()
        if row is None:
            return IngestionRow(ingestion_id)
        return IngestionRow(ingestion_id, row[0], row[1], row[2], bool(row[3]))

    def checksum_of(self, ingestion_id: str, chunk_number: int) -> str | None:
        row = self._db.execute(
            "SELECT checksum FROM chunks WHERE ingestion_id = ? AND chunk_number = ?",
            (ingestion_id, chunk_number),
        ).fetchone()
        return None if row is None else str(row[0])

    def ndjson_path(self, ingestion_id: str) -> Path:
        return self.folder / f"{ingestion_id}.ndjson"

    def accept_chunk(
        self,
        row: IngestionRow,
        chunk_number: int,
        checksum: str,
        record_offset: int,
        lines: bytes,
        record_count: int,
        source: dict[str, str],
    ) -> None:
        """Append the chunk's records and commit it; durable when this returns."""
        size = self._append_ndjson(row, lines)
        with self._db:
            self._db.execute(
                "INSERT INTO ingestions (ingestion_id, next_chunk, records, ndjson_bytes, "
                "inbox, file_name, file_type) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(ingestion_id) DO UPDATE SET next_chunk = excluded.next_chunk, "
                "records = excluded.records, ndjson_bytes = excluded.ndjson_bytes",
                (
                    row.ingestion_id,
                    chunk_number + 1,
                    row.records + record_count,
                    size,
                    source.get("inbox"),
                    source.get("file_name"),
                    source.get("file_type"),
                ),
            )
            self._db.execute(
                "INSERT INTO chunks VALUES (?, ?, ?, ?, ?)",
                (row.ingestion_id, chunk_number, checksum, record_offset, record_count),
            )
            self._record(row.ingestion_id, chunk_number, "accepted")

    def complete(self, row: IngestionRow, file_sha256: str, source: dict[str, str]) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO ingestions (ingestion_id, next_chunk, records, ndjson_bytes, "
                "completed, inbox, file_name, file_type, file_sha256) "
                "VALUES (?, 0, 0, 0, 1, ?, ?, ?, ?) "
                "ON CONFLICT(ingestion_id) DO UPDATE SET completed = 1, "
                "file_sha256 = excluded.file_sha256",
                (
                    row.ingestion_id,
                    source.get("inbox"),
                    source.get("file_name"),
                    source.get("file_type"),
                    file_sha256,
                ),
            )
            self._record(row.ingestion_id, -1, "completed")

    def note(self, ingestion_id: str, chunk_number: int, outcome: str) -> None:
        with self._db:
            self._record(ingestion_id, chunk_number, outcome)

    def summary(self) -> list[dict[str, object]]:
        rows = self._db.execute(
            "SELECT i.ingestion_id, i.next_chunk, i.records, i.completed, i.inbox, i.file_name, "
            "i.file_type, i.file_sha256, "
            "(SELECT COUNT(*) FROM deliveries d WHERE d.ingestion_id = i.ingestion_id "
            " AND d.outcome = 'duplicate') "
            "FROM ingestions i ORDER BY i.rowid"
        ).fetchall()
        keys = (
            "ingestion_id",
            "chunks",
            "records",
            "completed",
            "inbox",
            "file_name",
            "file_type",
            "file_sha256",
            "duplicates",
        )
        return [dict(zip(keys, (*r[:3], bool(r[3]), *r[4:]), strict=True)) for r in rows]

    def _record(self, ingestion_id: str, chunk_number: int, outcome: str) -> None:
        self._db.execute(
            "INSERT INTO deliveries (ingestion_id, chunk_number, outcome) VALUES (?, ?, ?)",
            (ingestion_id, chunk_number, outcome),
        )

    def _append_ndjson(self, row: IngestionRow, lines: bytes) -> int:
        path = self.ndjson_path(row.ingestion_id)
        try:
            fd, created = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640), True
        except FileExistsError:
            fd, created = os.open(path, os.O_WRONLY), False
        try:
            os.ftruncate(fd, row.ndjson_bytes)
            os.lseek(fd, row.ndjson_bytes, os.SEEK_SET)
            view = memoryview(lines)
            while view:
                view = view[os.write(fd, view) :]
            self._fsync(fd)
        finally:
            os.close(fd)
        if created:  # its name too must outlive a power loss before the commit vouches for it
            folder = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                self._fsync(folder)
            finally:
                os.close(folder)
        return row.ndjson_bytes + len(lines)

    def close(self) -> None:
        self._db.close()
