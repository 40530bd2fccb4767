"""`ingestd check-config`: is this config usable, and are the folders it names?"""

from __future__ import annotations

import os
from pathlib import Path

from ingestd.errors import ConfigError
from ingestd.fs.spool import Layout
from ingestd.settings import InboxSettings, Settings


def problems(settings: Settings) -> list[str]:
    """Everything that would stop an inbox from working, one sentence each."""
    found: list[str] = []
    for inbox in settings.inbox:
        found.extend(f"inbox {inbox.name}: {p}" for p in _inbox_problems(inbox))
    return found


def _inbox_problems(inbox: InboxSettings) -> list[str]:
    found = []
    devices: dict[Path, int] = {}
    for folder in Layout(inbox.root).folders():
        existing = _nearest_existing(folder)
        if existing != folder:
            if not os.access(existing, os.W_OK | os.X_OK):
                found.append(f"{folder} is missing and {existing} is not writable to create it")
        elif not folder.is_dir():
            found.append(f"{folder} is not a directory")
        elif not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
            found.append(f"{folder} is not readable and writable")
        devices[folder] = os.stat(existing).st_dev
    if len(set(devices.values())) > 1:
        found.append("inbox/, work/, done/ and failed/ are not on one filesystem")
    for check in (inbox.auth_headers, inbox.signing_keys):
        try:
            check()
        except ConfigError as exc:
            found.append(str(exc))
    try:
        inbox.httpx_verify()
    except ConfigError as exc:
        found.append(str(exc))
    return found


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
