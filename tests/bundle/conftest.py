"""Fixtures for the PHP side: skipped with a reason where PHP or MariaDB is missing, except in
CI (INGESTD_CI is set by .ci/run, which installs them), where that is a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bundle.php import App, Database, MariaDB, missing_mariadb, missing_php
from tests.integration.conftest import Process, Spool, processes  # noqa: F401 (fixture)


def require(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("INGESTD_CI"):
        pytest.fail(f"CI must run the PHP side: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def app_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Symfony cache for the session: the container is compiled once."""
    return tmp_path_factory.mktemp("php-app-var")


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB | None]:
    """One server for the session (each test gets its own database), or None where MariaDB is
    missing. Requested by every test of the PHP side, so it starts before the first test
    begins and is not taken for a process that test left running."""
    if missing_php() is not None or missing_mariadb() is not None:
        yield None
        return
    server = MariaDB(tmp_path_factory.mktemp("mariadb")).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "mariadb"])
def database(request: pytest.FixtureRequest, tmp_path: Path, mariadb: MariaDB | None) -> Database:
    require(missing_php())
    if request.param == "sqlite":
        return Database.sqlite(tmp_path / "app.sqlite3")
    require(missing_mariadb())
    assert mariadb is not None
    return Database.on(mariadb)


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Database:
    require(missing_php())
    return Database.sqlite(tmp_path / "app.sqlite3")


@pytest.fixture
def make_app(tmp_path: Path, app_var_dir: Path) -> Iterator[object]:
    """make_app(database, **env): the test app with its tables set up, not yet serving."""
    apps: list[App] = []

    def make(database: Database, **env: str) -> App:
        app = App(tmp_path, database, app_var_dir, **env)
        app.console("ingestd:setup")
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.stop()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool" / "products")
