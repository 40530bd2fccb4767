"""Imported by the parsers' forkserver alone, first of its preloads (isolation._PRELOAD).

The forkserver and every parser process forked from it ignore the stop signals: a signal sent
to the daemon's whole process group (Ctrl-C in a terminal, systemd's KillMode=control-group)
then stops only the daemon, which stops its parsers in order. A parser whose daemon is gone
ends by itself (its pipe closes). Dispositions survive the fork; a mask set in the daemon
would not survive the exec that starts the forkserver.
"""

import signal

for _stop in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_stop, signal.SIG_IGN)
