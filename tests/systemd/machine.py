"""A real systemd 252 booted as PID 1 of new namespaces, for testing the package and the unit
as an admin runs them. Nothing it does reaches the host's own root filesystem or services:

- it runs from a fresh cgroup under /sys/fs/cgroup/unified/, in new PID, mount, network, UTS,
  IPC and cgroup namespaces (`unshare`);
- its root is an overlay whose lower layer is / and whose upper and work layers are on a tmpfs,
  with a fresh /proc (/proc/sys read-only), a read-only /sys, a cgroup2 hierarchy rooted at the
  new cgroup, the host's /dev (with /dev/null over /dev/kmsg and a log file over /dev/console),
  and a tmpfs on /run and /tmp: whatever the boot writes (tmpfiles empties /tmp, dpkg installs)
  lands on the tmpfs and vanishes with the namespaces;
- it boots a minimal target (basic.target) with the timers, gettys and database servers masked;
- it keeps a shared folder of the host's at /mnt/share, through which a test hands it files.

Driven with `nsenter -t <pid> -a`; stopped with `systemctl poweroff`, then by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

BOOT_SECONDS = 60
TARGET = "ingestd-test.target"
MASKED_UNITS = (
    "getty@.service",
    "serial-getty@.service",
    "console-getty.service",
    "getty.target",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "man-db.timer",
    "fstrim.timer",
    "e2scrub_all.timer",
    "logrotate.timer",
    "systemd-tmpfiles-clean.timer",
    "mariadb.service",
    "mysql.service",
    "postgresql.service",
    "redis-server.service",
    "nginx.service",
    "apache2.service",
    "php8.2-fpm.service",
    "docker.service",
    "containerd.service",
    "ssh.service",
    "cron.service",
)
DROPPED_CAPABILITIES = "-sys_module,-sys_time,-sys_rawio,-wake_alarm,-mac_admin,-mac_override"

INIT = r"""#!/bin/sh
# PID 1 of the new namespaces, until it execs systemd.
set -eu
scratch="$1"
share="$2"
mount -t tmpfs -o mode=0755 tmpfs "$scratch"
mkdir -p "$scratch/upper" "$scratch/work" "$scratch/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/upper,workdir=$scratch/work" \
    "$scratch/root"
