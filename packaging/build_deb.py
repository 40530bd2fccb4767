"""Build the Debian package in one command:  python3 packaging/build_deb.py [--out dist/]

The package is self-contained for the distribution's python3 (Debian 12: 3.11): ingestd and
its dependencies are installed with pip into /usr/lib/ingestd/site-packages (compiled wheels
for that Python), and /usr/bin/ingestd puts that folder first on sys.path.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "packaging"

LAUNCHER = """#!/usr/bin/python3
# ingestd, with its own copy of its dependencies beside it (see /usr/lib/ingestd).
import os
import sys

# The package ships its byte-code; nothing may write more of it into /usr/lib/ingestd, where
# dpkg would not know it (a purge would leave it behind).
sys.dont_write_bytecode = True
_here = os.path.dirname(os.path.realpath(__file__))
_lib = os.path.join(_here, "..", "lib", "ingestd", "site-packages")
sys.path.insert(0, os.path.normpath(_lib))

from ingestd.cli import main

if __name__ == "__main__":  # the parsers' child processes import this file again
    sys.exit(main())
"""


def version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def architecture() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def stage(tree: Path, python: str) -> None:
    site = tree / "usr/lib/ingestd/site-packages"
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--no-warn-script-location",
            "--target",
            str(site),
            str(ROOT),
        ],
        check=True,
    )
    shutil.rmtree(site / "bin", ignore_errors=True)
    compile_bytecode(site, python)
    install(tree / "usr/bin/ingestd", LAUNCHER.encode(), 0o755)
    units = tree / "usr/lib/systemd/system"
    for unit in ("ingestd.service", "ingestd@.service"):
        install(units / unit, (ROOT / "systemd" / unit).read_bytes())
    install(
        tree / "usr/lib/sysusers.d/ingestd.conf", (ROOT / "systemd/ingestd.sysusers").read_bytes()
    )
    install(
        tree / "usr/lib/tmpfiles.d/ingestd.conf", (ROOT / "systemd/ingestd.tmpfiles").read_bytes()
    )
    install(tree / "etc/ingestd/config.toml", (HERE / "config.toml").read_bytes(), 0o640)
    docs = tree / "usr/share/doc/ingestd"
    for doc in [
        ROOT / "README.md",
        ROOT / "config.example.toml",
        *sorted((ROOT / "docs").glob("*.md")),
    ]:
        install(docs / doc.name, doc.read_bytes())
    install(docs / "copyright", (HERE / "debian/copyright").read_bytes())


def compile_bytecode(site: Path, python: str) -> None:
    """Byte-code for the target interpreter, shipped and owned by the package: a faster start,
    and nothing written at run time. Unchecked hashes: the sources never change after install."""
    subprocess.run(
        [
            python,
            "-m",
            "compileall",
            "-q",
            "-j0",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(site),
            "-p",
            "/usr/lib/ingestd/site-packages",  # the path tracebacks name
            str(site),
        ],
        check=True,
    )


def control(tree: Path) -> None:
    debian = tree / "DEBIAN"
    size_kb = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file()) // 1024
    text = (
        (HERE / "debian/control")
        .read_text()
        .format(version=version(), architecture=architecture(), size=size_kb)
    )
    install(debian / "control", text.encode())
    install(debian / "conffiles", b"/etc/ingestd/config.toml\n")
    for script in ("postinst", "prerm", "postrm"):
        install(debian / script, (HERE / "debian" / script).read_bytes(), 0o755)


def install(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument(
        "--python",
        default="/usr/bin/python3",
        help="the interpreter the package targets (its pip fetches matching wheels)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"ingestd_{version()}_{architecture()}.deb"
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "tree"
        stage(tree, args.python if Path(args.python).exists() else sys.executable)
        control(tree)
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(tree), str(target)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    print(target)
    return target


if __name__ == "__main__":
    main()
