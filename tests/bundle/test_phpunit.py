"""The bundle's own PHP suite (unit and functional), run as part of this one, and the files it
shares with the Python side kept identical."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.bundle.conftest import require
from tests.bundle.php import BUNDLE, missing_php

VECTORS = Path(__file__).resolve().parents[2] / "ingestd" / "contract" / "protocol-vectors.json"


def test_the_phpunit_suite_passes(tmp_path: Path) -> None:
    require(missing_php())
    done = subprocess.run(
        ["phpunit", "--do-not-cache-result"],
        cwd=BUNDLE,
        capture_output=True,
        text=True,
        env={**os.environ, "INGESTD_APP_VAR_DIR": str(tmp_path / "var")},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK (" in done.stdout, done.stdout


def test_every_php_file_parses_including_the_migration(tmp_path: Path) -> None:
    """The Doctrine migration cannot run here (no doctrine/migrations); it must at least parse."""
    require(missing_php())
    files = sorted(p for p in BUNDLE.rglob("*.php") if "/var/" not in str(p))
    files.append(BUNDLE / "tests" / "app" / "bin" / "console")
    assert any("migrations" in str(p) for p in files)
    for path in files:
        done = subprocess.run(["php", "-l", str(path)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_bundle_tests_use_the_protocols_own_vectors() -> None:
    copy = BUNDLE / "tests" / "Fixtures" / "protocol-vectors.json"
    assert copy.read_bytes() == VECTORS.read_bytes()


def test_the_bundle_uses_nothing_symfony_5_4_deprecates(tmp_path: Path) -> None:
    """Symfony 6 removed what 5.4 deprecated: with no deprecation here, the one code base serves
    Pimcore 10 (Symfony 5.4) and 11 (Symfony 6.4). The kernel collects them while it builds the
    container in debug mode (not under PHPUnit, hence this test here)."""
    require(missing_php())
    env = {
        **os.environ,
        "INGESTD_APP_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "APP_DEBUG": "1",
    }
    console = BUNDLE / "tests" / "app" / "bin" / "console"
    done = subprocess.run(
        ["php", str(console), "ingestd:setup"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (log,) = (tmp_path / "var" / "cache").glob("*/*Deprecations.log")
    read = (
        "foreach (unserialize(file_get_contents($argv[1])) as $e) { echo $e['message'], PHP_EOL; }"
    )
    messages = subprocess.run(
        ["php", "-r", read, str(log)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    # Without Composer (Debian's packages) FrameworkBundle always says this one.
    assert [m for m in messages if "Composer Runtime API" not in m] == []
    assert len(messages) == 1
