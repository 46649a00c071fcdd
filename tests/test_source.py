import os
import stat
import unittest

from tests.fakes import Workbench, git, quiet
from wb import source
from wb.errors import WorkbenchError


class VersionsTest(unittest.TestCase):
    def setUp(self):
        self.wb = Workbench()

    def tearDown(self):
        self.wb.close()

    def test_repo_versions_have_both_hashes(self):
        versions = source.accepted_versions(self.wb.layout, "7.2")
        self.assertEqual(versions[0].version, "7.2.13-1")
        self.assertTrue(all(len(v.deb_sha256) == 64 and len(v.tar_sha256) == 64
                            for v in versions))
        self.assertEqual(source.accepted_versions(self.wb.layout, "7.3")[0].line, "7.3")

    def test_a_frozen_mirrors_expired_release_is_read(self):
        # A fresh machine met this: the mirror's sid Release was weeks past
        # its Valid-Until and apt-get update refused it.  The sha256 pins
        # are what the workbench trusts, so expiry is not checked.
        opts = source.apt_options(self.wb.layout)
        self.assertIn("Acquire::Check-Valid-Until=false", opts)

    def test_sparse_source_is_pinned(self):
        from wb import tools
        self.assertRegex(tools.SPARSE_DSC_SHA256, "^[0-9a-f]{64}$")
        self.assertTrue(tools.SPARSE_VERSION)

    def test_malformed_versions_line_is_named(self):
        with open(self.wb.layout.versions, "a") as f:
            f.write("7.2 7.2.14-1 nothex\n")
        with self.assertRaisesRegex(WorkbenchError, r"versions:\d+: expected"):
            source.accepted_versions(self.wb.layout, "7.2")

    def _fake_apt(self, deb_content):
        """An apt-get on PATH that offers 7.2.13-1 and 'downloads' deb_content."""
        bindir = os.path.join(self.wb.tmp, "bin")
        os.makedirs(bindir, exist_ok=True)
        script = os.path.join(bindir, "apt-get")
        with open(script, "w") as f:
            f.write("#!/bin/sh\n"
                    'for a; do last=$a; done\n'
                    'case "$last" in\n'
                    '  update) exit 0;;\n'
                    f'  linux-source-7.2=7.2.13-1) {deb_content};;\n'
                    '  *) echo "E: Version not found" >&2; exit 100;;\n'
                    'esac\n')
        os.chmod(script, stat.S_IRWXU)
        madison = os.path.join(bindir, "apt-cache")
        with open(madison, "w") as f:
            f.write("#!/bin/sh\necho ' linux-source-7.2 | 7.2.13-1 | http://x sid/main'\n")
        os.chmod(madison, stat.S_IRWXU)
        return {"PATH": bindir + os.pathsep + os.environ["PATH"]}

    def test_sha256_mismatch_is_fatal_and_leaves_nothing(self):
        env = self._fake_apt("echo tampered > linux-source-7.2_7.2.13-1_all.deb")
        with unittest.mock.patch.dict(os.environ, env), quiet():
            with self.assertRaisesRegex(WorkbenchError, "sha256 mismatch for "
                                        "linux-source-7.2_7.2.13-1_all.deb"):
                source.fetch(self.wb.layout, "7.2")
        self.assertEqual(os.listdir(self.wb.layout.downloads), [])

    def test_download_failure_is_reported(self):
        env = self._fake_apt("echo 'E: Failed to fetch' >&2; exit 100")
        with unittest.mock.patch.dict(os.environ, env), quiet():
            with self.assertRaisesRegex(WorkbenchError, "(?s)downloading linux-source-7.2 "
                                        "7.2.13-1 failed.*Failed to fetch"):
                source.fetch(self.wb.layout, "7.2")

    def test_no_accepted_version_on_the_mirror(self):
        env = self._fake_apt("exit 1")
        with open(os.path.join(self.wb.tmp, "bin", "apt-cache"), "w") as f:
            f.write("#!/bin/sh\necho ' linux-source-7.2 | 7.2.99-1 | http://x sid/main'\n")
        with unittest.mock.patch.dict(os.environ, env), quiet():
            with self.assertRaisesRegex(WorkbenchError, "(?s)none of the accepted "
                                        "linux-source-7.2 versions is available.*7.2.99-1"):
                source.fetch(self.wb.layout, "7.2")


class DebianIgnoreTest(unittest.TestCase):
    def test_packaging_rule_that_hides_new_files_is_dropped(self):
        import tempfile
        tmp = tempfile.mkdtemp()
        self.addCleanup(__import__("shutil").rmtree, tmp)
        upstream = "*.o\n# bc language scripts (not LLVM bitcode)\n!kernel/time/timeconst.bc\n"
        with open(os.path.join(tmp, ".gitignore"), "w") as f:
            f.write(upstream + "\n#\n# Debian packaging: ignore everything at the top level, "
                    "since it isn't\n# included in our repository\n#\n/*\n!/debian/\n")
        source.drop_debian_ignore(tmp)
        with open(os.path.join(tmp, ".gitignore")) as f:
            self.assertEqual(f.read(), upstream + "\n")


class KsrcTest(unittest.TestCase):
    def setUp(self):
        self.wb = Workbench()

    def tearDown(self):
        self.wb.close()

    def test_own_tree_becomes_base(self):
        with quiet():
            record = source.prepare(self.wb.layout, "patched", self.wb.ksrc)
        self.assertEqual(record["version"], "7.3.99")
        self.assertEqual(git(self.wb.kernel_tree, "rev-parse", "base"),
                         git(self.wb.ksrc, "rev-parse", "HEAD"))

    def test_wrong_version_is_refused(self):
        mk = os.path.join(self.wb.ksrc, "Makefile")
        with open(mk) as f:
            text = f.read()
        with open(mk, "w") as f:
            f.write(text.replace("PATCHLEVEL = 3", "PATCHLEVEL = 2"))
        with self.assertRaisesRegex(WorkbenchError, "is not a Linux v7.3.x tree.*7.2.99"):
            source.prepare(self.wb.layout, "patched", self.wb.ksrc)

    def test_not_a_git_tree_is_refused(self):
        import shutil
        shutil.rmtree(os.path.join(self.wb.ksrc, ".git"))
        with self.assertRaisesRegex(WorkbenchError, "is not a git checkout"):
            source.prepare(self.wb.layout, "patched", self.wb.ksrc)


if __name__ == "__main__":
    unittest.main()
