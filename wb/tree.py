"""Stage 2, tree: series/ <-> commits on the 'patched' branch of the kernel repo.

`apply` resets 'patched' to the base tag and runs `git am` over series/, in the
order series/SERIES gives.  `export` turns the commits back into format-patch
files.  Both pin every identity and date, so apply followed by export leaves
series/ byte-identical and a diff of series/ is a diff of the series.
"""

import glob
import os
import re
import shlex
import shutil
import tempfile

from .errors import WorkbenchError
from .source import BASE_TAG, GIT_IDENTITY, git
from .util import progress, run, sha256_file, write_atomic

# git am and format-patch must not see the user's own git config: settings
# such as format.thread or apply.whitespace would change what they write.
ISOLATED = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
COMMITTER = dict({k: v for k, v in GIT_IDENTITY.items() if k.startswith("GIT_COMMITTER_")
                  and k != "GIT_COMMITTER_DATE"}, **ISOLATED)
EXPORT_BRANCH = "wb-export"


def read_series(layout):
    """[(name, [prefix, ...]), ...] from series/SERIES."""
    path = os.path.join(layout.series, "SERIES")
    series = []
    try:
        with open(path) as f:
            for lineno, text in enumerate(f, 1):
                if not text.strip() or text.lstrip().startswith("#"):
                    continue
                try:
                    name, *prefixes = shlex.split(text)
                except ValueError as e:
                    raise WorkbenchError(f"{path}:{lineno}: {e}") from None
                if not prefixes:
                    raise WorkbenchError(f"{path}:{lineno}: series '{name}' has no prefix")
                series.append((name, prefixes))
    except FileNotFoundError:
        raise WorkbenchError(f"{path} is missing: it lists the series and their "
                             "subject prefixes") from None
    return series


def patch_files(layout, name):
    return sorted(p for p in glob.glob(os.path.join(layout.series, name, "*.patch"))
                  if not os.path.basename(p).startswith("0000-"))


def _patch_subject(path):
    with open(path, errors="replace") as f:
        for text in f:
            if text.startswith("Subject:"):
                return re.sub(r"^Subject:\s*(\[[^]]*\]\s*)?", "", text).strip()
    return "?"


def _am_failure(layout, repo, patch, out):
    files = sorted(set(re.findall(r"error: patch failed: ([^:\n]+):\d+", out)
                       + re.findall(r"error: ([^:\n]+): does not exist in index", out)
                       + re.findall(r"error: ([^:\n]+): already exists in index", out)))
    git(repo, "am", "--abort", check=False)
    # Leave the tree at base, so that a fixed series/ applies without FORCE.
    git(repo, "checkout", "-q", "-f", "-B", "patched", BASE_TAG)
    _mark_in_sync(layout)
    where = ", ".join(files) if files else "see the git am output below"
    return WorkbenchError(
        f"patch {os.path.relpath(patch)} does not apply: {where}.\n"
        f"Subject: {_patch_subject(patch)}\n--- git am ---\n{out.strip()[-2000:]}")


def ensure_worktrees(layout):
    """build/tree/base: a checkout of the base tag beside the patched repo."""
    base = layout.tree("base")
    if not os.path.isdir(base):
        git(layout.tree("patched"), "worktree", "prune")
        git(layout.tree("patched"), "worktree", "add", "-q", "--detach", base, BASE_TAG)


def experiment_patches(layout, name):
    from .arches import EXPERIMENTS
    d = os.path.join(layout.series, EXPERIMENTS[name].directory)
    return sorted(glob.glob(os.path.join(d, "*.patch")))


def ensure_experiment(layout, name):
    """build/tree/NAME: 'patched' plus the experiment's patches, on branch NAME.

    Re-applied whenever 'patched' or the patch files change, so that the
    experiment is always measured against the series as it stands.
    """
    repo, wt = layout.tree("patched"), layout.tree(name)
    patches = experiment_patches(layout, name)
    if not patches:
        from .arches import EXPERIMENTS
        raise WorkbenchError(f"kernel '{name}' is an experiment with no patches in "
                             f"series/{EXPERIMENTS[name].directory}")
    stamp_path = wt + ".stamp"
    stamp = "\n".join([git(repo, "rev-parse", "patched")]
                      + [sha256_file(p) for p in patches]) + "\n"
    try:
        with open(stamp_path) as f:
            if f.read() == stamp and os.path.isdir(wt):
                return wt
    except FileNotFoundError:
        pass
    if not os.path.isdir(wt):
        git(repo, "worktree", "prune")
        git(repo, "worktree", "add", "-q", "-f", "-B", name, wt, "patched")
    git(wt, "am", "--abort", check=False)
    git(wt, "checkout", "-q", "-f", "-B", name, "patched")
    for patch in patches:
        rc, out = run(["git", "-C", wt, "am", "-q", "--committer-date-is-author-date",
                       "--keep-cr", os.path.abspath(patch)], "git am", env=COMMITTER,
                      check=False)
        if rc != 0:
            git(wt, "am", "--abort", check=False)
            raise WorkbenchError(
                f"experiment patch {os.path.relpath(patch)} does not apply on the "
                f"series: rebase it on branch 'patched' and export it again.\n"
                f"--- git am ---\n{out.strip()[-2000:]}")
    write_atomic(stamp_path, stamp)
    progress("tree", f"{wt}: patched + {len(patches)} experiment patch(es)")
    return wt