root="$scratch/root"
mount -t proc proc "$root/proc"
mount --bind "$root/proc/sys" "$root/proc/sys"
mount -o remount,bind,ro "$root/proc/sys"
mount -t sysfs -o ro sysfs "$root/sys"
mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup"
mount --rbind /dev "$root/dev"
mount --bind /dev/null "$root/dev/kmsg"
: > "$share/console.log"
mount --bind "$share/console.log" "$root/dev/console"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mkdir -p "$root/mnt/share"
mount --bind "$share" "$root/mnt/share"
units="$root/run/systemd/system"
mkdir -p "$units"
cat > "$units/@TARGET@" <<EOF
[Unit]
Description=ingestd test boot
Requires=basic.target
After=basic.target
AllowIsolate=yes
EOF
for unit in @MASKED@; do ln -sf /dev/null "$units/$unit"; done
for timer in "$root"/lib/systemd/system/*.timer; do
    ln -sf /dev/null "$units/$(basename "$timer")"
done
mkdir -p "$root/oldroot"
cd "$root"
pivot_root . oldroot
umount -l /oldroot
rmdir /oldroot
mount --make-rshared /
exec setpriv --bounding-set @DROPPED@ \
    env -i container=ingestd-test /lib/systemd/systemd --system --unit=@TARGET@
"""


def why_not() -> str | None:
    """None when a systemd can be booted here; otherwise why not (the tests then skip)."""
    if os.geteuid() != 0:
        return "booting systemd needs root"
    for tool in ("unshare", "nsenter", "setpriv", "dpkg"):
        if shutil.which(tool) is None:
            return f"{tool} is missing"
    if not Path("/lib/systemd/systemd").exists():
        return "systemd is not installed"
    hierarchies = ("/sys/fs/cgroup/unified/cgroup.procs", "/sys/fs/cgroup/cgroup.procs")
    if not any(Path(path).exists() for path in hierarchies):
        return "no cgroup2 hierarchy to make a cgroup in"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlayfs"
    return None


def _cgroup_base() -> Path:
    unified = Path("/sys/fs/cgroup/unified")
    return unified if (unified / "cgroup.procs").exists() else Path("/sys/fs/cgroup")


class Machine:
    """A booted systemd, and the commands to drive it."""

    def __init__(self, share: Path) -> None:
        self.share = share
        self._scratch = share.parent / f"{share.name}-root"
        self._cgroup = _cgroup_base() / f"ingestd-test-{os.getpid()}-{time.monotonic_ns()}"
        self._unshare: subprocess.Popen[bytes] | None = None
        self.pid = 0  # systemd's PID, seen from here

    def boot(self) -> Machine:
        self.share.mkdir(parents=True, exist_ok=True)
        self._scratch.mkdir(parents=True, exist_ok=True)
        init = self.share / "init.sh"
        init.write_text(
            INIT.replace("@TARGET@", TARGET)
            .replace("@MASKED@", " ".join(MASKED_UNITS))
            .replace("@DROPPED@", DROPPED_CAPABILITIES)
        )
        self._cgroup.mkdir()
        launch = (
            f"echo $$ > {self._cgroup}/cgroup.procs && exec unshare --pid --fork --mount "
            "--net --uts --ipc --cgroup --propagation private "
            f"/bin/sh {init} {self._scratch} {self.share}"
        )
        with open(self.share / "boot.log", "wb") as log:
            self._unshare = subprocess.Popen(
                ["/bin/sh", "-c", launch], stdout=log, stderr=subprocess.STDOUT
            )
        self.pid = self._wait_for_init()
        self._wait_running()
        return self

    def _wait_for_init(self) -> int:
        assert self._unshare is not None
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline:
            if self._unshare.poll() is not None:
                raise RuntimeError(f"the boot ended: {self.boot_log()}")
            for pid in _children(self._unshare.pid):
                if _command(pid).startswith("/lib/systemd/systemd"):
                    return pid
            time.sleep(0.05)
        raise TimeoutError(f"systemd did not start: {self.boot_log()}")

    def _wait_running(self) -> None:
        """Until the boot is over: its private socket answers, and no job is left."""
        deadline = time.monotonic() + BOOT_SECONDS
        state = ""
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.1)
        failed = self.run("systemctl", "--failed", "--no-legend", check=False).stdout
        raise RuntimeError(f"systemd is {state!r}; failed units: {failed}")

    def run(
        self,
        *command: str,
        check: bool = True,
        timeout: float = 120,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """A command inside, as root, in every namespace of the machine."""
        result = subprocess.run(
            ["nsenter", "-t", str(self.pid), "-a", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def shell(self, script: str, check: bool = True, timeout: float = 120) -> str:
        return self.run("/bin/sh", "-c", script, check=check, timeout=timeout).stdout

    def write(self, path: str, content: str | bytes, mode: int = 0o644) -> None:
        """A file inside, through the shared folder."""
        staged = self.share / f"staged-{time.monotonic_ns()}"
        staged.write_bytes(content.encode() if isinstance(content, str) else content)
        self.shell(f"install -D -m {mode:o} /mnt/share/{staged.name} {path}")
        staged.unlink()

    def read(self, path: str) -> str:
        return self.run("cat", path).stdout

    def boot_log(self) -> str:
        return (self.share / "boot.log").read_text(errors="replace")[-4000:]

    def poweroff(self) -> None:
        """Shut down, then make sure of it by PID, and remove the cgroups."""
        if self._unshare is None:
            return
        if self._unshare.poll() is None:
            self.run("systemctl", "poweroff", "--no-block", check=False, timeout=20)
            try:
                self._unshare.wait(timeout=30)
            except subprocess.TimeoutExpired:
                if self.pid:
                    os.kill(self.pid, signal.SIGKILL)
                self._unshare.wait(timeout=30)
        self._unshare = None
        _remove_cgroup(self._cgroup)
        shutil.rmtree(self._scratch, ignore_errors=True)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for listed in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += map(int, listed.read_text().split())
        except OSError:
            continue
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _remove_cgroup(cgroup: Path) -> None:
    """Empty cgroups left by the boot, deepest first."""
    if not cgroup.exists():
        return
    for folder in sorted((p for p in cgroup.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            folder.rmdir()
        except OSError:
            continue
    with contextlib.suppress(OSError):
        cgroup.rmdir()
