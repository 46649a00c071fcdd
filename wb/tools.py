"""Tools the checks need that Debian bookworm has too old: built from Debian source.

sparse: kbuild runs scripts/checker-valid.sh before C=1 and drops sparse when
it fails.  bookworm's sparse 0.6.4 does not know __typeof_unqual__, which
7.2 uses, and sid's binary package needs a newer glibc; so the source
package of sid, fetched through the workbench's own apt state, is built
once into build/tools/ (a minute of gcc, no other build dependency).
The version is pinned with the sha256 of its .dsc, which lists the hashes
of every other source file; dpkg-source checks those when it unpacks.
"""

import glob
import os
import shutil
import tempfile

from . import source
from .errors import WorkbenchError
from .util import progress, run, sha256_file

SPARSE_VERSION = "0.6.5~rc1-2"
SPARSE_DSC_SHA256 = "3520edb07c89820367b7fd99212236aaaf7bf4034ce06fdb7718da0c7e61e076"


def checker_valid(tree, sparse):
    """Whether the kernel tree's own check accepts this sparse."""
    script = os.path.join(tree, "scripts", "checker-valid.sh")
    if not os.path.exists(script):
        return True         # kernels before 6.x have no such check
    rc, out = run(["sh", script, sparse], "checker-valid.sh", check=False)
    return rc == 0 and out.strip().endswith("1")


def _sources_list(layout, dest):
    """The workbench's apt sources, as deb-src lines."""
    with open(layout.apt_sources) as f:
        lines = [l.replace("deb ", "deb-src ", 1) if l.startswith("deb ") else l
                 for l in f]
    with open(dest, "w") as f:
        f.writelines(lines)


def _apt_src_options(layout, sources):
    return source.apt_options(layout, sources, layout.path("apt", "src"))


def build_sparse(layout):
    """build/tools/sparse-<version>/sparse, built from Debian's source package."""
    tools = layout.path("tools")
    built = sorted(glob.glob(os.path.join(tools, "sparse-*", "sparse")))
    if built:
        return built[-1]
    os.makedirs(tools, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=tools, prefix=".sparse.")
    log = os.path.join(tools, "sparse-build.log")
    try:
        sources = os.path.join(tmp, "sources.list")
        _sources_list(layout, sources)
        opts = _apt_src_options(layout, sources)
        progress("tools", "sparse: fetching Debian's source package (bookworm's is too old)")
        run(["apt-get", "-q"] + opts + ["update"], "apt-get update (deb-src)", log=log)
        rc, _ = run(["apt-get", "-q"] + opts
                    + ["source", "--download-only", f"sparse={SPARSE_VERSION}"],
                    "apt-get source sparse", log=log, cwd=tmp, check=False)
        dsc = glob.glob(os.path.join(tmp, "sparse_*.dsc"))
        if rc or not dsc:
            raise WorkbenchError(
                f"the mirror no longer offers the source of sparse {SPARSE_VERSION}, "
                f"which wb/tools.py pins; see {log}. Pin the version the mirror has, "
                "with the sha256 of its .dsc.")
        actual = sha256_file(dsc[0])
        if actual != SPARSE_DSC_SHA256:
            raise WorkbenchError(
                f"sha256 mismatch for {os.path.basename(dsc[0])}: expected "
                f"{SPARSE_DSC_SHA256}, got {actual}. wb/tools.py or the mirror is "
                "wrong; nothing was built.")
        run(["dpkg-source", "-x", os.path.basename(dsc[0]), "src"], "dpkg-source -x",
            log=log, cwd=tmp)
        version = os.path.basename(dsc[0])[len("sparse_"):-len(".dsc")]
        progress("tools", f"sparse: building {version}")
        # The package pins sid's compiler (CC=gcc-16); any C compiler will do.
        # apt-get source has checked the files against the signed index.
        run(["make", "-C", os.path.join(tmp, "src"), "sparse", "CC=gcc", "HAVE_LLVM=no",
             "HAVE_SQLITE=no", "HAVE_LIBXML=no", "HAVE_GTK=no"], "make sparse", log=log)
        dest = os.path.join(tools, f"sparse-{version}")
        os.makedirs(dest, exist_ok=True)
        shutil.copy2(os.path.join(tmp, "src", "sparse"), os.path.join(dest, "sparse"))
        return os.path.join(dest, "sparse")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sparse(layout, tree):
    """(path to a sparse the tree accepts, or None; why not)."""
    system = shutil.which("sparse")
    if system and checker_valid(tree, system):
        return system, ""
    try:
        path = build_sparse(layout)
    except WorkbenchError as e:
        return None, f"no sparse this kernel accepts: building Debian's failed ({e})"
    if not checker_valid(tree, path):
        return None, f"{path} is rejected by scripts/checker-valid.sh too"
    return path, ""
