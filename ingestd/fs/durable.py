"""Durable file operations: every creation, rename and append is fsynced before it is relied on.

`Disk` is the one way ingestd writes what it relies on; its `fault` seam lets a test fail any
write site the way a full disk or a failing device would (ENOSPC, EIO).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ingestd.errors import UnsafeFile

_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
WRITE_SITES = (
    "mkdir",
    "rename",
    "fsync_dir",
    "write_file",
    "append_write",
    "append_fsync",
    "fsync_file",
)

Fault = Callable[[str], None]
"""Runs before every write site with the site's name; raising OSError fails that write."""


def _load_renameat2() -> object | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own libc, no ldconfig run
        func = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_renameat2 = _load_renameat2()


class Disk:
    """fsync'd creation, atomic replacement, append and rename without replacing."""

    def __init__(self, fault: Fault | None = None) -> None:
        self._fault = fault

    def _site(self, name: str) -> None:
        if self._fault is not None:
            self._fault(name)

    def rename_noreplace(self, src: Path, dst: Path) -> None:
        """Rename, failing with FileExistsError instead of replacing an existing target."""
        self._site("rename")
        if _renameat2 is not None:
            result = _renameat2(  # type: ignore[operator]
                _AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE
            )
            if result == 0:
                return
            code = ctypes.get_errno()
            if code not in (errno.ENOSYS, errno.EINVAL):
                raise OSError(code, os.strerror(code), str(src), None, str(dst))
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
        os.rename(src, dst)

    def fsync_dir(self, path: Path) -> None:
        self._site("fsync_dir")
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def make_dirs(self, path: Path, mode: int = 0o750) -> None:
        """Create `path` and its missing parents, fsyncing each parent that gained an entry."""
        missing = []
        current = path
        while not current.exists():
            missing.append(current)
            current = current.parent
        for folder in reversed(missing):
            try:
                self.mkdir(folder, mode)
            except FileExistsError:
                continue
            self.fsync_dir(folder.parent)

    def mkdir(self, path: Path, mode: int = 0o750) -> None:
        """Create one folder; FileExistsError if anything is already there (the caller fsyncs)."""
        self._site("mkdir")
        os.mkdir(path, mode)

    def write_file(self, path: Path, data: bytes, mode: int = 0o640, sync: bool = True) -> None:
        """Create or replace `path` atomically (a temporary name, then a rename); with `sync`,
        the data and the folder are fsynced, so the new content is there after a power loss."""
        self._site("write_file")
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, mode
        )
        try:
            _write_all(fd, data)
            if sync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            unlink_quietly(tmp)
            raise
        os.close(fd)
        os.replace(tmp, path)
        if sync:
            self.fsync_dir(path.parent)

    def append(self, fd: int, data: bytes) -> None:
        """Append and fsync; on failure cut the file back so no unsynced half-entry stays."""
        before = os.lseek(fd, 0, os.SEEK_END)
        try:
            self._site("append_write")
            _write_all(fd, data)
            self._site("append_fsync")
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, before)
            raise

    def fsync_file(self, f: BinaryIO) -> None:
        """Flush a buffered file and fsync it."""
        self._site("fsync_file")
        f.flush()
        os.fsync(f.fileno())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def open_regular(path: Path) -> tuple[int, os.stat_result]:
    """Open without following links or blocking; only a regular file with one link is accepted
    (UnsafeFile otherwise: a hard link could expose a file from elsewhere)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UnsafeFile(f"cannot open the claimed file safely: {exc.strerror}") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafeFile(f"the claimed entry is not a regular file ({stat.filemode(info.st_mode)})")
    if info.st_nlink != 1:
        os.close(fd)
        raise UnsafeFile(
            f"the claimed file has {info.st_nlink} hard links; a file linked from elsewhere is "
            "refused so that nothing outside the spool is read"
        )
    return fd, info


def unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
