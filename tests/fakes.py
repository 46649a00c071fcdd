"""A throwaway workbench around the fake kernel tree: no downloads, no real builds."""

import contextlib
import io
import os
import shutil
import subprocess
import tempfile
from unittest import mock

from wb import arches, source
from wb.layout import REPO, Layout

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake")
IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@invalid",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@invalid",
            "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
            "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}

FAKE_ARCH = arches.Arch(
    name="fake", kernel_arch="fake", cross_compile="", cross_package="gcc",
    libc_package="libc6-dev", qemu=os.path.join(FAKE, "qemu"), qemu_package="-",
    machine="virt", cpu="any", bios="", console="ttyS0", earlycon="none",
    image="arch/fake/boot/Image", fragments=("fake",),
    selftests=("dirty_log_test", "page_fault_test"))
FAKE_TARGET = arches.Target("fake", FAKE_ARCH, (), (2048,), 4, "")


def git(cwd, *args):
    return subprocess.run(["git", "-C", cwd] + list(args), check=True, capture_output=True,
                          text=True, env=dict(os.environ, **IDENTITY)).stdout.strip()


class Workbench:
    """A repo copy plus a fake kernel git tree, under one temporary directory."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="wb-test-")
        self.repo = os.path.join(self.tmp, "repo")
        self.ksrc = os.path.join(self.tmp, "linux")
        for d in ("configs", "guest", "source"):
            shutil.copytree(os.path.join(REPO, d), os.path.join(self.repo, d))
        os.makedirs(os.path.join(self.repo, "series"))
        shutil.copy(os.path.join(REPO, "series", "SERIES"), os.path.join(self.repo, "series"))
        shutil.copy(os.path.join(REPO, "known-failures"), self.repo)
        with open(os.path.join(self.repo, "configs", "fake.config"), "w") as f:
            f.write("CONFIG_FAKE=y\n")
        shutil.copytree(os.path.join(FAKE, "kernel"), self.ksrc)
        git(self.ksrc, "init", "-q", "-b", "master")
        git(self.ksrc, "add", "-A")
        git(self.ksrc, "commit", "-q", "-m", "fake v7.3.99")
        self.layout = Layout(repo=self.repo, build=os.path.join(self.tmp, "build"))
        self._patch = mock.patch.dict(arches.TARGETS, {"fake": FAKE_TARGET})
        self._patch.start()

    def close(self):
        self._patch.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def kernel_tree(self):
        return self.layout.tree("patched")

    def commit_in_tree(self, path, content, subject,
                       body="The harness's tests need a change in the series to see how make "
                            "check reports it, so this commit makes one, on purpose, here."):
        """Commit a change in the workbench's kernel tree, as a developer would."""
        full = os.path.join(self.kernel_tree, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(content)
        git(self.kernel_tree, "add", "-f", path)
        # As in the real tree: the workbench's neutral identity (see make series).
        subprocess.run(["git", "-C", self.kernel_tree, "commit", "-q", "-m",
                        f"{subject}\n\n{body}"], check=True, capture_output=True,
                       env=dict(os.environ, **source.GIT_IDENTITY))

    def write_patch(self, series, name, text):
        d = os.path.join(self.repo, "series", series)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "w") as f:
            f.write(text)


@contextlib.contextmanager
def quiet():
    """Progress lines are for people; keep test output readable."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        yield out
