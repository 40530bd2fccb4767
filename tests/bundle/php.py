"""The PHP side as the end-to-end tests run it: MariaDB, the bundle's test app under `php -S`,
its console; every process started here is stopped by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.integration.conftest import free_port, wait_until

BUNDLE = Path(__file__).resolve().parents[2] / "pimcore-bundle"
APP = BUNDLE / "tests" / "app"
PHP_EXTENSIONS = ("pdo_sqlite", "pdo_mysql", "mbstring")


def missing_php() -> str | None:
    """Why the PHP side cannot run here, or None."""
    php = shutil.which("php")
    if php is None:
        return "php is not installed (apt-get install php-cli)"
    loaded = subprocess.run([php, "-m"], capture_output=True, text=True, check=False).stdout
    modules = {line.strip().lower() for line in loaded.splitlines()}
    for extension in PHP_EXTENSIONS:
        if extension not in modules:
            return f"the PHP extension {extension} is missing"
    for path in ("Symfony/Bundle/FrameworkBundle", "Doctrine/DBAL", "Symfony/Component/Messenger"):
        if not Path("/usr/share/php", path).is_dir():
            return f"/usr/share/php/{path} is missing (Debian's php-symfony-* / php-doctrine-dbal)"
    if shutil.which("phpunit") is None:
        return "phpunit is not installed"
    return None


def missing_mariadb() -> str | None:
    for tool in ("mariadbd", "mariadb-install-db", "mariadb"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return f"{tool} is not installed (apt-get install mariadb-server)"
    return None


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class Child:
    """A process with its output in a file, stopped by its PID."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115 (lives as long as the process)
        self.proc = subprocess.Popen(
            args,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signum)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class MariaDB:
    """A throwaway server: its own data directory, socket and port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data, self.socket = root / "data", root / "mysqld.sock"
        self.port = free_port()
        self.child: Child | None = None
        self._databases = 0

    def start(self) -> MariaDB:
        self.root.mkdir(parents=True, exist_ok=True)
        user = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(
            [_binary("mariadb-install-db"), "--no-defaults", f"--datadir={self.data}",
             "--auth-root-authentication-method=normal", "--skip-test-db", *user],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self.child = Child(
            [_binary("mariadbd"), "--no-defaults", f"--datadir={self.data}",
             f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--pid-file={self.root / 'mysqld.pid'}", "--skip-log-bin",
             "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
             "--max-allowed-packet=64M", *user],
            self.root / "mariadbd.log",
        )  # fmt: skip
        wait_until(self._ready, timeout=60, what="MariaDB to accept connections")
        self.sql(
            "CREATE USER 'ingestd'@'127.0.0.1' IDENTIFIED BY 'secret';"
            " GRANT ALL ON *.* TO 'ingestd'@'127.0.0.1';"
        )
        return self

    def _ready(self) -> bool:
        assert self.child is not None
        if self.child.proc.poll() is not None:
            raise AssertionError("mariadbd exited:\n" + self.child.output())
        return self.sql("SELECT 1", check=False) is not None

    def sql(self, statements: str, database: str = "", check: bool = True) -> str | None:
        """Runs SQL as root over the socket; the output, tab-separated, without headers."""
        done = subprocess.run(
            [_binary("mariadb"), "--no-defaults", f"--socket={self.socket}", "-uroot",
             "--default-character-set=utf8mb4", "--batch", "--raw", "--skip-column-names", *([database] if database else []),
             "-e", statements],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            if check:
                raise AssertionError(f"SQL failed: {statements}\n{done.stderr}")
            return None
        return done.stdout

    def new_database(self) -> str:
        self._databases += 1
        name = f"ingestd_{self._databases}"
        self.sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        return name

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


class Database:
    """The app's database as a test reads it: SQLite through Python, MariaDB through its client."""

    def __init__(self, url: str, sqlite: Path | None = None, mariadb: MariaDB | None = None,
                 name: str = "") -> None:  # fmt: skip
        self.url, self._sqlite, self._mariadb, self._name = url, sqlite, mariadb, name

    @classmethod
    def sqlite(cls, path: Path) -> Database:
        return cls(f"sqlite:///{path}", sqlite=path)

    @classmethod
    def on(cls, server: MariaDB) -> Database:
        name = server.new_database()
        return cls(
            f"mysql://ingestd:secret@127.0.0.1:{server.port}/{name}", mariadb=server, name=name
        )

    @property
    def kind(self) -> str:
        return "sqlite" if self._sqlite is not None else "mariadb"

    def rows(self, sql: str) -> list[tuple[str, ...]]:
        """The rows of a query, every value as text (NULL as None)."""
        if self._sqlite is not None:
            with sqlite3.connect(self._sqlite, timeout=30) as db:
                return [
                    tuple(None if v is None else str(v) for v in row) for row in db.execute(sql)
                ]
        assert self._mariadb is not None
        out = self._mariadb.sql(sql, database=self._name) or ""
        return [
            tuple(None if v == "NULL" else v for v in line.split("\t")) for line in out.splitlines()
        ]

    def chunks(self) -> list[dict[str, Any]]:
        """Every stored chunk, in ingestion and chunk order, its records decoded."""
        rows = self.rows(
            "SELECT ingestion_id, chunk_number, record_offset, record_count, records"
            " FROM ingestd_chunk ORDER BY ingestion_id, chunk_number"
        )
        return [
            {"ingestion_id": r[0], "chunk_number": int(r[1]), "record_offset": int(r[2]),
             "record_count": int(r[3]), "records": orjson.loads(r[4])}
            for r in rows
        ]  # fmt: skip


class App:
    """The bundle's test application under `php -S`, as checks outside the repository run it."""

    def __init__(self, root: Path, database: Database, var_dir: Path, **env: str) -> None:
        self.root, self.database = root, database
        self.port = free_port()
        self.env = {
            "DATABASE_URL": database.url,
            "INGESTD_APP_VAR_DIR": str(var_dir),
            **env,
        }
        self.child: Child | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingestd/callback"

    def console(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            ["php", str(APP / "bin" / "console"), *args],
            capture_output=True, text=True, env={**os.environ, **self.env}, timeout=timeout,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"console {args}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self) -> App:
        self.starts += 1
        self.child = Child(
            ["php", "-S", f"127.0.0.1:{self.port}", "-t", str(APP / "public")],
            self.root / f"php-server-{self.starts}.log",
            env=self.env,
        )
        wait_until(self._listening, what="php -S to listen")
        return self

    def _listening(self) -> bool:
        assert self.child is not None
        if self.child.proc.poll() is not None:
            raise AssertionError("php -S exited:\n" + self.child.output())
        try:
            httpx.get(f"http://127.0.0.1:{self.port}/", timeout=2, trust_env=False)
        except httpx.TransportError:
            return False
        return True

    def kill(self) -> None:
        assert self.child is not None
        self.child.stop(signal.SIGKILL)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    def status(self) -> list[dict[str, Any]]:
        return list(orjson.loads(self.console("ingestd:status", "--json", "--limit", "1000")))
