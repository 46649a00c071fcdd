"""The series on its way out: a send-ready set per series, and whether the
series still applies to the next kernel.

`write_series` (make series) turns each series/<name>/ into build/send/<name>/:
the stored patches, which carry the workbench's neutral identity and no
sign-off, get the sender's From: and Signed-off-by:, [PATCH n/N] numbering,
To:/Cc: from scripts/get_maintainer.pl of the base tree, and the cover letter
a base-commit: line.  git send-email takes the files as they are.

`portability` (make portability) applies each series with git am -3, one
patch at a time, to the 7.3 reference tree in a throwaway worktree, and gives
every patch a verdict: clean, 3-way or conflict.
"""

import glob
import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass

from . import source, tree
from .errors import WorkbenchError
from .source import BASE_TAG, GIT_IDENTITY, git
from .util import current_umask, progress, run, write_atomic

NEUTRAL_NAME = GIT_IDENTITY["GIT_AUTHOR_NAME"]
NEUTRAL_EMAIL = GIT_IDENTITY["GIT_AUTHOR_EMAIL"]
COVER = "0000-cover-letter.patch"
# Offline and deterministic: MAINTAINERS alone, no git history.
GET_MAINTAINER = ["--roles", "--no-rolestats", "--no-git", "--no-git-fallback", "--no-fixes"]
TO_ROLES = ("maintainer", "supporter", "odd fixer", "chief penguin")


def send_dir(layout, name=None):
    return layout.path("send", *((name,) if name else ()))


# -- who sends -------------------------------------------------------------

def _git_config(repo, key):
    rc, out = run(["git", "-C", repo, "config", "--get", key], f"git config {key}",
                  check=False)
    return out.strip() if rc == 0 else ""


def sender(layout):
    """'Name <email>' of the person sending: git's committer identity as seen
    from the repository ($GIT_COMMITTER_NAME/EMAIL, else user.name/email),
    never the workbench's neutral one."""
    name = os.environ.get("GIT_COMMITTER_NAME") or _git_config(layout.repo, "user.name")
    email = os.environ.get("GIT_COMMITTER_EMAIL") or _git_config(layout.repo, "user.email")
    if name == NEUTRAL_NAME or email == NEUTRAL_EMAIL:
        why = (f"the identity git gives in {layout.repo} is the workbench's neutral "
               f"'{NEUTRAL_NAME} <{NEUTRAL_EMAIL}>', which is for the kernel tree's "
               "commits, not for mail")
        fix = (f"Remove it from the file that 'git -C {layout.repo} config --show-origin "
               "user.email' names")
    elif not name or not email:
        missing = " and ".join(k for k, v in (("user.name", name), ("user.email", email))
                               if not v)
        why = f"git has no {missing} for you (asked 'git config' in {layout.repo})"
        fix = ("Set it with git config --global user.name 'Your Name' and "
               "git config --global user.email you@example.org")
    else:
        return f"{name} <{email}>"
    raise WorkbenchError(
        "make series needs your identity for the From: line and the Signed-off-by: "
        f"it adds to every patch, but {why}. {fix}, or for one run: make series "
        "GIT_COMMITTER_NAME='Your Name' GIT_COMMITTER_EMAIL=you@example.org.")


# -- get_maintainer.pl -----------------------------------------------------

def recipients(base_tree, patch):
    """(to, cc) for one patch: maintainers to To, reviewers and lists to Cc,
    each in get_maintainer.pl's order."""
    script = os.path.join(base_tree, "scripts", "get_maintainer.pl")
    rc, out = run(["perl", script] + GET_MAINTAINER + [os.path.abspath(patch)],
                  "get_maintainer.pl", cwd=base_tree, check=False)
    if rc != 0:
        raise WorkbenchError(f"scripts/get_maintainer.pl in {base_tree} failed on "
                             f"{os.path.relpath(patch)} (exit {rc}):\n{out.strip()[-1500:]}")
    to, cc = [], []
    for line in out.splitlines():
        m = re.match(r"^(.*?<[^<>\s]+>|[^\s<>()]+@[^\s<>()]+)(?:\s+\((.*)\))?\s*$", line)
        if not m:
            continue
        addr, roles = m.group(1).strip(), m.group(2) or ""
        is_to = any(re.search(rf"(^|,){r}:", roles) for r in TO_ROLES)
        (to if is_to else cc).append(addr)
    return to, cc


def _key(addr):
    m = re.search(r"<([^>]+)>", addr)
    return (m.group(1) if m else addr).lower()


