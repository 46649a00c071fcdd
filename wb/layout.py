"""Where each stage keeps its files.  Everything generated lives under build/."""

import os
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Layout:
    repo: str
    build: str

    @classmethod
    def from_env(cls):
        repo = os.environ.get("WB_REPO", REPO)
        return cls(repo=repo, build=os.path.abspath(
            os.environ.get("WB_BUILD", os.path.join(repo, "build"))))

    # In the repo
    @property
    def series(self):
        return os.path.join(self.repo, "series")

    @property
    def configs(self):
        return os.path.join(self.repo, "configs")

    @property
    def versions(self):
        return os.path.join(self.repo, "source", "versions")

    @property
    def apt_sources(self):
        return os.path.join(self.repo, "source", "apt-sources.list")

    @property
    def guest(self):
        return os.path.join(self.repo, "guest")

    # Under build/
    def path(self, *parts):
        return os.path.join(self.build, *parts)

    @property
    def downloads(self):
        return self.path("downloads")

    @property
    def apt(self):
        return self.path("apt")

    def tree(self, kernel):
        """Source checkout of a kernel: 'patched' is the git repo you commit in."""
        return self.path("tree", kernel)

    def out(self, kernel, config):
        """Kbuild's O= for a config of a kernel: a direct child of its source.

        Kbuild then names the source '..', so compiler command lines are the
        same in every tree and ccache hits across base, patched and ref for
        every file the series does not touch.
        """
        return os.path.join(self.tree(kernel), f".out-{config}")

    def selftests(self, kernel, arch):
        return self.path("selftests", f"{kernel}-{arch}")

    def runs(self, *parts):
        return self.path("runs", *parts)
