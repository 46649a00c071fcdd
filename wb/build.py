"""Stage 3, build: kernels per variant and static KVM selftests per arch.

A variant is TARGET-KERNEL[+OVERLAY...], e.g. arm64-4k-patched or
riscv64-base+debug.  Its config is allnoconfig plus the fragments in configs/,
and every option a fragment asks for must survive olddefconfig, so a typo or
an unmet dependency fails the build instead of silently testing less.
"""

import hashlib
import os
import re
import shutil
from dataclasses import dataclass

from .arches import KERNELS, OVERLAYS, target as get_target
from .errors import WorkbenchError
from .source import git
from .util import progress, run, write_atomic

OPTION = re.compile(r"^(CONFIG_\w+)=(.*)$|^# (CONFIG_\w+) is not set$")


@dataclass(frozen=True)
class Variant:
    target: object
    kernel: str
    overlays: tuple = ()

    @property
    def name(self):
        return "+".join((f"{self.target.name}-{self.kernel}",) + self.overlays)

    @property
    def config(self):
        """The variant without its kernel: what its object directory is named by."""
        return "+".join((self.target.name,) + self.overlays)

    def out(self, layout):
        return layout.out(self.kernel, self.config)

    @property
    def arch(self):
        return self.target.arch

    def fragments(self, layout):
        """common, the arch's, the target's, then each overlay's, and the
        overlay's arch-specific part (configs/OVERLAY-ARCH.config) if any."""
        frags = ("common",) + self.arch.fragments + self.target.fragments
        for overlay in self.overlays:
            frags += OVERLAYS[overlay]
            arch_part = f"{overlay}-{self.arch.name}"
            if os.path.exists(os.path.join(layout.configs, arch_part + ".config")):
                frags += (arch_part,)
        return frags


def parse_variant(name):
    """'arm64-4k-patched+debug' -> Variant."""
    head, *overlays = name.split("+")
    tname, _, kernel = head.rpartition("-")
    if kernel not in KERNELS:
        raise WorkbenchError(f"variant '{name}': the kernel must be one of "
                             f"{', '.join(KERNELS)} (e.g. arm64-4k-patched)")
    for o in overlays:
        if o not in OVERLAYS:
            raise WorkbenchError(f"variant '{name}': unknown overlay '{o}'; "
                                 f"known: {', '.join(OVERLAYS)}")
    return Variant(get_target(tname), kernel, tuple(overlays))


def make_env(layout):
    env = {"KBUILD_BUILD_TIMESTAMP": "1970-01-01", "KBUILD_BUILD_USER": "wb",
           "KBUILD_BUILD_HOST": "wb", "CCACHE_BASEDIR": layout.build,
           "CCACHE_NOHASHDIR": "1"}
    return env


def make_args(variant, out):
    arch = variant.arch
    args = [f"O={out}", f"ARCH={arch.kernel_arch}", f"CROSS_COMPILE={arch.cross_compile}"]
    if shutil.which("ccache"):
        args.append(f"CC=ccache {arch.cross_compile}gcc")
    return args


def wanted_options(layout, fragments):
    """{CONFIG_X: value} that the fragments ask for ('n' for 'is not set')."""
    wanted = {}
    for frag in fragments:
        path = os.path.join(layout.configs, frag + ".config")
        try:
            with open(path) as f:
                for text in f:
                    m = OPTION.match(text.strip())
                    if m and m.group(1):
                        wanted[m.group(1)] = m.group(2)
                    elif m:
                        wanted[m.group(3)] = "n"
        except FileNotFoundError:
            raise WorkbenchError(f"config fragment {path} is missing") from None
    return wanted


def read_config(path):
    got = {}
    with open(path) as f:
        for text in f:
            m = OPTION.match(text.strip())
            if m and m.group(1):
                got[m.group(1)] = m.group(2)
    return got