def merge_recipients(pairs):
    """The union of several (to, cc): To wins over Cc, first appearance orders."""
    to, cc = {}, {}
    for t, c in pairs:
        for a in t:
            to.setdefault(_key(a), a)
        for a in c:
            cc.setdefault(_key(a), a)
    return list(to.values()), [a for k, a in cc.items() if k not in to]


# -- rewriting one stored patch ---------------------------------------------

def _header_block(name, addrs):
    return f"{name}: " + ",\n    ".join(addrs) + "\n" if addrs else ""


def _split_mail(text, path):
    head, sep, body = text.partition("\n\n")
    if not sep or not head.startswith("From ") or "\nSubject: " not in head:
        raise WorkbenchError(f"{path} is not a git format-patch file "
                             "(no 'From ' line, headers and body); run 'make export'")
    return head + "\n", body


def _set_header(head, name, value):
    """Replace header `name` (with its continuation lines) by one line."""
    new, n = re.subn(rf"^{name}: .*\n(?:[ \t].*\n)*", f"{name}: {value}\n", head,
                     count=1, flags=re.M)
    return new if n else head + f"{name}: {value}\n"


def _encode_from(who):
    if who.isascii():
        return who
    from email.header import Header
    name, _, rest = who.rpartition(" <")
    return f"{Header(name, 'utf-8').encode()} <{rest}"


def rewrite_headers(head, who, subject_tag, to, cc):
    head = _set_header(head, "From", _encode_from(who))
    head, n = re.subn(r"^Subject: \[[^]]*\]", f"Subject: [{subject_tag}]", head,
                      count=1, flags=re.M)
    if not n:
        head = re.sub(r"^Subject: ", f"Subject: [{subject_tag}] ", head, count=1, flags=re.M)
    head = re.sub(r"^(To|Cc): .*\n(?:[ \t].*\n)*", "", head, flags=re.M)
    # After the Subject and its continuation lines, as git format-patch --to does.
    head = re.sub(r"(^Subject: .*\n(?:[ \t].*\n)*)",
                  lambda m: m.group(1) + _header_block("To", to) + _header_block("Cc", cc),
                  head, count=1, flags=re.M)
    if not who.isascii() and "\nContent-Type:" not in head:
        head += ("MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
                 "Content-Transfer-Encoding: 8bit\n")
    return head


TRAILER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*: \S")


def add_signoff(body, who):
    """Append 'Signed-off-by: who' to the changelog's trailer block (the last
    paragraph before the '---' line), or start a block after the changelog."""
    lines = body.split("\n")
    end = lines.index("---") if "---" in lines else len(lines)
    message, rest = lines[:end], lines[end:]
    while message and not message[-1].strip():
        message.pop()
    sob = f"Signed-off-by: {who}"
    last = []
    for text in reversed(message):
        if not text.strip():
            break
        last.insert(0, text)
    trailers = len(last) < len(message) and all(TRAILER.match(t) or t[:1] in " \t"
                                                 for t in last)
    if message and message[-1] == sob:
        pass
    elif trailers:
        message.append(sob)
    else:
        message += ([""] if message else []) + [sob]
    return "\n".join(message + rest)


@dataclass
class Outgoing:
    name: str        # file name in build/send/<series>/
    text: str
    to: list
    cc: list


