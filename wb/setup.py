"""Dependencies: what the workbench needs from Debian, installed on first use."""

import os
import shutil
import subprocess

from .arches import ARCHES
from .errors import WorkbenchError
from .util import progress

# command -> Debian package; per-arch rows come from the arch table.
COMMON = {
    "make": "make", "gcc": "gcc", "git": "git", "flex": "flex", "bison": "bison",
    "bc": "bc", "xz": "xz-utils", "dpkg-deb": "dpkg", "apt-get": "apt",
    "ccache": "ccache", "perl": "perl", "cpio": "cpio",
    # make check's W=1/C=1 stage (wb/warn.py)
    "sparse": "sparse",
}
HEADERS = {"/usr/include/openssl/ssl.h": "libssl-dev", "/usr/include/libelf.h": "libelf-dev",
           # the bisect stage's static x86_64 KVM selftests (arches.HOST_SELFTESTS)
           "/usr/lib/x86_64-linux-gnu/libc.a": "libc6-dev"}


def required(arches=None):
    need = dict(COMMON)
    for arch in (arches or ARCHES.values()):
        need[arch.cross_compile + "gcc"] = arch.cross_package
        need[arch.qemu] = arch.qemu_package
    return need


def missing(arches=None):
    pkgs = {pkg for cmd, pkg in required(arches).items() if not shutil.which(cmd)}
    pkgs |= {pkg for path, pkg in HEADERS.items() if not os.path.exists(path)}
    for arch in (arches or ARCHES.values()):
        libc = f"/usr/{arch.cross_compile.rstrip('-')}/lib/libc.a"
        if not os.path.exists(libc):
            pkgs.add(arch.libc_package)
    return sorted(pkgs)


def ensure(arches=None, install=True):
    pkgs = missing(arches)
    if not pkgs:
        return
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + pkgs
    if not install or os.geteuid() != 0:
        raise WorkbenchError(
            f"missing packages: {' '.join(pkgs)}.",
            "Install them with:\n  sudo apt-get update && sudo " + " ".join(cmd))
    progress("setup", f"installing {' '.join(pkgs)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for step in (["apt-get", "update", "-q"], cmd):
        proc = subprocess.run(step, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode:
            raise WorkbenchError(f"'{' '.join(step)}' failed (exit {proc.returncode}); "
                                 f"could not install {' '.join(pkgs)}.\n"
                                 + (proc.stdout + proc.stderr).strip()[-1500:])
    still = missing(arches)
    if still:
        raise WorkbenchError(f"still missing after apt-get install: {' '.join(still)}")
