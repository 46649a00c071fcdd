"""Dependencies: what the workbench needs from Debian, installed on first use.

Two sources: the system's own apt sources (bookworm) for compilers and
build tools, and bookworm-backports, through the workbench's own apt state
under build/apt/tools, for QEMU 10 and OpenSBI 1.5, pinned by version and
sha256 in source/tools-versions.  The system's apt sources are not touched.

preflight() names every program that is still missing, with its package,
before a long stage starts.
"""

import glob
import os
import shutil
import subprocess

from . import source
from .arches import ARCHES
from .errors import WorkbenchError
from .layout import Layout
from .util import progress, read_table, sha256_file

# command -> Debian package: every program the harness or kbuild runs.
# tests/test_setup.py fails when the harness runs a program missing here.
COMMON = {
    "make": "make", "gcc": "gcc", "git": "git", "flex": "flex", "bison": "bison",
    "bc": "bc", "xz": "xz-utils", "dpkg-deb": "dpkg", "apt-get": "apt",
    "apt-cache": "apt", "ccache": "ccache", "perl": "perl", "cpio": "cpio",
    "tar": "tar", "gzip": "gzip",
    # kbuild's headers_install (the selftests' uapi headers) copies with rsync
    "rsync": "rsync",
    # kbuild: scripts/ tools and the image
    "openssl": "openssl", "python3": "python3",
    # make check's W=1/C=1 stage (wb/warn.py), and the sparse it builds
    # from Debian's source package when the system's is too old (wb/tools.py)
    "sparse": "sparse", "dpkg-source": "dpkg-dev",
}
# Programs of Debian's Essential packages (dpkg, tar, dash, gzip, ...):
# on every Debian system, so setup need not install them.
ESSENTIAL = ("sh", "tar", "dpkg-query", "dpkg-deb", "gzip", "sed", "grep", "find")
# What kbuild itself runs for the targets the workbench builds (Image,
# headers_install, the selftests, checkpatch), beyond the compilers.
KBUILD_PROGRAMS = ("make", "bc", "flex", "bison", "perl", "rsync", "cpio", "xz", "openssl",
                   "python3", "tar", "gzip")
HEADERS = {"/usr/include/openssl/ssl.h": "libssl-dev", "/usr/include/libelf.h": "libelf-dev",
           # the bisect stage's static x86_64 KVM selftests (arches.HOST_SELFTESTS)
           "/usr/lib/x86_64-linux-gnu/libc.a": "libc6-dev",
           # and their vfio library (7.3), built into every x86_64 KVM selftest
           "/usr/include/uuid/uuid.h": "uuid-dev"}

TOOLS_SUITE = "bookworm-backports"


def required(arches=None):
    """{command: package} of the programs setup provides from the system's apt."""
    need = dict(COMMON)
    for arch in (arches or ARCHES.values()):
        need[arch.cross_compile + "gcc"] = arch.cross_package
    return need


def missing(arches=None):
    pkgs = {pkg for cmd, pkg in required(arches).items() if not shutil.which(cmd)}
    pkgs |= {pkg for path, pkg in HEADERS.items() if not os.path.exists(path)}
    for arch in (arches or ARCHES.values()):
        if arch.native:
            continue            # HEADERS has the host's libc
        libc = f"/usr/{arch.cross_compile.rstrip('-')}/lib/libc.a"
        if not os.path.exists(libc):
            pkgs.add(arch.libc_package)
    return sorted(pkgs)


# --- QEMU and OpenSBI from bookworm-backports, pinned ----------------------

def pinned_tools(layout):
    """[(package, version, sha256)] from source/tools-versions."""
    path = os.path.join(layout.repo, "source", "tools-versions")
    rows = [tuple(f) for _, f in read_table(path, 3, "PACKAGE VERSION SHA256")]
    if not rows:
        raise WorkbenchError(f"{path} lists no emulator package; it pins QEMU and OpenSBI.")
    return rows


def installed_version(package):
    proc = subprocess.run(["dpkg-query", "-W", "-f", "${Status} ${Version}", package],
                          capture_output=True, text=True)
    fields = proc.stdout.split()
    if proc.returncode or fields[:3] != ["install", "ok", "installed"]:
        return None
    return fields[3] if len(fields) > 3 else None


def stale_tools(layout):
    """The pinned packages not installed at their pinned version."""
    return [(p, v, h) for p, v, h in pinned_tools(layout) if installed_version(p) != v]


def tools_apt_options(layout):
    return source.apt_options(layout, os.path.join(layout.repo, "source", "apt-tools.list"),
                              layout.path("apt", "tools"), install=True)