def _read(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def _read_tag(series_dir):
    """series/<name>/tag, e.g. "RFC PATCH", replaces the subject tag "PATCH"."""
    tag_path = os.path.join(series_dir, "tag")
    return _read(tag_path).strip() if os.path.exists(tag_path) else "PATCH"


def build_series(layout, name, who, base_commit):
    """[Outgoing] for one series, cover letter first; [] when it has no patches."""
    patches = tree.patch_files(layout, name)
    if not patches:
        return []
    total = len(patches)
    cover_path = os.path.join(layout.series, name, COVER)
    # A lone patch without a cover letter: "[PATCH]", and the base-commit
    # below the diff, where git format-patch --base puts it.
    lone = total == 1 and not os.path.exists(cover_path)
    if not lone and not os.path.exists(cover_path):
        raise WorkbenchError(f"{cover_path} is missing; run 'make export' to write the "
                             f"cover letter from series/{name}/cover")
    cover = "" if lone else _read(cover_path)
    if "*** SUBJECT HERE ***" in cover or "*** BLURB HERE ***" in cover:
        raise WorkbenchError(f"the cover letter of series '{name}' is still the "
                             f"placeholder: write series/{name}/cover (subject line, blank "
                             "line, text) and run 'make export'")
    base_tree = layout.tree("base")
    tag = _read_tag(os.path.join(layout.series, name))
    out = []
    for n, path in enumerate(patches, 1):
        head, body = _split_mail(_read(path), path)
        to, cc = recipients(base_tree, path)
        head = rewrite_headers(head, who, tag if lone else f"{tag} {n}/{total}", to, cc)
        body = add_signoff(body, who)
        if lone:
            body = body.rstrip("\n") + f"\n\nbase-commit: {base_commit}\n"
        slug = os.path.basename(path).split("-", 1)[-1]
        out.append(Outgoing(f"{n:04d}-{slug}", head + "\n" + body, to, cc))
    if lone:
        return out
    to, cc = merge_recipients((o.to, o.cc) for o in out)
    head, body = _split_mail(cover, cover_path)
    head = rewrite_headers(head, who, f"{tag} 0/{total}", to, cc)
    sender_name = who.rsplit(" <", 1)[0]
    body = re.sub(rf"^{re.escape(NEUTRAL_NAME)} \((\d+)\):$",
                  lambda m: f"{sender_name} ({m.group(1)}):", body, flags=re.M)
    body = body.rstrip("\n") + f"\n\n\nbase-commit: {base_commit}\n"
    return [Outgoing(COVER, head + "\n" + body, to, cc)] + out


def _replace_dir(tmp, dest):
    """Put the finished directory tmp at dest: readers see the old set or the
    new one, never a mix."""
    old = None
    if os.path.exists(dest):
        old = tempfile.mkdtemp(dir=os.path.dirname(dest), prefix=f".{os.path.basename(dest)}.old.")
        os.rmdir(old)
        os.rename(dest, old)
    os.rename(tmp, dest)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def write_series(layout, who):
    """build/send/<name>/ for every series with patches, from `who` (see
    sender()).  Returns ({name: directory}, {name: why it was not written}):
    a series that cannot be sent keeps its old set, the others are written."""
    why = tree.unexported_changes(layout) if os.path.isdir(layout.tree("patched")) else None
    if why:
        progress("series", f"note: {layout.tree('patched')}: {why}; sending series/ as it is")
    tree.ensure_worktrees(layout)
    base_commit = git(layout.tree("patched"), "rev-parse", BASE_TAG + "^{commit}")
    root = send_dir(layout)
    os.makedirs(root, exist_ok=True)
    written, failed = {}, {}
    for name, _ in tree.read_series(layout):
        dest = send_dir(layout, name)
        try:
            msgs = build_series(layout, name, who, base_commit)
        except WorkbenchError as e:
            failed[name] = str(e)
            progress("series", f"{name}: NOT written (see below)")
            continue
        if not msgs:
            shutil.rmtree(dest, ignore_errors=True)
            progress("series", f"{name}: no patches, nothing to send")
            continue
        tmp = tempfile.mkdtemp(dir=root, prefix=f".{name}.")
        try:
            for m in msgs:
                write_atomic(os.path.join(tmp, m.name),
                             m.text.encode("utf-8", errors="surrogateescape"))
            os.chmod(tmp, 0o777 & ~current_umask())
            _replace_dir(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        first = msgs[0]
        what = ("1 patch, no cover letter" if first.name != COVER
                else f"{len(msgs) - 1} patch(es) + cover letter")
        progress("series", f"{name}: {what} in "
                           f"{os.path.relpath(dest)}; To: {len(first.to)}, Cc: {len(first.cc)}")
        written[name] = dest
    return written, failed


def not_written_error(failed):
    return WorkbenchError(
        f"not written: {', '.join(failed)}; the other series are ready to send.\n"
        + "\n".join(f"{name}: {why}" for name, why in failed.items()))


def print_send_help(written, who):
    if not written:
        print("no series has patches; nothing to send")
        return
    print(f"\nFrom: {who}; base-commit: in each cover letter (a lone patch: below its "
          "diff); To:/Cc: in each file (from get_maintainer.pl).")
    print("Check, then send each series (git send-email asks 'To whom...?': press "
          "Enter, the files name their recipients):")
    for name, d in written.items():
        rel = os.path.relpath(d)
        cmd = f"git send-email --from={shlex.quote(who)}"
        print(f"  {cmd} --dry-run {rel}/*.patch")
        print(f"  {cmd} {rel}/*.patch")


# -- portability to the reference kernel --------------------------------------

@dataclass
class Verdict:
    series: str
    patch: str       # file name in series/<series>/
    result: str      # clean, 3-way or conflict
    files: tuple = ()


def _objects_dir(repo):
    """The object directory of repo, absolute (for the 3-way fallback's blobs)."""
    common = git(repo, "rev-parse", "--git-common-dir")
    if not os.path.isabs(common):
        common = os.path.join(repo, common)
    return os.path.join(os.path.abspath(common), "objects")


def _conflict_files(work, out):
    unmerged = git(work, "diff", "--name-only", "--diff-filter=U").split()
    named = re.findall(r"^CONFLICT \([^)]*\): Merge conflict in (\S+)$", out, re.M) \
        + re.findall(r"^error: patch failed: ([^:\n]+):\d+$", out, re.M) \
        + re.findall(r"^error: ([^:\n]+): does not exist in index$", out, re.M) \
        + re.findall(r"^error: ([^:\n]+): already exists in index$", out, re.M) \
        + re.findall(r"sha1 information is lacking or useless \(([^)]+)\)", out)
    return tuple(sorted(set(unmerged) | set(named)))


def apply_one(work, patch, env):
    """Verdict of `git am -3` of one patch in work; a failed one is skipped."""
    rc, out = run(["git", "-C", work, "am", "-3", "--keep-cr", os.path.abspath(patch)],
                  "git am", env=env, check=False)
    if rc == 0:
        three_way = "Falling back to patching base and 3-way merge" in out
        return ("3-way" if three_way else "clean"), ()
    files = _conflict_files(work, out)
    rc, _ = git(work, "am", "--skip", env=env, check=False)
    if rc != 0:
        git(work, "am", "--abort", env=env, check=False)
    if not files:
        files = ("(git am: " + (out.strip().splitlines() or ["?"])[-1] + ")",)
    return "conflict", files


def _stale_worktrees(layout, ref):
    for d in glob.glob(os.path.join(layout.path("tree"), ".portability-*")):
        shutil.rmtree(d, ignore_errors=True)
    git(ref, "worktree", "prune")


def portability(layout):
    """[Verdict] of every patch of every series applied to the reference tree.

    Each series starts from the reference's base tag on its own, as it would
    on its maintainer's tree; the patches of one series build on each other.
    The reference tree's checkout, branch and index are not touched: the work
    happens in a detached worktree under build/tree/ that is removed after.
    """
    ref = layout.tree("ref")
    if not os.path.isdir(os.path.join(ref, ".git")):
        raise WorkbenchError(f"there is no reference tree at {ref}; make it with "
                             "'make source REF=1'")
    series = [(name, tree.patch_files(layout, name)) for name, _ in tree.read_series(layout)]
    env = dict(tree.COMMITTER)
    patched = layout.tree("patched")
    if os.path.isdir(patched):
        # The stored patches' index lines name 7.2 blobs, which the ref repo
        # lacks; lend it the patched repo's objects so -3 can fall back.
        env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = _objects_dir(patched)
    _stale_worktrees(layout, ref)
    work = tempfile.mkdtemp(dir=layout.path("tree"), prefix=".portability-")
    verdicts = []
    try:
        progress("port", f"checking out {BASE_TAG} of {ref} in a throwaway worktree")
        git(ref, "worktree", "add", "-q", "--detach", work, BASE_TAG)
        for name, patches in series:
            if not patches:
                continue
            git(work, "checkout", "-q", "-f", "--detach", BASE_TAG)
            for patch in patches:
                result, files = apply_one(work, patch, env)
                verdicts.append(Verdict(name, os.path.basename(patch), result, files))
                progress("port", f"{name}/{os.path.basename(patch)}: {result}"
                                 + (f" ({', '.join(files)})" if files else ""))
    finally:
        git(ref, "worktree", "remove", "--force", work, check=False)
        shutil.rmtree(work, ignore_errors=True)
        git(ref, "worktree", "prune", check=False)
    return verdicts


def portability_table(verdicts, against):
    lines = [f"Series applied to {against} with git am -3, one patch at a time:", ""]
    width = max([len(f"{v.series}/{v.patch}") for v in verdicts] + [5])
    lines.append(f"{'patch':<{width}}  verdict   conflicting files")
    for v in verdicts:
        lines.append(f"{v.series + '/' + v.patch:<{width}}  {v.result:<8}  "
                     f"{', '.join(v.files)}".rstrip())
    counts = {r: sum(v.result == r for v in verdicts) for r in ("clean", "3-way", "conflict")}
    lines += ["", f"{counts['clean']} clean, {counts['3-way']} 3-way, "
                  f"{counts['conflict']} conflict"]
    return "\n".join(lines)


def describe_ref(layout):
    record = source.read_record(layout, "ref")
    return source.describe(record) if record else layout.tree("ref")
