"""Stage 1, source: Debian's linux-source package -> a git repo with one base commit.

The package comes from suites the machine's apt sources do not list, so apt
runs with a project-local configuration under build/apt.  Only versions
listed in source/versions are accepted, each checked against its sha256.
The base commit is made with a fixed identity and date, so that its hash
depends on the kernel source alone and is the same on every machine.
"""

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from .errors import WorkbenchError
from .util import progress, read_table, run, sha256_file, write_atomic

BASE_TAG = "base"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "eager-split workbench",
    "GIT_AUTHOR_EMAIL": "workbench@invalid",
    "GIT_COMMITTER_NAME": "eager-split workbench",
    "GIT_COMMITTER_EMAIL": "workbench@invalid",
    "GIT_AUTHOR_DATE": "1970-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "1970-01-01T00:00:00Z",
}

# Which kernel line each tree holds.
LINES = {"patched": "7.3", "base": "7.3", "ref": "7.3"}


@dataclass(frozen=True)
class Version:
    line: str
    version: str
    deb_sha256: str
    tar_sha256: str

    @property
    def package(self):
        return f"linux-source-{self.line}"

    @property
    def deb_name(self):
        return f"{self.package}_{self.version}_all.deb"


def accepted_versions(layout, line):
    usage = "LINE VERSION DEB_SHA256 TAR_SHA256"
    versions = []
    for lineno, fields in read_table(layout.versions, 4, usage):
        if len(fields[3].split()) != 1 or not all(re.fullmatch(r"[0-9a-f]{64}", h)
                                                  for h in fields[2:]):
            raise WorkbenchError(f"{layout.versions}:{lineno}: expected '{usage}'")
        if fields[0] == line:
            versions.append(Version(*fields))
    if not versions:
        raise WorkbenchError(f"{layout.versions} lists no accepted version of "
                             f"linux-source-{line}")
    return versions


def apt_options(layout, sources=None, apt=None, install=False):
    """apt-get options for the workbench's own apt state (or another state
    directory apt and sources list, e.g. deb-src lines), which they create.

    Only downloads go without apt's locks; with install (setup installing
    into the system), apt keeps every lock, dpkg's included.

    A Release file past its Valid-Until is still read: a mirror that is a
    frozen snapshot serves sid's a few weeks old, and apt would refuse it on
    every machine without lists yet (a fresh one).  The expiry guards
    against a mirror replaying old packages; here every file the workbench
    takes is checked against the sha256 that the repository pins, so an old
    or replayed file is refused anyway.
    """
    apt = apt or layout.apt
    for d in ("lists/partial", "cache/archives/partial"):
        os.makedirs(os.path.join(apt, d), exist_ok=True)
    return [
        "-o", f"Dir::Etc::sourcelist={sources or layout.apt_sources}",
        "-o", "Dir::Etc::sourceparts=-",
        "-o", f"Dir::State::Lists={apt}/lists",
        "-o", f"Dir::Cache={apt}/cache",
        "-o", "APT::Get::List-Cleanup=0",
        "-o", "Acquire::Check-Valid-Until=false",
    ] + ([] if install else ["-o", "Debug::NoLocking=1"])


def _apt_update(layout):
    progress("source", "updating the project-local apt lists (sid, trixie-backports)")
    rc, out = run(["apt-get", "-q"] + apt_options(layout) + ["update"],
                  "apt-get update", check=False)
    if rc != 0:
        raise WorkbenchError(
            "could not download the package lists for sid and trixie-backports "
            f"(apt-get update exit {rc}). Is the Debian mirror reachable?\n"
            + out.strip()[-1500:])


def _available_versions(layout, package):
    rc, out = run(["apt-cache"] + apt_options(layout) + ["madison", package],
                  "apt-cache madison", check=False)
    return {fields[1].strip() for fields in
            (line.split("|") for line in out.splitlines()) if len(fields) >= 2}