def _apt(step, what):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(step, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if proc.returncode:
        raise WorkbenchError(f"{what} failed (exit {proc.returncode}).\n"
                             + (proc.stdout + proc.stderr).strip()[-1500:])
    return proc.stdout


def install_tools(layout, stale):
    """Download the pinned .debs, check their sha256, install exactly them."""
    opts = tools_apt_options(layout)
    progress("setup", f"QEMU/OpenSBI: updating the project-local apt lists ({TOOLS_SUITE})")
    try:
        _apt(["apt-get", "-q"] + opts + ["update"], "apt-get update")
    except WorkbenchError as e:
        raise WorkbenchError(
            f"could not read {TOOLS_SUITE}, where QEMU 10 and OpenSBI 1.5 come from: "
            f"is the Debian mirror reachable?\n{e}") from None
    pins = pinned_tools(layout)
    offered = _apt(["apt-cache"] + opts + ["policy"] + [p for p, _, _ in pins],
                   "apt-cache policy")
    gone = [f"{p} {v}" for p, v, _ in pins if f" {v} " not in offered + " "]
    if gone:
        raise WorkbenchError(
            f"{TOOLS_SUITE} no longer offers {', '.join(gone)}. The workbench installs "
            "only the emulator versions pinned in source/tools-versions: verify the "
            "newer ones (download, sha256) and pin them there.")
    archives = layout.path("apt", "tools", "cache", "archives")
    progress("setup", "QEMU/OpenSBI: downloading " + ", ".join(f"{p} {v}" for p, v, _ in stale))
    _apt(["apt-get", "-q", "-y", "--download-only", "--no-install-recommends"] + opts
         + ["install"] + [f"{p}={v}" for p, v, _ in pins], "apt-get install --download-only")
    debs = []
    for p, v, h in pins:
        found = glob.glob(os.path.join(archives, f"{p}_*.deb"))
        found = [f for f in found if v.split(":")[-1] in f.replace("%3a", ":")]
        if len(found) != 1:
            raise WorkbenchError(f"apt downloaded no single .deb of {p} {v} into {archives}")
        actual = sha256_file(found[0])
        if actual != h:
            os.unlink(found[0])
            raise WorkbenchError(
                f"sha256 mismatch for {os.path.basename(found[0])}: expected {h}, got "
                f"{actual}. The file was discarded; source/tools-versions or the mirror "
                "is wrong, and the workbench will not install it.")
        debs.append(found[0])
    progress("setup", "QEMU/OpenSBI: installing the pinned packages")
    _apt(["apt-get", "-q", "-y", "--no-install-recommends"] + opts + ["install"] + debs,
         "apt-get install of the pinned QEMU/OpenSBI")


def ensure(arches=None, install=True, layout=None):
    layout = layout or Layout.from_env()
    pkgs = missing(arches)
    stale = stale_tools(layout)
    if not pkgs and not stale:
        return
    if not install or os.geteuid() != 0:
        lines = []
        if pkgs:
            lines.append("  sudo apt-get update && sudo apt-get install "
                         "--no-install-recommends " + " ".join(pkgs))
        if stale:
            lines.append("  sudo make setup   # QEMU/OpenSBI from bookworm-backports: "
                         + ", ".join(f"{p}={v}" for p, v, _ in stale))
        raise WorkbenchError(
            "missing packages: " + " ".join(pkgs + [p for p, _, _ in stale]) + ".",
            "Install them (as root) with:\n" + "\n".join(lines))
    if pkgs:
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + pkgs
        progress("setup", f"installing {' '.join(pkgs)}")
        _apt(["apt-get", "update", "-q"], "apt-get update")
        _apt(cmd, f"'{' '.join(cmd)}'")
    if stale:
        install_tools(layout, stale)
    preflight(arches, layout)


def preflight(arches=None, layout=None):
    """Fail now, naming program and package, if anything is still missing."""
    layout = layout or Layout.from_env()
    gone = [f"{cmd} ({pkg})" for cmd, pkg in sorted(required(arches).items())
            if not shutil.which(cmd)]
    gone += [f"{path} ({pkg})" for path, pkg in sorted(HEADERS.items())
             if not os.path.exists(path)]
    for arch in (arches or ARCHES.values()):
        if arch.qemu and not shutil.which(arch.qemu):
            gone.append(f"{arch.qemu} ({arch.qemu_package} from {TOOLS_SUITE})")
    stale = [f"{p} {v} (installed: {installed_version(p) or 'none'})"
             for p, v, _ in stale_tools(layout)]
    if gone or stale:
        raise WorkbenchError(
            "still missing after setup: " + ", ".join(gone + stale) + ".",
            "Run 'make setup' as root; it installs each of these from Debian.")