def export_experiment(layout, name):
    """Write branch NAME's commits on top of 'patched' into its directory.

    A branch that is not on 'patched' as it now stands (the series was
    rewritten under it) would export the old series with it: leave its
    directory alone and say so.
    """
    repo = layout.tree("patched")
    rc, _ = git(repo, "rev-parse", "--verify", "-q", name, check=False)
    if rc != 0:
        return 0
    from .arches import EXPERIMENTS
    rc, _ = git(repo, "merge-base", "--is-ancestor", "patched", name, check=False)
    if rc != 0:
        progress("export", f"series/{EXPERIMENTS[name].directory}: left as it is: branch "
                 f"'{name}' is not on 'patched' (rebase it: git -C {repo} rebase "
                 f"--onto patched <its old base> {name})")
        return 0
    out = os.path.join(layout.series, EXPERIMENTS[name].directory)
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=out, prefix=".export.")
    try:
        git(repo, "format-patch", "-q", "--zero-commit", "--no-signature",
            "--no-encode-email-headers", "--abbrev=12", "-o", tmp, f"patched..{name}",
            env=ISOLATED)
        new = sorted(os.listdir(tmp))
        for old in glob.glob(os.path.join(out, "*.patch")):
            os.unlink(old)
        for f in new:
            os.replace(os.path.join(tmp, f), os.path.join(out, f))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return len(new)


def _dirty(repo):
    return git(repo, "status", "--porcelain", "--untracked-files=no")


def _sync_path(layout):
    return layout.tree("patched") + ".in-sync"


def _mark_in_sync(layout):
    """Remember which commit series/ was last applied from or exported to."""
    write_atomic(_sync_path(layout), git(layout.tree("patched"), "rev-parse", "HEAD") + "\n")


def unexported_changes(layout):
    """Why resetting 'patched' would lose work, or None.

    The tree holds unexported work when HEAD has moved since series/ was last
    applied or exported; edits to series/ itself are not work in the tree.
    """
    repo = layout.tree("patched")
    if _dirty(repo):
        return "the kernel tree has uncommitted changes"
    head = git(repo, "rev-parse", "HEAD")
    if head == git(repo, "rev-parse", BASE_TAG + "^{commit}"):
        return None
    try:
        with open(_sync_path(layout)) as f:
            if f.read().strip() == head:
                return None
    except FileNotFoundError:
        pass
    return "it has commits that are not exported to series/"


def _holds_series(layout):
    """Whether exporting the tree's commits would write series/ as it is.

    Then there is nothing to apply, and not resetting the tree keeps every
    file's mtime, so that no build redoes what the series touches.
    """
    repo = layout.tree("patched")
    if _dirty(repo) or git(repo, "rev-parse", "--abbrev-ref", "HEAD") != "patched":
        return False
    tmp = tempfile.mkdtemp(prefix=".holds.", dir=layout.series)
    try:
        export(layout, dest=tmp, quiet=True)
        for name, _ in read_series(layout):
            mine = sorted(glob.glob(os.path.join(layout.series, name, "*.patch")))
            theirs = sorted(glob.glob(os.path.join(tmp, name, "*.patch")))
            if [os.path.basename(p) for p in mine] != [os.path.basename(p) for p in theirs]:
                return False
            for a, b in zip(mine, theirs):
                with open(a, "rb") as fa, open(b, "rb") as fb:
                    if fa.read() != fb.read():
                        return False
        return True
    except WorkbenchError:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def apply(layout, force=False):
    """Reset 'patched' to base and git am every series onto it, unless the
    tree already holds exactly series/."""
    repo = layout.tree("patched")
    if os.path.isdir(os.path.join(repo, ".git")) and _holds_series(layout):
        ensure_worktrees(layout)
        _mark_in_sync(layout)
        n = len(git(repo, "rev-list", f"{BASE_TAG}..HEAD").split())
        progress("tree", f"{repo}: already base + series/ ({n} patch(es)), left as it is")
        return n
    if not force:
        why = unexported_changes(layout)
        if why:
            raise WorkbenchError(
                f"not resetting {repo}: {why}, and that work would be lost.",
                "Run 'make export' to save it into series/, or 'make tree FORCE=1' "
                "to discard it.")
    git(repo, "am", "--abort", check=False)
    git(repo, "checkout", "-q", "-f", "-B", "patched", BASE_TAG)
    ensure_worktrees(layout)
    applied = 0
    for name, _ in read_series(layout):
        for patch in patch_files(layout, name):
            rc, out = run(["git", "-C", repo, "am", "-q", "--committer-date-is-author-date",
                           "--keep-cr", os.path.abspath(patch)], "git am",
                          env=COMMITTER, check=False)
            if rc != 0:
                raise _am_failure(layout, repo, patch, out)
            applied += 1
    _mark_in_sync(layout)
    progress("tree", f"{repo}: base + {applied} patch(es) on branch 'patched'")
    return applied


