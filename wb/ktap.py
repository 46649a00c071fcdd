"""Stage 5, run: parse the KTAP the guest init streams, and the figures in it."""

import re
from dataclasses import dataclass, field

RESULT = re.compile(r"^(ok|not ok) (\d+) (\S+)(?: # (\w+).*)?$")
PLAN = re.compile(r"^1\.\.(\d+)$")


@dataclass
class TestResult:
    number: int
    name: str
    status: str                     # "pass", "fail", "skip"
    diag: list = field(default_factory=list)


@dataclass
class Ktap:
    planned: int = None
    results: list = field(default_factory=list)
    started: bool = False


def parse(console):
    """Results with the diagnostics that preceded each, from a console log.

    Kernel messages may precede 'KTAP version 1'; they are not diagnostics.
    """
    ktap, diag = Ktap(), []
    for line in console.splitlines():
        line = line.rstrip("\r")
        if line.startswith("KTAP version"):
            ktap.started = True
            continue
        if not ktap.started:
            continue
        m = PLAN.match(line)
        if m and ktap.planned is None:
            ktap.planned = int(m.group(1))
            continue
        if line.startswith("# "):
            diag.append(line[2:])
            continue
        m = RESULT.match(line)
        if m:
            status = "pass" if m.group(1) == "ok" else "fail"
            if m.group(4) and m.group(4).upper() == "SKIP":
                status = "skip"
            ktap.results.append(TestResult(int(m.group(2)), m.group(3), status, diag))
            diag = []
    return ktap


# Figures printed by the selftests this workbench runs.  Each is (key, regex);
# the first group is the value in seconds.
FIGURES = (
    ("populate_s", re.compile(r"Populate memory time: (\d+\.\d+)s")),
    ("enable_dirty_log_s", re.compile(r"Enabling dirty logging time: (\d+\.\d+)s")),
    ("dirty_pass_s", re.compile(r"Iteration \d+ dirty memory time: (\d+\.\d+)s")),
    ("get_dirty_log_s", re.compile(r"Iteration \d+ get dirty log time: (\d+\.\d+)s")),
    ("clear_dirty_log_s", re.compile(r"Iteration \d+ clear dirty log time: (\d+\.\d+)s")),
    ("disable_dirty_log_s", re.compile(r"Disabling dirty logging time: (\d+\.\d+)s")),
)
# A test that prints KTAP itself (dirty_log_split_test) prints its figures
# as KTAP diagnostics, "# key: value".
KEY_VALUE = re.compile(r"^(?:# )?([a-z][a-z0-9_]*): (\S+)$")
NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$")
# memstress's line for every VM it creates, and dirty_log_split_test's
# for every mode it tests.
GUEST_MODE = ("Testing guest mode: ", "# guest_mode: ")


def figures(diag):
    """{key: [values]} from a test's diagnostics: the one parser of what a
    test prints.  Known selftest lines (FIGURES), and any 'key: value' or
    '# key: value' line, which is how new tests report figures: a number is
    one more sample, a word (backing_src: anonymous_thp) is noted once, as
    guest_mode is.  Lines whose value has spaces (the selftest's summaries,
    '# summary_enable_s: min ... median ... max ...') are no samples.

    Only the first guest mode counts: a test of several modes prints the same
    figures again for each, and those are not samples of the same thing.
    memstress names the mode for every VM it creates, so the same mode
    again is the next repetition, not another mode.
    """
    found = {}
    for line in diag:
        named = next((p for p in GUEST_MODE if line.startswith(p)), None)
        if named:
            mode = line[len(named):].strip()
            if found.setdefault("guest_mode", [mode]) != [mode]:
                break
            continue
        for key, rx in FIGURES:
            m = rx.search(line)
            if m:
                found.setdefault(key, []).append(float(m.group(1)))
        m = KEY_VALUE.match(line)
        if not m:
            continue
        key, value = m.groups()
        if NUMBER.match(value):
            found.setdefault(key, []).append(int(value) if value.lstrip("-").isdigit()
                                             else float(value))
        else:
            found.setdefault(key, [value])
    return found
