"""What a kernel splat looks like in the log: one list, for the guest and the host.

The guest init's dmesg test fails on any line that contains one of these
(it gets the list from the initramfs, file /splats, written from here);
the host's known-failures matching looks only at HEADERS, the first lines
of a splat, since the FOLLOWERS only ever come after one.
"""

HEADERS = (
    "WARNING:", "BUG:", "BUG ", "Oops", "Kernel panic", "kernel BUG at",
    "Unable to handle kernel", "possible circular locking", "possible recursive locking",
    "inconsistent lock state", "suspicious RCU usage",
    # Not "lockdep": the boot banner says "RCU lockdep checking is enabled".
    "lockdep is turned off",
    "UBSAN:", "KASAN:", "stack-protector", "soft lockup", "hard LOCKUP", "rcu: INFO:",
    "hung_task", "list_add corruption", "list_del corruption", "bad page", "Bad page",
    "refcount_t:", "Out of memory",
)
FOLLOWERS = ("Call trace:", "Call Trace:")


def is_header(line):
    return any(p in line for p in HEADERS)


def guest_file():
    """The text of the guest's /splats: one pattern a line."""
    return "".join(p + "\n" for p in HEADERS + FOLLOWERS)
