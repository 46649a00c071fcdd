"""The series' own quality gate: what reviewers and the kernel test robot
check first, run on series/ before they do.

Each patch gets two verdicts: checkpatch --strict (less the types
series/checkpatch-allow explains) and the format rules below.
"""

import glob
import os
import re

from .results import Record
from .tree import read_series
from .util import read_table, run

MAX_SUBJECT = 75
MIN_BODY_WORDS = 20
NEUTRAL_FROM = "From: eager-split workbench <workbench@invalid>"


def allowed_types(layout):
    """checkpatch types series/checkpatch-allow lets pass, each with a reason."""
    return [fields[0] for _, fields in
            read_table(os.path.join(layout.series, "checkpatch-allow"), 2, "TYPE REASON")]


def patches(layout):
    return sorted(p for p in glob.glob(os.path.join(layout.series, "*", "[0-9]*.patch"))
                  if not os.path.basename(p).startswith("0000-"))


def parse(path):
    """(subject, from, body) of a format-patch file."""
    with open(path, errors="replace") as f:
        text = f.read()
    head, _, rest = text.partition("\n\n")
    subject = re.search(r"^Subject: (?:\[[^]]*\] )?(.*(?:\n .*)*)", head, re.M)
    subject = re.sub(r"\n ", " ", subject.group(1)) if subject else ""
    sender = re.search(r"^From: .*$", head, re.M)
    body = rest.split("\n---\n", 1)[0]
    return subject, sender.group(0) if sender else "", body


def prefixes(layout):
    """The subject prefixes series/SERIES gives its series."""
    return tuple(p for _, series_prefixes in read_series(layout) for p in series_prefixes)


def format_problems(path, allowed_prefixes):
    subject, sender, body = parse(path)
    problems = []
    if not subject.startswith(tuple(allowed_prefixes)):
        problems.append(f"subject prefix is not one of: {', '.join(allowed_prefixes)}")
    if len(subject) >= MAX_SUBJECT:
        problems.append(f"subject is {len(subject)} characters; keep it under {MAX_SUBJECT}")
    words = len(re.findall(r"\w+", re.sub(r"^\S+:.*$", "", body, flags=re.M)))
    if words < MIN_BODY_WORDS:
        problems.append(f"the changelog has {words} words: say why the change is needed")
    summary = subject.split(":")[-1].strip().lower()
    is_fix = summary.startswith("fix") or re.search(r"^Cc: stable@", body, re.M)
    if is_fix and not re.search(r"^Fixes: [0-9a-f]{12,} \(\".*\"\)$", body, re.M):
        problems.append("a fix (subject 'Fix...' or Cc: stable) needs a "
                        "'Fixes: <12+ hex> (\"subject\")' tag")
    if sender != NEUTRAL_FROM:
        problems.append(f"stored patches carry no personal identity: expected '{NEUTRAL_FROM}'")
    if re.search(r"^(Signed-off-by|Co-developed-by|Reviewed-by|Tested-by):", body, re.M):
        problems.append("stored patches carry no sign-offs: the export for sending adds them")
    return problems


def lint(layout, tally):
    """One checkpatch and one format verdict per patch in series/."""
    checkpatch = os.path.join(layout.tree("patched"), "scripts", "checkpatch.pl")
    ignore = ",".join(allowed_types(layout))
    allowed_prefixes = prefixes(layout)
    for path in patches(layout):
        name = os.path.relpath(path, layout.series)
        rc, out = run(["perl", checkpatch, "--strict", "--no-tree", "--quiet",
                       "--show-types"] + (["--ignore", ignore] if ignore else []) + [path],
                      "checkpatch", check=False)
        tally.add(Record(stage="lint", name=f"checkpatch {name}",
                         status="pass" if rc == 0 else "fail",
                         message=f"{name}: checkpatch --strict:\n{out.strip()}" if rc else ""))
        problems = format_problems(path, allowed_prefixes)
        tally.add(Record(stage="lint", name=f"format {name}",
                         status="fail" if problems else "pass",
                         message=f"{name}: " + "; ".join(problems) if problems else ""))