def _assign(layout, repo):
    """Group base..patched into series by subject prefix: {name: [sha, ...]}."""
    series = read_series(layout)
    commits = git(repo, "log", "--reverse", "--format=%H %s", f"{BASE_TAG}..patched")
    groups, order = {}, []
    for text in commits.splitlines():
        sha, subject = text.split(" ", 1)
        # The longest matching prefix wins: "KVM: arm64: Fix " before "KVM: arm64:".
        matches = [(len(p), n) for n, prefixes in series for p in prefixes
                   if subject.startswith(p)]
        name = max(matches)[1] if matches else None
        if name is None:
            raise WorkbenchError(
                f"commit {sha[:12]} \"{subject}\" matches no series prefix in "
                "series/SERIES; reword it or add the prefix there")
        if order and order[-1] != name and name in groups:
            raise WorkbenchError(
                f"the commits of series '{name}' are not contiguous (see {sha[:12]}); "
                "reorder them with git rebase -i so each series is one run")
        if not order or order[-1] != name:
            order.append(name)
        groups.setdefault(name, []).append(sha)
    wanted = [n for n, _ in series]
    if order != [n for n in wanted if n in groups]:
        raise WorkbenchError(f"the series are applied in the order {', '.join(order)}, "
                             f"but series/SERIES says {', '.join(wanted)}")
    return groups


def _has_cover(layout, name):
    return os.path.exists(os.path.join(layout.series, name, "cover"))


def _cover_text(layout, name):
    path = os.path.join(layout.series, name, "cover")
    try:
        with open(path) as f:
            return f.read().strip() + "\n"
    except FileNotFoundError:
        return f"{name}: *** SUBJECT HERE ***\n\n*** BLURB HERE ***\n"


def export(layout, dest=None, quiet=False):
    """Write each series' patches and cover letter into dest (series/ by default)."""
    repo = layout.tree("patched")
    dest = dest or layout.series
    groups = _assign(layout, repo)
    for name, _ in read_series(layout):
        shas = groups.get(name, [])
        out = os.path.join(dest, name)
        tmp = tempfile.mkdtemp(dir=dest, prefix=f".{name}.")
        try:
            if shas:
                start = git(repo, "rev-parse", shas[0] + "^")
                git(repo, "branch", "-f", EXPORT_BRANCH, shas[-1])
                git(repo, "config", f"branch.{EXPORT_BRANCH}.description",
                    _cover_text(layout, name))
                # A lone patch goes out without a cover letter, unless one is written.
                cover = (["--cover-letter", "--cover-from-description=subject"]
                         if len(shas) > 1 or _has_cover(layout, name) else [])
                git(repo, "format-patch", "-q", "--zero-commit", "--no-signature", *cover,
                    "--no-encode-email-headers", "--abbrev=12",
                    "-o", tmp, f"{start}..{EXPORT_BRANCH}", env=ISOLATED)
                git(repo, "branch", "-D", EXPORT_BRANCH)
                _pin_cover_date(repo, tmp, shas[-1])
            os.makedirs(out, exist_ok=True)
            for old in glob.glob(os.path.join(out, "*.patch")):
                os.unlink(old)
            for new in sorted(os.listdir(tmp)):
                os.replace(os.path.join(tmp, new), os.path.join(out, new))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if not quiet:
            progress("export", f"series/{name}: {len(shas)} patch(es)")
    if dest == layout.series:
        _mark_in_sync(layout)
        from .arches import EXPERIMENTS
        for name in EXPERIMENTS:
            n = export_experiment(layout, name)
            if n and not quiet:
                progress("export", f"series/{EXPERIMENTS[name].directory}: {n} patch(es)")


def _pin_cover_date(repo, outdir, tip):
    """format-patch dates the cover letter 'now'; use the tip's author date."""
    cover = os.path.join(outdir, "0000-cover-letter.patch")
    if not os.path.exists(cover):
        return
    date = git(repo, "log", "-1", "--format=%aD", tip)
    with open(cover) as f:
        text = f.read()
    text = re.sub(r"^Date: .*$", f"Date: {date}", text, count=1, flags=re.M)
    write_atomic(cover, text)
