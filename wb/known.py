"""Known failures: the verdicts `known-failures` turns into xfail.

A test that fails on base for a reason the series does not touch, or for a
bug the series fixes, is listed there with its reason; failing on patched
but not on base is always a failure.  check, bench and make run apply the
list to the records of their boots.
"""

import fnmatch
import os
import re

from . import splats
from .util import read_table


def known_failures(layout):
    """[(target glob, test glob, reason)]: every known failure needs a reason."""
    return [tuple(fields) for _, fields in
            read_table(os.path.join(layout.repo, "known-failures"), 3,
                       "TARGET-GLOB TEST REASON")]


def known_splat(record, known):
    """The reason, if every splat in a failed dmesg check is a known one.

    Entries read 'dmesg~TEXT': each splat's first line must contain TEXT.
    They hold on any kernel, since such splats are timing-dependent.
    """
    headers = [line for line in record.message.splitlines() if splats.is_header(line)]
    for target_glob, test_glob, reason in known:
        if not test_glob.startswith("dmesg~") or not fnmatch.fnmatch(record.target, target_glob):
            continue
        text = test_glob[len("dmesg~"):]
        if headers and all(text in h for h in headers):
            return reason
    return None


def splat_victims(dmesg, records):
    """The tests whose threads a boot's splats name ("CPU#1: dirty_log_test/47").

    Tests run one after another and pids only grow within a boot, so a
    thread belongs to the run with the greatest pid not above its own; its
    name must also be that run's binary (truncated, as the kernel does).
    """
    runs = sorted((t.values["pid"][0], t) for t in records
                  if t.variant == dmesg.variant and t.values.get("pid"))
    victims = []
    for m in re.finditer(r"CPU#\d+: (\S+)/(\d+)", dmesg.message):
        comm, tid = m.group(1), int(m.group(2))
        owner = [t for pid, t in runs if pid <= tid]
        if owner and owner[-1].params and \
                os.path.basename(owner[-1].params[0])[:15] == comm[:15]:
            victims.append(owner[-1])
    return victims


# A reason with this says the series fixes the failure: the fixed kernels must pass.
FIXED_BY_SERIES = "fixed by series/"


def apply_known_failures(layout, records):
    """Mark listed failures xfail: on base always, since base is only the
    reference (a bug the series fixes, or one it does not touch); on any
    other kernel only when the test failed on base as well, and never when
    the reason says the series fixes it ("fixed by series/...")."""
    known = known_failures(layout)
    for r in records:
        if r.status == "fail" and r.name == "dmesg":
            reason = known_splat(r, known)
            if not reason:
                continue
            for t in splat_victims(r, records):
                if t.status == "fail":
                    t.status, t.message = "xfail", (f"its VM hit a known splat ({reason})"
                                                    f"\n{t.message}")
            r.status, r.message = "xfail", f"known splat: {reason}\n{r.message}"
    failed_on_base = {(r.target, r.name) for r in records
                      if r.kernel == "base" and r.status == "fail"}
    for r in records:
        if r.status != "fail":
            continue
        if r.kernel != "base" and (r.target, r.name) not in failed_on_base:
            continue
        for target_glob, test_glob, reason in known:
            if not (fnmatch.fnmatch(r.target, target_glob)
                    and fnmatch.fnmatch(r.name, test_glob)):
                continue
            if r.kernel == "base" or FIXED_BY_SERIES not in reason:
                r.status, r.message = "xfail", f"known: {reason}"
            break
