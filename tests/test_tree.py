import contextlib
import glob
import io
import os
import unittest
import unittest.mock

from tests.fakes import Workbench, git, quiet
from wb import source, tree
from wb.errors import WorkbenchError


def read_series(root):
    out = {}
    for p in sorted(glob.glob(os.path.join(root, "*", "*.patch"))):
        with open(p, "rb") as f:
            out[os.path.relpath(p, root)] = f.read()
    return out


class TreeTest(unittest.TestCase):
    def setUp(self):
        self.wb = Workbench()
        with quiet():
            source.prepare(self.wb.layout, "patched", self.wb.ksrc)
            tree.apply(self.wb.layout)

    def tearDown(self):
        self.wb.close()

    def _two_series(self):
        self.wb.commit_in_tree("tools/testing/selftests/kvm/new_test.c", "int x;\n",
                               "KVM: selftests: Add a test")
        self.wb.commit_in_tree("arch/arm64/kvm/hyp/pgtable.c", "/* walker */\n",
                               "KVM: arm64: Teach the walker a trick")

    def test_empty_series_is_base(self):
        self.assertEqual(git(self.wb.kernel_tree, "rev-parse", "HEAD"),
                         git(self.wb.kernel_tree, "rev-parse", "base"))
        self.assertTrue(os.path.isdir(self.wb.layout.tree("base")))

    def test_apply_then_export_is_byte_identical(self):
        self._two_series()
        with quiet():
            tree.export(self.wb.layout)
            first = read_series(self.wb.layout.series)
            tree.apply(self.wb.layout)
            tree.export(self.wb.layout)
        # A lone patch with no cover file goes without a cover letter.
        self.assertEqual(sorted(first), ["arm64/0001-KVM-arm64-Teach-the-walker-a-trick.patch",
                                         "selftests/0001-KVM-selftests-Add-a-test.patch"])
        self.assertEqual(read_series(self.wb.layout.series), first)

    def test_cover_letter_comes_from_the_cover_file(self):
        self._two_series()
        self.wb.write_patch("arm64", "cover", "KVM: arm64: Faster splits\n\nWhy it matters.\n")
        with quiet():
            tree.export(self.wb.layout)
        with open(os.path.join(self.wb.repo, "series", "arm64",
                               "0000-cover-letter.patch")) as f:
            cover = f.read()
        self.assertIn("Subject: [PATCH 0/1] KVM: arm64: Faster splits", cover)
        self.assertIn("Why it matters.", cover)

    def test_unapplicable_patch_names_patch_and_file(self):
        self.wb.write_patch("arm64", "0001-broken.patch", BROKEN_PATCH)
        with quiet(), self.assertRaisesRegex(
                WorkbenchError, r"patch .*series/arm64/0001-broken.patch does not apply: "
                                r"Makefile"):
            tree.apply(self.wb.layout)
        # The failed git am was aborted: the tree is usable again.
        self.assertEqual(git(self.wb.kernel_tree, "status", "--porcelain",
                             "--untracked-files=no"), "")

    def test_unexported_commits_are_not_thrown_away(self):
        self._two_series()
        head = git(self.wb.kernel_tree, "rev-parse", "HEAD")
        with quiet(), self.assertRaisesRegex(WorkbenchError, "commits that are not exported"):
            tree.apply(self.wb.layout)
        # Refused, and the tree still holds them, checked out as they were.
        self.assertEqual(git(self.wb.kernel_tree, "rev-parse", "HEAD"), head)
        self.assertEqual(git(self.wb.kernel_tree, "log", "--format=%s", "base..HEAD"),
                         "KVM: arm64: Teach the walker a trick\nKVM: selftests: Add a test")
        with quiet():
            tree.apply(self.wb.layout, force=True)
        self.assertEqual(git(self.wb.kernel_tree, "rev-parse", "HEAD"),
                         git(self.wb.kernel_tree, "rev-parse", "base"))

    def test_edited_series_is_not_mistaken_for_unexported_work(self):
        self._two_series()
        with quiet():
            tree.export(self.wb.layout)
        os.unlink(glob.glob(os.path.join(self.wb.layout.series, "arm64", "0001-*"))[0])
        with quiet():
            self.assertEqual(tree.apply(self.wb.layout), 1)

    def test_failed_am_leaves_base_and_a_fixed_series_applies(self):
        self.wb.write_patch("arm64", "0001-broken.patch", BROKEN_PATCH)
        with quiet(), self.assertRaises(WorkbenchError):
            tree.apply(self.wb.layout)
        self.assertEqual(git(self.wb.kernel_tree, "rev-parse", "HEAD"),
                         git(self.wb.kernel_tree, "rev-parse", "base"))
        os.unlink(os.path.join(self.wb.layout.series, "arm64", "0001-broken.patch"))
        with quiet():
            self.assertEqual(tree.apply(self.wb.layout), 0)

    def test_users_git_config_does_not_change_the_export(self):
        self._two_series()
        with quiet():
            tree.export(self.wb.layout)
        first = read_series(self.wb.layout.series)
        gitconfig = os.path.join(self.wb.tmp, "gitconfig")
        with open(gitconfig, "w") as f:
            f.write("[format]\n\tthread = shallow\n\tsubjectPrefix = RFC\n"
                    "[diff]\n\talgorithm = patience\n\tnoprefix = true\n")
        with unittest.mock.patch.dict(os.environ, {"GIT_CONFIG_GLOBAL": gitconfig}), quiet():
            tree.apply(self.wb.layout)
            tree.export(self.wb.layout)
        self.assertEqual(read_series(self.wb.layout.series), first)

    def test_commit_without_a_known_prefix_is_refused(self):
        self.wb.commit_in_tree("README", "x\n", "Fix a typo")
        with self.assertRaisesRegex(WorkbenchError, "matches no series prefix"):
            tree.export(self.wb.layout)

    def test_interleaved_series_are_refused(self):
        self._two_series()
        self.wb.commit_in_tree("tools/testing/selftests/kvm/other.c", "int y;\n",
                               "KVM: selftests: Another test")
        with self.assertRaisesRegex(WorkbenchError, "not contiguous"):
            tree.export(self.wb.layout)

    # An experiment kernel: 'patched' plus patches kept out of the series.
    def _leafonly_branch(self):
        """A series commit, and branch 'leafonly' with one commit on it."""
        repo = self.wb.kernel_tree
        self.wb.commit_in_tree("arch/arm64/kvm/hyp/pgtable.c", "/* walker */\n",
                               "KVM: arm64: Teach the walker a trick")
        git(repo, "checkout", "-q", "-b", "leafonly")
        self.wb.commit_in_tree("arch/arm64/kvm/hyp/pgtable.c", "/* walker, leaf only */\n",
                               "KVM: arm64: Try a second trick")
        git(repo, "checkout", "-q", "patched")
        return repo

    def test_experiment_is_exported_apart_and_rebuilt_on_the_series(self):
        from wb.arches import EXPERIMENTS
        repo = self._leafonly_branch()
        with quiet():
            tree.export(self.wb.layout)
        exp = os.path.join(self.wb.repo, "series", EXPERIMENTS["leafonly"].directory)
        self.assertEqual(os.listdir(exp), ["0001-KVM-arm64-Try-a-second-trick.patch"])
        # Not part of any series: what is sent and linted stays the same.
        self.assertNotIn("experiments/arm64-leaf-only/0001-KVM-arm64-Try-a-second-trick.patch",
                         read_series(os.path.join(self.wb.repo, "series")))
        git(repo, "branch", "-D", "leafonly")
        with quiet():
            wt = tree.ensure_experiment(self.wb.layout, "leafonly")
        with open(os.path.join(wt, "arch/arm64/kvm/hyp/pgtable.c")) as f:
            self.assertEqual(f.read(), "/* walker, leaf only */\n")
        self.assertEqual(git(wt, "rev-parse", "HEAD^"), git(repo, "rev-parse", "patched"))

    def test_experiment_off_the_series_is_not_exported(self):
        from wb.arches import EXPERIMENTS
        self._leafonly_branch()
        with quiet():
            tree.export(self.wb.layout)
        exp = os.path.join(self.wb.repo, "series", EXPERIMENTS["leafonly"].directory)
        before = sorted(os.listdir(exp))
        # The series is rewritten: the branch is left on the old one.
        self.wb.commit_in_tree("arch/arm64/kvm/mmu.c", "/* mmu */\n", "KVM: arm64: One more")
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            tree.export(self.wb.layout)
        self.assertEqual(sorted(os.listdir(exp)), before)
        self.assertIn("is not on 'patched'", out.getvalue())

    def test_experiment_without_patches_is_a_clear_error(self):
        from wb.errors import WorkbenchError
        with self.assertRaisesRegex(WorkbenchError, "experiment with no patches"):
            tree.ensure_experiment(self.wb.layout, "leafonly")

    def test_apply_leaves_a_tree_that_holds_the_series_alone(self):
        self._two_series()
        with quiet():
            tree.export(self.wb.layout)
        head = git(self.wb.kernel_tree, "rev-parse", "HEAD")
        path = os.path.join(self.wb.kernel_tree, "arch/arm64/kvm/hyp/pgtable.c")
        os.utime(path, (1, 1))
        with quiet():
            self.assertEqual(tree.apply(self.wb.layout, force=True), 2)
        self.assertEqual(git(self.wb.kernel_tree, "rev-parse", "HEAD"), head)
        self.assertEqual(os.stat(path).st_mtime, 1)
        # An edited series is applied again.
        self.wb.write_patch("arm64", "cover", "KVM: arm64: Faster\n\nWhy.\n")
        p = glob.glob(os.path.join(self.wb.repo, "series", "selftests", "0001-*.patch"))[0]
        with open(p) as f:
            text = f.read()
        with open(p, "w") as f:
            f.write(text.replace("int x;", "int z;"))
        with quiet():
            tree.apply(self.wb.layout, force=True)
        self.assertNotEqual(git(self.wb.kernel_tree, "rev-parse", "HEAD"), head)


BROKEN_PATCH = """From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: t <t@invalid>
Date: Thu, 1 Jan 2026 00:00:00 +0000
Subject: [PATCH] KVM: arm64: Change a line that is not there

Because.
---
 Makefile | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/Makefile b/Makefile
--- a/Makefile
+++ b/Makefile
@@ -1,3 +1,3 @@
 VERSION = 7
-PATCHLEVEL = 9
+PATCHLEVEL = 8
 SUBLEVEL = 99
--
2.39.5
"""

if __name__ == "__main__":
    unittest.main()