def _download(layout, v):
    """The .deb of version v, from build/downloads or the mirror, verified."""
    deb = os.path.join(layout.downloads, v.deb_name)
    if os.path.exists(deb) and sha256_file(deb) == v.deb_sha256:
        return deb
    os.makedirs(layout.downloads, exist_ok=True)
    tmp = os.path.join(layout.downloads, ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    progress("source", f"downloading {v.package} {v.version}")
    rc, out = run(["apt-get", "-q"] + apt_options(layout)
                  + ["download", f"{v.package}={v.version}"],
                  "apt-get download", cwd=tmp, check=False)
    got = [f for f in os.listdir(tmp) if f.endswith(".deb")]
    if rc != 0 or len(got) != 1:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WorkbenchError(f"downloading {v.package} {v.version} failed "
                             f"(apt-get exit {rc}).\n" + out.strip()[-1500:])
    actual = sha256_file(os.path.join(tmp, got[0]))
    if actual != v.deb_sha256:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WorkbenchError(
            f"sha256 mismatch for {v.deb_name}: expected {v.deb_sha256}, "
            f"got {actual}. The file was discarded; source/versions or the "
            "mirror is wrong, and the workbench will not build from it.")
    os.replace(os.path.join(tmp, got[0]), deb)
    shutil.rmtree(tmp, ignore_errors=True)
    return deb


def fetch(layout, line):
    """Return (Version, path of the verified tarball) for a kernel line."""
    versions = accepted_versions(layout, line)
    for v in versions:
        tarball = os.path.join(layout.downloads, f"linux-source-{v.version}.tar.xz")
        if os.path.exists(tarball) and sha256_file(tarball) == v.tar_sha256:
            return v, tarball
    _apt_update(layout)
    offered = _available_versions(layout, f"linux-source-{line}")
    for v in versions:
        if v.version not in offered:
            progress("source", f"{v.package} {v.version} is no longer on the mirror")
            continue
        deb = _download(layout, v)
        tarball = os.path.join(layout.downloads, f"linux-source-{v.version}.tar.xz")
        tmp = tarball + ".partial"
        with open(tmp, "wb") as out:
            dpkg = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
            tar = subprocess.run(["tar", "-xO", f"./usr/src/linux-source-{line}.tar.xz"],
                                 stdin=dpkg.stdout, stdout=out)
            dpkg.stdout.close()
            if dpkg.wait() or tar.returncode:
                os.unlink(tmp)
                raise WorkbenchError(f"could not unpack {deb}: no "
                                     f"linux-source-{line}.tar.xz inside")
        actual = sha256_file(tmp)
        if actual != v.tar_sha256:
            os.unlink(tmp)
            raise WorkbenchError(f"sha256 mismatch for the tarball in {v.deb_name}: "
                                 f"expected {v.tar_sha256}, got {actual}")
        os.replace(tmp, tarball)
        return v, tarball
    raise WorkbenchError(
        f"none of the accepted linux-source-{line} versions is available: "
        f"accepted {', '.join(v.version for v in versions)}; the mirror offers "
        f"{', '.join(sorted(offered)) or 'none'}. Verify a newer version and add it "
        f"to source/versions, or point KSRC at your own v{line} tree.")


def kernel_version(tree):
    """'7.2.13' from a kernel tree's top Makefile."""
    fields = {}
    try:
        with open(os.path.join(tree, "Makefile")) as f:
            for text in f.readlines()[:12]:
                m = re.match(r"(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d+)", text)
                if m:
                    fields[m.group(1)] = m.group(2)
    except OSError:
        pass
    if len(fields) != 3:
        return None
    return f"{fields['VERSION']}.{fields['PATCHLEVEL']}.{fields['SUBLEVEL']}"


def git(tree, *args, what=None, env=None, check=True):
    rc, out = run(["git", "-C", tree] + list(args), what or f"git {args[0]}",
                  env=env, check=check)
    return out.strip() if check else (rc, out)


def record_path(layout, kernel):
    return layout.tree(kernel) + ".json"


def read_record(layout, kernel):
    try:
        with open(record_path(layout, kernel)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _identity(repo):
    """Commits made in the tree carry no personal name (see make series), and
    git ignores the object directories the builds put inside the tree."""
    git(repo, "config", "user.name", GIT_IDENTITY["GIT_AUTHOR_NAME"])
    git(repo, "config", "user.email", GIT_IDENTITY["GIT_AUTHOR_EMAIL"])
    exclude = os.path.join(git(repo, "rev-parse", "--git-common-dir"), "info", "exclude")
    if not os.path.isabs(exclude):
        exclude = os.path.join(repo, exclude)
    os.makedirs(os.path.dirname(exclude), exist_ok=True)
    with open(exclude, "a") as f:
        f.write("/.out-*/\n")


DEBIAN_IGNORE = re.compile(r"\n#\n# Debian packaging: ignore everything at the top level.*?\n/\*\n!/debian/\n",
                           re.S)


def drop_debian_ignore(repo):
    """Debian's tarball adds '/*' to .gitignore for its packaging repository.

    In a kernel tree that hides every new file from 'git add', so a patch
    that adds a file would silently lose it.  Upstream has no such rule.
    """
    path = os.path.join(repo, ".gitignore")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return
    fixed = DEBIAN_IGNORE.sub("\n", text)
    if fixed != text:
        with open(path, "w") as f:
            f.write(fixed)


def _commit_base(repo):
    drop_debian_ignore(repo)
    git(repo, "init", "-q", "-b", "patched")
    git(repo, "config", "core.autocrlf", "false")
    _identity(repo)
    git(repo, "add", "-A", "-f", ".", what="git add of the kernel source")
    git(repo, "commit", "-q", "--no-verify", "-m", "Linux base source", env=GIT_IDENTITY)
    git(repo, "tag", BASE_TAG)
    return git(repo, "rev-parse", "HEAD")


def prepare(layout, kernel, ksrc=None):
    """Make layout.tree(kernel) a git repo whose tag 'base' is the pristine source.

    Returns the source record: where it came from and which version it is.
    """
    line = LINES[kernel]
    repo = layout.tree(kernel)
    record = read_record(layout, kernel)
    wanted_origin = os.path.abspath(ksrc) if ksrc else "debian"
    if record and record.get("origin") == wanted_origin and os.path.isdir(repo + "/.git"):
        return record
    if os.path.exists(repo):
        if record:
            raise WorkbenchError(
                f"{repo} was made from {record.get('origin')}, not {wanted_origin}. "
                f"Remove it (make clean-tree) to switch sources.")
        shutil.rmtree(repo)
    os.makedirs(os.path.dirname(repo), exist_ok=True)
    tmp = repo + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    if ksrc:
        version = kernel_version(ksrc)
        if not version or not version.startswith(line + "."):
            raise WorkbenchError(f"KSRC={ksrc} is not a Linux v{line}.x tree "
                                 f"(its Makefile says {version or 'nothing usable'}).")
        rc, _ = git(ksrc, "rev-parse", "--verify", "HEAD^{commit}", check=False)
        if rc != 0:
            raise WorkbenchError(f"KSRC={ksrc} is not a git checkout; the workbench "
                                 "applies the series with git am onto its HEAD.")
        progress("source", f"cloning your tree {ksrc} ({version})")
        # --shared borrows the user's objects: fast, and their repo is not touched.
        run(["git", "clone", "-q", "--shared", "--no-checkout", ksrc, tmp], "git clone of KSRC")
        head = git(ksrc, "rev-parse", "HEAD")
        git(tmp, "checkout", "-q", "-B", "patched", head)
        git(tmp, "tag", "-f", BASE_TAG, head)
        _identity(tmp)
        record = {"origin": wanted_origin, "version": version, "base_commit": head}
    else:
        v, tarball = fetch(layout, line)
        progress("source", f"unpacking {os.path.basename(tarball)}")
        os.makedirs(tmp)
        run(["tar", "-xJf", tarball, "-C", tmp, "--strip-components=1"],
            f"unpacking {tarball}")
        progress("source", "committing the base source (one commit, fixed identity)")
        base = _commit_base(tmp)
        record = {"origin": "debian", "package": v.package, "version": v.version,
                  "deb_sha256": v.deb_sha256, "tar_sha256": v.tar_sha256,
                  "kernel": kernel_version(tmp), "base_commit": base}
    os.replace(tmp, repo)
    write_atomic(record_path(layout, kernel), json.dumps(record, indent=2) + "\n")
    progress("source", f"{kernel}: {describe(record)}")
    return record


def describe(record):
    if record.get("origin") == "debian":
        return (f"Debian {record['package']} {record['version']} "
                f"(Linux {record['kernel']}, sha256 {record['tar_sha256'][:12]}...)")
    return f"your tree {record['origin']} (Linux {record['version']}) at {record['base_commit'][:12]}"
