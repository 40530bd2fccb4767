"""`ingestd reingest PATH`: a finished data file back into its inbox, as an admin's `mv` would."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ingestd.fs.claim import ClaimFolder, receipt_kind
from ingestd.fs.durable import Disk
from ingestd.fs.spool import Layout


class Refused(ValueError):
    """The path is not a finished data file, or moving it would replace one: nothing moved."""


def reingest(path: Path, layouts: list[Layout], disk: Disk | None = None) -> Path:
    """Move a finished file from done/ or failed/ back into its inbox, refusing anything that is
    not a claim's data file (a journal, a report) or would replace a file in the inbox."""
    disk = disk or Disk()
    path = Path(os.path.abspath(path))
    absolute = [Layout(Path(os.path.abspath(o.root))) for o in layouts]
    layout = next(
        (o for o in absolute if path.is_relative_to(o.done) or path.is_relative_to(o.failed)), None
    )
    if layout is None:
        raise Refused(f"{path} is not in the done/ or failed/ folder of a configured inbox")
    if not os.path.lexists(path):
        raise Refused(f"{path} does not exist")
    kind = receipt_kind(path)
    if kind is not None:
        raise Refused(f"{path} is a {kind}, a receipt of an ingestion, not data: it stays")
    claim = ClaimFolder.in_folder(path.parent) if path.parent.is_dir() else None
    if claim is None or claim.data != path:
        raise Refused(
            f"{path} is not the data file of a finished claim (a journal or report stays where "
            "it is)"
        )
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise Refused(f"{path} is not a regular file")
    target = layout.inbox / path.name
    try:
        disk.rename_noreplace(path, target)
    except FileExistsError:
        raise Refused(f"{target} already exists; move that file away first") from None
    disk.fsync_dir(layout.inbox)
    disk.fsync_dir(path.parent)
    return target