def configure(layout, variant, out=None, track_head=True):
    """Write and check the variant's .config in out (its O= directory by default).

    The config is redone when the fragments change and, with track_head,
    when the tree's HEAD moves (its Kconfig may have changed).  The bisect
    tree moves HEAD at every patch: there kbuild's own syncconfig takes in
    Kconfig changes, and the fragments are checked on patched anyway.
    """
    tree, out = layout.tree(variant.kernel), out or variant.out(layout)
    fragments = variant.fragments(layout)
    frag_paths = [os.path.join(layout.configs, f + ".config") for f in fragments]
    wanted = wanted_options(layout, fragments)
    stamp = hashlib.sha256()
    for p in frag_paths:
        with open(p, "rb") as f:
            stamp.update(f.read())
    if track_head:
        stamp.update(git(tree, "rev-parse", "HEAD").encode())
    stamp_path = os.path.join(out, ".wb-config")
    try:
        with open(stamp_path) as f:
            if f.read() == stamp.hexdigest():
                return
    except FileNotFoundError:
        pass
    os.makedirs(out, exist_ok=True)
    log = os.path.join(out, "config.log")
    if os.path.exists(log):
        os.unlink(log)
    progress("build", f"{variant.name}: configuring ({' + '.join(fragments)})")
    args = make_args(variant, out)
    env = make_env(layout)
    run(["make", "-C", tree] + args + ["allnoconfig"], f"{variant.name}: allnoconfig",
        log=log, env=env)
    run([os.path.join(tree, "scripts/kconfig/merge_config.sh"), "-n", "-m", "-O", out,
         os.path.join(out, ".config")] + frag_paths,
        f"{variant.name}: merge_config.sh", log=log, env=env, cwd=tree)
    run(["make", "-C", tree] + args + ["olddefconfig"], f"{variant.name}: olddefconfig",
        log=log, env=env)
    got = read_config(os.path.join(out, ".config"))
    lost = [f"{k}={v} (got {got.get(k, 'n')})" for k, v in wanted.items()
            if got.get(k, "n") != v]
    if lost:
        raise WorkbenchError(
            f"{variant.name}: config options from the fragments did not survive "
            f"olddefconfig (an unmet dependency or a typo): {'; '.join(lost)}. "
            f"Config: {out}/.config")
    write_atomic(stamp_path, stamp.hexdigest())


def build_kernel(layout, variant, jobs, track_head=True):
    """Configure and build one variant; return the image path."""
    tree = layout.tree(variant.kernel)
    if not os.path.isdir(tree):
        raise WorkbenchError(f"{tree} does not exist; run 'make tree' first")
    configure(layout, variant, track_head=track_head)
    out = variant.out(layout)
    log = os.path.join(out, "build.log")
    if os.path.exists(log):
        os.unlink(log)
    progress("build", f"{variant.name}: building {os.path.basename(variant.arch.image)} "
             f"(-j{jobs}, log {os.path.relpath(log)})")
    run(["make", "-C", tree, f"-j{jobs}"] + make_args(variant, out)
        + [os.path.basename(variant.arch.image)],
        f"building {variant.name}", log=log, env=make_env(layout))
    image = os.path.join(out, variant.arch.image)
    if not os.path.exists(image):
        raise WorkbenchError(f"building {variant.name} produced no {image}. Log: {log}")
    return image


def build_selftests(layout, kernel, arch, jobs, extra=(), only=None, ccache=False):
    """Static KVM selftests of one source tree, for one arch: {name: path}.

    only: build these tests instead of the arch's list; ccache: compile
    through ccache (the bisect stage rebuilds the same states again and again).
    """
    tree = layout.tree(kernel)
    out = layout.selftests(kernel, arch.name)
    hdr = os.path.join(out, "headers")
    log = os.path.join(out, "build.log")
    os.makedirs(out, exist_ok=True)
    if os.path.exists(log):
        os.unlink(log)
    tests = (tuple(arch.selftests) if only is None else tuple(only)) + tuple(extra)
    progress("build", f"selftests ({kernel} tree, {arch.name}): {len(tests)} tests")
    run(["make", "-C", tree, f"O={os.path.join(out, 'obj')}", f"ARCH={arch.kernel_arch}",
         f"INSTALL_HDR_PATH={hdr}", "headers_install"],
        f"headers_install for {arch.name}", log=log, env=make_env(layout))
    kvm = os.path.join(tree, "tools/testing/selftests/kvm")
    run(["make", "-C", kvm, f"-j{jobs}", f"ARCH={arch.kernel_arch}",
         f"CROSS_COMPILE={arch.cross_compile}", f"OUTPUT={out}",
         f"KHDR_INCLUDES=-isystem {hdr}/include", "EXTRA_CFLAGS=-static -Werror"]
        + ([f"CC=ccache {arch.cross_compile}gcc"] if ccache and shutil.which("ccache") else [])
        + [os.path.join(out, t) for t in tests],
        f"building the {arch.name} KVM selftests", log=log, env=make_env(layout))
    return {os.path.basename(t): os.path.join(out, t) for t in tests}
