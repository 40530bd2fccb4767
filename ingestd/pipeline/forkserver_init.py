"""Imported by the parsers' forkserver alone, first of its preloads (isolation._PRELOAD).

The forkserver and every parser process forked from it ignore the stop signals: a signal sent
to the daemon's whole process group (Ctrl-C in a terminal, systemd's KillMode=control-group)
then stops only the daemon, which stops its parsers in order. A parser whose daemon is gone
ends by itself (its pipe closes). Dispositions survive the fork; a mask set in the daemon
would not survive the exec that starts the forkserver.

glibc's malloc serves a large block from its heap once a block that large has been freed (its
mmap threshold rises to the freed size), and the heap seldom shrinks. A parser allocates and
frees megabyte blocks all the time (reads, pieces of a file, a shared-string table growing),
so its heap kept blocks it no longer used: 41 MB for XlsxWriter's 200,000 rows where 35 MB
were in use (bench/producers.py). A fixed threshold keeps blocks of 128 kB and more out of
the heap, each returned to the system when freed. Set here, it holds in every parser forked
from here; elsewhere than glibc it does nothing.
"""

import ctypes
import signal

for _stop in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_stop, signal.SIG_IGN)

_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024


def _fix_mmap_threshold() -> bool:
    try:
        return bool(ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):  # no C library to load, or not glibc's
        return False


_fix_mmap_threshold()
