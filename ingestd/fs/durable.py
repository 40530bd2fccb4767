"""Durable file operations: every creation, rename and append is fsynced before it is relied on."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


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


class _Faults:
    """A seam for tests: `hook(site)` runs before every durable write site and may raise the
    OSError a full disk or a failing device would (ENOSPC, EIO). Never set in production."""

    hook: Callable[[str], None] | None = None


def inject_faults(hook: Callable[[str], None] | None) -> None:
    _Faults.hook = hook


def _site(name: str) -> None:
    if _Faults.hook is not None:
        _Faults.hook(name)


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename, failing with FileExistsError instead of replacing an existing target."""
    _site("rename")
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


def fsync_dir(path: Path) -> None:
    _site("fsync_dir")
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, mode: int = 0o750) -> None:
    """Create `path` and its missing parents, fsyncing each parent that gained an entry."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            mkdir(folder, mode)
        except FileExistsError:
            continue
        fsync_dir(folder.parent)


def mkdir(path: Path, mode: int = 0o750) -> None:
    """Create one folder; FileExistsError if anything is already there (the caller fsyncs)."""
    _site("mkdir")
    os.mkdir(path, mode)


def write_file(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Create `path` atomically (temp file, fsync, rename) and fsync its folder."""
    _site("write_file")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        unlink_quietly(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def append(fd: int, data: bytes) -> None:
    """Append and fsync; on failure cut the file back so no unsynced half-entry stays visible."""
    before = os.lseek(fd, 0, os.SEEK_END)
    try:
        _site("append_write")
        _write_all(fd, data)
        _site("append_fsync")
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, before)
        raise


def fsync_file(f: BinaryIO) -> None:
    """Flush a buffered file and fsync it."""
    _site("fsync_file")
    f.flush()
    os.fsync(f.fileno())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def open_regular(path: Path) -> tuple[int, os.stat_result]:
    """Open without following links or blocking; only a regular file with one link is accepted."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise NotRegular(info)
    return fd, info


class NotRegular(Exception):
    def __init__(self, info: os.stat_result) -> None:
        super().__init__("not a regular file with a single link")
        self.info = info


def unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
