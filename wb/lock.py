"""One writer at a time in build/: a lock that names its holder.

Two commands that write the same outputs (a kernel's .out-<config>, a
boot's console log, the guest init, the selftests' build) would corrupt
each other's files: a selftest binary was once truncated that way.  A
command that writes under build/ takes build/.lock first; a second one
fails at once, naming the first, rather than waiting behind it unseen.
"""

import fcntl
import os
import sys
import time

from .errors import WorkbenchError
from .util import switched_on

# Commands that only read build/ or write their own fresh directories.
READ_ONLY = frozenset({"unit", "report", "agree", "compare-dumps"})


class BuildLock:
    def __init__(self, layout, command):
        self.path = layout.path(".lock")
        self.command = command
        self.fd = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
            os.close(fd)
            raise WorkbenchError(
                f"build/ is in use by another workbench command ({holder or 'unknown'}), "
                f"which writes the same kernel builds, boot logs and selftests. Wait for "
                f"it to finish, or give this one its own build directory with "
                f"WB_BUILD=<dir>.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (f"make {self.command}, pid {os.getpid()}, started "
                       f"{time.strftime('%H:%M:%S')}: {' '.join(sys.argv[1:])}\n").encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None
        return False


def for_command(layout, command):
    """The lock a command needs, or None for one that only reads build/."""
    # A dry bench prints its matrix and writes nothing.
    if command in READ_ONLY or (command == "bench" and switched_on(os.environ.get("DRY"))):
        return None
    return BuildLock(layout, command)
