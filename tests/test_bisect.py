"""make check's static stages on the fake kernel tree: every patch builds
(wb/bisect.py) and the series adds no W=1/sparse warning (wb/warn.py)."""

import io
import os
import platform
import shutil
import unittest
from unittest import mock
from contextlib import redirect_stdout

from tests.fakes import FAKE_TARGET, Workbench, git, quiet
from tests.test_check import RUNS
from wb import bisect, check, source, tree, warn
from wb.arches import HOST_SELFTESTS, TARGETS

MMU = "arch/fake/kvm/mmu.c"
SELFTEST_ERROR = "tools/testing/selftests/kvm/build-error"


class StaticChecksTest(unittest.TestCase):
    def setUp(self):
        self.wb = Workbench()

    def tearDown(self):
        self.wb.close()

    def commit_to_ksrc(self, path, content):
        """Change the base kernel itself (before any patch)."""
        full = os.path.join(self.wb.ksrc, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(content)
        git(self.wb.ksrc, "add", "-A")
        git(self.wb.ksrc, "commit", "-q", "-m", f"base: {path}")

    def series(self, *commits):
        """Put commits [(path, content, subject)] into series/, as make export would."""
        with quiet():
            source.prepare(self.wb.layout, "patched", self.wb.ksrc)
            tree.apply(self.wb.layout)
            for path, content, subject in commits:
                self.wb.commit_in_tree(path, content, subject)
            tree.export(self.wb.layout)

    def check(self, **kwargs):
        # Explicit, so that `make check FAST=1` (which the unit tests inherit)
        # does not change what these tests see.
        kwargs.setdefault("host_selftests", False)
        kwargs.setdefault("bisect", True)
        kwargs.setdefault("warnings", True)
        with quiet() as progress:
            tally = check.run_check(self.wb.layout, 2, targets=("fake",), runs=RUNS,
                                    unit=False, ksrc=self.wb.ksrc, **kwargs)
        out = io.StringIO()
        with redirect_stdout(out):
            rc = check.report(tally)
        return rc, progress.getvalue(), out.getvalue(), tally

    def failures(self, tally):
        return [(r.stage, r.name) for r in tally.failures()]

    # -- bisectability -----------------------------------------------------

    def test_kernel_broken_at_patch_2_of_3_fails_naming_the_patch(self):
        self.series((MMU, "int a;\n", "KVM: arm64: Change the fake mmu"),
                    ("arch/fake/kvm/build-error", f"../{MMU}:3:1: error: expected ';'\n",
                     "KVM: arm64: Break the build for a while"),
                    ("arch/fake/kvm/build-error", "", "KVM: arm64: Mend the build again"))
        rc, progress, out, tally = self.check()
        self.assertEqual(rc, 1, out)
        # The patched tree builds: only the bisect stage sees the broken patch.
        self.assertEqual(self.failures(tally), [
            ("bisect", "arm64/0002-KVM-arm64-Break-the-build-for-a-while.patch: kernel fake")])
        self.assertIn('series/arm64/0002-KVM-arm64-Break-the-build-for-a-while.patch '
                      '("KVM: arm64: Break the build for a while")', out)
        self.assertIn("kernel fake does not build", out)
        self.assertIn(f"../{MMU}:3:1: error: expected ';'", out)
        log = self.wb.layout.path("bisect", "02-kernel-fake.log")
        self.assertIn(f"Full log: {log}", out)
        with open(log) as f:
            self.assertIn("error: expected ';'", f.read())
        # A progress line per patch, naming what it builds and what it skips.
        self.assertRegex(progress, r"\[1/3\] arm64/0001-KVM-arm64-Change-the-fake-mmu\.patch: "
                                   r"kernel fake; unchanged: selftests fake")
        # The last patch builds what make check built on patched: not again.
        self.assertIn("[3/3] arm64/0003-KVM-arm64-Mend-the-build-again.patch: nothing to build;"
                      " as patched (built above): kernel fake", progress)

    def test_selftests_broken_at_patch_2_of_3_fails_naming_the_patch(self):
        self.series(("tools/testing/selftests/kvm/dirty_log_test.c", "/* v2 */\n",
                     "KVM: selftests: Change dirty_log_test"),
                    (SELFTEST_ERROR, "dirty_log_test.c:9:1: error: 'vm' undeclared\n",
                     "KVM: selftests: Break the selftests for a while"),
                    (SELFTEST_ERROR, "", "KVM: selftests: Mend the selftests"))
        rc, progress, out, tally = self.check()
        self.assertEqual(rc, 1, out)
        self.assertEqual(self.failures(tally), [
            ("bisect", "selftests/0002-KVM-selftests-Break-the-selftests-for-a-while.patch: "
                       "selftests fake")])
        self.assertIn('("KVM: selftests: Break the selftests for a while")', out)
        self.assertIn("selftests fake do not build", out)
        self.assertIn("error: 'vm' undeclared", out)
        # selftests only: the kernel is not rebuilt at any of them.
        self.assertNotIn("kernel fake;", progress)
        self.assertFalse([r for r in tally.records if r.stage == "bisect"
                          and r.name.endswith("kernel fake")])

    @unittest.skipUnless(platform.machine() == "x86_64", "the host selftests are x86_64's")
    def test_host_selftests_are_bisected_too(self):
        self.series((SELFTEST_ERROR, "kvm_util.c:1:1: error: oops\n",
                     "KVM: selftests: Break the selftests for a while"),
                    (SELFTEST_ERROR, "", "KVM: selftests: Mend the selftests"))
        rc, progress, out, tally = self.check(host_selftests=True)
        self.assertEqual(rc, 1, out)
        self.assertEqual([n for _, n in self.failures(tally)], [
            "selftests/0001-KVM-selftests-Break-the-selftests-for-a-while.patch: selftests fake",
            "selftests/0001-KVM-selftests-Break-the-selftests-for-a-while.patch: "
            "selftests x86_64"])
        self.assertIn("[0/2] base: selftests fake, selftests x86_64", progress)
        # make check does not build the x86_64 selftests on patched: the walk does.
        self.assertIn("[2/2] selftests/0002-KVM-selftests-Mend-the-selftests.patch: "
                      "selftests x86_64; as patched (built above): selftests fake", progress)
        log = self.wb.layout.selftests("bisect", "x86_64")
        self.assertTrue(os.path.exists(os.path.join(log, "dirty_log_test")))

    def test_a_later_patch_that_still_fails_says_since_when(self):
        self.series((MMU, "int a;\n", "KVM: arm64: Change the fake mmu"),
                    ("arch/fake/kvm/build-error", "mmu.c:3:1: error: oops\n",
                     "KVM: arm64: Break the build"),
                    (MMU, "int b;\n", "KVM: arm64: Change the mmu again"),
                    ("arch/fake/kvm/build-error", "", "KVM: arm64: Mend the build"))
        rc, _, out, tally = self.check()
        self.assertEqual([n for _, n in self.failures(tally)],
                         ["arm64/0002-KVM-arm64-Break-the-build.patch: kernel fake",
                          "arm64/0003-KVM-arm64-Change-the-mmu-again.patch: kernel fake"])
        self.assertIn('(broken since series/arm64/0002-KVM-arm64-Break-the-build.patch', out)

    def test_kernel_warning_in_the_series_own_file_fails_the_patch(self):
        self.series((MMU, "int a;\n", "KVM: arm64: Change the fake mmu"),
                    ("arch/fake/kvm/build-warnings",
                     f"../{MMU}:2:5: warning: unused variable 'a' [-Wunused-variable]\n",
                     "KVM: arm64: Leave a variable unused"),
                    ("arch/fake/kvm/build-warnings", "", "KVM: arm64: Use the variable"))
        rc, _, out, tally = self.check()
        self.assertEqual(rc, 1, out)
        self.assertEqual([n for _, n in self.failures(tally)],
                         ["arm64/0002-KVM-arm64-Leave-a-variable-unused.patch: kernel fake"])
        self.assertIn("builds, but warns in files the series changes", out)
        self.assertIn("warning: unused variable 'a'", out)

    def test_kernel_warning_in_a_file_the_series_does_not_change_is_not_its_fault(self):
        self.series((MMU, "int a;\n", "KVM: arm64: Change the fake mmu"),
                    ("arch/fake/kvm/build-warnings",
                     "../arch/fake/kernel/setup.c:2:5: warning: old news\n",
                     "KVM: arm64: Print a warning elsewhere"),
                    ("arch/fake/kvm/build-warnings", "", "KVM: arm64: Stop printing it"))
        rc, _, out, _ = self.check()
        self.assertEqual(rc, 0, out)

    def test_selftests_that_never_built_on_base_fail_on_base_not_on_a_patch(self):
        # A fresh machine without uuid-dev could not build 7.3's x86_64
        # selftests; as a skip, make check passed with them unchecked.
        self.commit_to_ksrc(SELFTEST_ERROR, "kvm_util.c:1:1: error: broken on base\n")
        self.series((SELFTEST_ERROR, "", "KVM: selftests: Repair the build"),
                    ("tools/testing/selftests/kvm/dirty_log_test.c", "/* v2 */\n",
                     "KVM: selftests: Change dirty_log_test"))
        rc, progress, out, tally = self.check()
        self.assertNotEqual(rc, 0, out)
        self.assertIn("[1/2] selftests/0001-KVM-selftests-Repair-the-build.patch: nothing to "
                      "build; not checked (base does not build): selftests fake", progress)
        failed = [r for r in tally.records if r.status == "fail"]
        self.assertEqual([r.name for r in failed], ["base: selftests fake"])
        self.assertIn("That is on base, before any patch", failed[0].message)
        self.assertIn("broken on base", failed[0].message)
        self.assertIn("install its package", failed[0].message)

    def test_the_worktree_is_reused_and_a_stranger_directory_refused(self):
        self.series((MMU, "int a;\n", "KVM: arm64: Change the fake mmu"),
                    (MMU, "int b;\n", "KVM: arm64: Change it again"))
        wt = self.wb.layout.tree("bisect")
        marker = os.path.join(wt, ".out-fake", "from-the-first-run.o")
        for run in range(2):
            rc, _, out, _ = self.check()
            self.assertEqual(rc, 0, out)
            if run == 0:
                with open(marker, "w"):
                    pass
        # One object directory for every run: kbuild's builds stay incremental.
        self.assertTrue(os.path.exists(marker))
        self.assertEqual(git(wt, "rev-parse", "HEAD"),
                         git(self.wb.kernel_tree, "rev-parse", "patched~1"))
        shutil.rmtree(wt)
        os.makedirs(wt)
        rc, _, out, _ = self.check()
        self.assertEqual(rc, 1)
        self.assertIn(f"{wt} exists but is not a worktree", out)

    def test_fast_skips_both_stages(self):
        self.series(("arch/fake/kvm/build-error", "mmu.c:1:1: error: oops\n",
                     "KVM: arm64: Break the build"),
                    ("arch/fake/kvm/build-error", "", "KVM: arm64: Mend the build"))
        with mock.patch.dict(os.environ, {"FAST": "1"}):
            rc, progress, out, tally = self.check(bisect=None, warnings=None)
        self.assertEqual(rc, 0, out)
        self.assertEqual(sorted((r.stage, r.name) for r in tally.records
                                if r.status == "skip"),
                         [("bisect", "bisectability"), ("warn", "W=1/sparse")])
        self.assertNotIn("[1/2]", progress)
        self.assertFalse(os.path.exists(self.wb.layout.tree("bisect")))

    # -- W=1 and sparse ----------------------------------------------------

    def test_new_warning_fails_naming_the_patch_and_the_check(self):
        self.commit_to_ksrc(MMU, "int z;\n")
        self.commit_to_ksrc("arch/fake/kvm/warnings",
                            f"../{MMU}:10:5: warning: old one [-Wold]\n")
        self.series((MMU, "int a;\n", "KVM: arm64: Change the fake mmu"),
                    ("arch/fake/kvm/warnings",
                     # base's warning, moved by the patch: not new
                     f"../{MMU}:14:5: warning: old one [-Wold]\n"
                     f"../{MMU}:20:5: sparse: warning: incorrect type in assignment "
                     "(different address spaces)\n"
                     f"../{MMU}:20:5: sparse:    expected int *q\n",
                     "KVM: arm64: Warn about it"))
        rc, _, out, tally = self.check()
        self.assertEqual(rc, 1, out)
        self.assertEqual(self.failures(tally), [
            ("warn", "W=1/sparse fake: arm64/0001-KVM-arm64-Change-the-fake-mmu.patch")])
        self.assertIn("1 warning(s) in patched that base does not have", out)
        self.assertIn(f"[sparse] ../{MMU}:20:5: sparse: warning: incorrect type", out)
        self.assertIn("(expected int *q)", out)
        self.assertIn('from series/arm64/0001-KVM-arm64-Change-the-fake-mmu.patch ("KVM: arm64: '
                      f'Change the fake mmu") (changes {MMU})', out)
        self.assertNotIn("old one", out)

    def test_same_warnings_as_base_pass(self):
        line = f"../{MMU}:10:5: warning: old one [-Wold]\n"
        self.commit_to_ksrc(MMU, "int z;\n")
        self.commit_to_ksrc("arch/fake/kvm/warnings", line)
        self.series((MMU, "int a;\n", "KVM: arm64: Change the fake mmu"),
                    ("arch/fake/kvm/warnings", line.replace(":10:", ":99:"),
                     "KVM: arm64: Move the warning"))
        rc, _, out, tally = self.check()
        self.assertEqual(rc, 0, out)
        w1 = [r for r in tally.records if r.name == "W=1/sparse fake"][0]
        self.assertEqual((w1.values["base_warnings"], w1.values["patched_warnings"]), ([1], [1]))

    def test_w1_compiles_only_what_the_series_changes(self):
        # A warning in a file the series does not change is not printed at
        # all: only mmu.o is compiled.
        self.commit_to_ksrc("arch/fake/kvm/warnings",
                            "../arch/fake/kvm/other.c:3:1: warning: elsewhere [-Wx]\n")
        self.series((MMU, "int a;\n", "KVM: arm64: Change the fake mmu"))
        rc, progress, out, tally = self.check()
        self.assertEqual(rc, 0, out)
        self.assertIn("make W=1 C=1 arch/fake/kvm/mmu.o", progress)
        w1 = [r for r in tally.records if r.name == "W=1/sparse fake"][0]
        self.assertEqual((w1.values["base_warnings"], w1.values["patched_warnings"]), ([0], [0]))

    def test_w1_file_the_series_adds_is_compiled_on_patched_only(self):
        new = "arch/fake/kvm/split.c"
        self.series((new, "int b;\n", "KVM: arm64: Add a file"),
                    ("arch/fake/kvm/warnings",
                     f"../{new}:1:5: warning: new file warns [-Wnew]\n",
                     "KVM: arm64: Make it warn"))
        rc, progress, out, tally = self.check()
        self.assertEqual(rc, 1, out)
        self.assertIn(f"has none of {new[:-2]}.o; nothing to compile", progress)
        self.assertIn(f"[gcc W=1] ../{new}:1:5: warning: new file warns", out)

    def test_sparse_that_kbuild_refuses_is_a_skip_not_a_pass(self):
        self.series((MMU, "int a;\n", "KVM: arm64: Change the fake mmu"))
        rc, _, out, tally = self.check(sparse="old-sparse")
        self.assertEqual(rc, 0, out)
        skip = [r for r in tally.records if r.status == "skip"]
        self.assertEqual([r.name for r in skip], ["sparse fake"])
        self.assertIn("kbuild refused old-sparse", skip[0].message)
        self.assertIn("1 skipped", out)

    def test_series_without_kernel_changes_compiles_nothing_with_w1(self):
        self.series(("tools/testing/selftests/kvm/dirty_log_test.c", "/* v2 */\n",
                     "KVM: selftests: Change dirty_log_test"))
        rc, progress, out, tally = self.check()
        self.assertEqual(rc, 0, out)
        self.assertIn("the series changes nothing this target compiles", progress)
        self.assertFalse(os.path.exists(warn.out_dir(
            self.wb.layout, check.build.Variant(FAKE_TARGET, "base"))))


class RulesTest(unittest.TestCase):
    """What a commit rebuilds, decided from the files it changes."""

    UNITS = [bisect.Unit("kernel", "arm64-4k", TARGETS["arm64-4k"].arch),
             bisect.Unit("kernel", "riscv64", TARGETS["riscv64"].arch),
             bisect.Unit("selftests", "arm64", TARGETS["arm64-4k"].arch),
             bisect.Unit("selftests", "riscv64", TARGETS["riscv64"].arch),
             bisect.Unit("selftests", "x86_64", HOST_SELFTESTS)]

    def units(self, *paths):
        return sorted(str(u) for u in bisect.units_for(paths, self.UNITS))

    def test_selftests_only(self):
        self.assertEqual(self.units("tools/testing/selftests/kvm/include/kvm_util.h",
                                    "tools/testing/selftests/kvm/lib/kvm_util.c"),
                         ["selftests arm64", "selftests riscv64", "selftests x86_64"])

    def test_arch_specific_selftests(self):
        self.assertEqual(self.units("tools/testing/selftests/kvm/arm64/page_fault_test.c"),
                         ["selftests arm64"])
        self.assertEqual(self.units("tools/testing/selftests/kvm/lib/riscv/processor.c"),
                         ["selftests riscv64"])
        self.assertEqual(self.units("tools/testing/selftests/kvm/include/x86/processor.h"),
                         ["selftests x86_64"])
        self.assertEqual(self.units("tools/arch/arm64/include/asm/sysreg.h"),
                         ["selftests arm64"])

    def test_one_arch_kernel(self):
        self.assertEqual(self.units("arch/riscv/kvm/mmu.c", "arch/riscv/include/asm/kvm_host.h"),
                         ["kernel riscv64"])
        self.assertEqual(self.units("arch/arm64/include/asm/kvm_pgtable.h"), ["kernel arm64-4k"])
        self.assertEqual(self.units("arch/x86/kvm/mmu/mmu.c"), [])

    def test_uapi_reaches_the_selftests(self):
        self.assertEqual(self.units("arch/arm64/include/uapi/asm/kvm.h"),
                         ["kernel arm64-4k", "selftests arm64"])
        self.assertEqual(self.units("arch/x86/include/uapi/asm/kvm.h"), ["selftests x86_64"])
        self.assertEqual(len(self.units("include/uapi/linux/kvm.h")), 5)

    def test_generic_kvm_code_rebuilds_the_kernels_only(self):
        self.assertEqual(self.units("virt/kvm/kvm_main.c", "include/linux/kvm_host.h"),
                         ["kernel arm64-4k", "kernel riscv64"])

    def test_documentation_builds_nothing(self):
        self.assertEqual(self.units("Documentation/admin-guide/kernel-parameters.txt",
                                    "MAINTAINERS"), [])
        self.assertEqual(self.units("Documentation/admin-guide/kernel-parameters.txt",
                                    "arch/riscv/kvm/mmu.c"), ["kernel riscv64"])

    def test_build_machinery_rebuilds_everything(self):
        self.assertEqual(len(self.units("scripts/Makefile.build")), 5)
        self.assertEqual(len(self.units("Makefile")), 5)

    def test_last_change_is_the_patched_build(self):
        c = [bisect.Commit(str(i), "s", f"p{i}", files) for i, files in enumerate((
            ("tools/testing/selftests/kvm/dirty_log_test.c",),
            ("arch/arm64/kvm/mmu.c",),
            ("arch/arm64/kvm/mmu.c",),
            ("arch/riscv/kvm/mmu.c",)))]
        steps = bisect.plan(c, self.UNITS, built={"kernel arm64-4k", "selftests arm64"})
        todo = [sorted(map(str, t)) for _, t, _ in steps]
        self.assertEqual(todo, [["selftests riscv64", "selftests x86_64"], ["kernel arm64-4k"],
                                [], ["kernel riscv64"]])
        self.assertEqual([list(map(str, p)) for _, _, p in steps],
                         [["selftests arm64"], [], ["kernel arm64-4k"], []])

    def test_w1_targets_of_the_series(self):
        paths = ["arch/arm64/kvm/mmu.c", "arch/arm64/include/asm/kvm_pkvm.h",
                 "arch/arm64/kvm/hyp/pgtable.c", "arch/riscv/kvm/gstage.c",
                 "arch/riscv/include/asm/kvm_host.h",
                 "Documentation/admin-guide/kernel-parameters.txt",
                 "tools/testing/selftests/kvm/lib/kvm_util.c"]
        # The nVHE hypervisor compiles hyp/pgtable.c again.
        self.assertEqual(warn.touched_targets(paths, "arm64"),
                         ["arch/arm64/kvm/hyp/nvhe/", "arch/arm64/kvm/hyp/pgtable.o",
                          "arch/arm64/kvm/mmu.o"])
        self.assertEqual(warn.touched_targets(paths, "riscv"), ["arch/riscv/kvm/gstage.o"])
        # virt/kvm is built by the arch's KVM directory, which then covers
        # everything below it.
        self.assertEqual(warn.touched_targets(["virt/kvm/kvm_main.c", "mm/huge_memory.c",
                                               "include/linux/mm.h", "arch/arm64/mm/mmu.c",
                                               "arch/arm64/kvm/arm.c"], "arm64"),
                         ["arch/arm64/kvm/", "arch/arm64/mm/mmu.o", "mm/huge_memory.o"])
        # A header alone: the KVM directory compiles it.
        self.assertEqual(warn.touched_targets(["arch/riscv/include/asm/kvm_gstage.h"], "riscv"),
                         ["arch/riscv/kvm/"])
        self.assertEqual(warn.touched_targets(["arch/riscv/kvm/Makefile"], "riscv"),
                         ["arch/riscv/kvm/"])
        # A Makefile that adds an object the series adds: the object.
        self.assertEqual(warn.touched_targets(["arch/arm64/kvm/Makefile",
                                               "arch/arm64/kvm/pgtable_test.c"], "arm64"),
                         ["arch/arm64/kvm/pgtable_test.o"])
        self.assertEqual(warn.touched_targets(["arch/arm64/kvm/hyp/Makefile",
                                               "arch/arm64/kvm/mmu.c"], "arm64"),
                         ["arch/arm64/kvm/hyp/", "arch/arm64/kvm/mmu.o"])
        self.assertEqual(warn.touched_targets(["tools/testing/selftests/kvm/x.c"], "arm64"), [])


class DiagnosticsTest(unittest.TestCase):
    LOG = "\n".join([
        "  CC      arch/arm64/kvm/mmu.o",
        "../arch/arm64/kvm/mmu.c: In function 'kvm_split':",
        "../arch/arm64/kvm/mmu.c:120:7: warning: unused variable 'x' [-Wunused-variable]",
        "../arch/arm64/kvm/mmu.c:100:3: note: declared here",
        "  CHECK   ../arch/arm64/kvm/mmu.c",
        "../arch/arm64/kvm/mmu.c:44:6: sparse: warning: symbol 'f' was not declared. "
        "Should it be static?",
        "../arch/arm64/kvm/mmu.c:50:9: sparse: warning: incorrect type in argument 1",
        "../include/linux/kvm_host.h:1:1: warning: from a header",
        "../arch/arm64/kvm/mmu.c:50:9: sparse:    expected void *",
        "../arch/arm64/kvm/mmu.c:50:9: sparse:    got int",
        "Makefile:1305: C=1 specified, but sparse is not available or not up to date",
        "cc1: warning: command-line option '-Wfoo' is valid for C++",
        "make[3]: *** [scripts/Makefile.build:229: arch/arm64/kvm/mmu.o] Error 1",
    ])

    def test_parse(self):
        d = warn.diagnostics(self.LOG)
        self.assertEqual([(x.file, x.line, x.tool) for x in d], [
            ("arch/arm64/kvm/mmu.c", 120, "gcc"), ("arch/arm64/kvm/mmu.c", 44, "sparse"),
            ("arch/arm64/kvm/mmu.c", 50, "sparse"), ("include/linux/kvm_host.h", 1, "gcc"),
            ("cc1", 0, "gcc")])
        self.assertEqual(d[2].message,
                         "incorrect type in argument 1 | expected void * | got int")

    def test_line_numbers_do_not_count_multiplicity_does(self):
        base = warn.diagnostics("a.c:1:1: warning: w\nb.h:5:1: warning: h\n"
                                "a.c:9:1: warning: frame size of 2064 bytes is larger")
        moved = warn.diagnostics("a.c:7:1: warning: w\nb.h:6:1: warning: h\n"
                                 "a.c:9:1: warning: frame size of 2080 bytes is larger")
        self.assertEqual(warn.new_diagnostics(base, moved), [])
        twice = warn.diagnostics("a.c:7:1: warning: w\nb.h:6:1: warning: h\nb.h:6:1: warning: h")
        self.assertEqual([d.text for d in warn.new_diagnostics(base, twice)],
                         ["b.h:6:1: warning: h"])
        other_tool = warn.diagnostics("a.c:1:1: sparse: warning: w")
        self.assertEqual(len(warn.new_diagnostics(base, other_tool)), 1)


class SelftestArchesTest(unittest.TestCase):
    def test_host_selftests_unless_a_native_target_builds_them(self):
        arch_names = lambda r: [a.name for a in r[0]]
        self.assertEqual(arch_names(bisect.selftest_arches(("arm64-4k", "riscv64"),
                                                           machine="x86_64")),
                         ["arm64", "riscv64", "x86_64"])
        got = bisect.selftest_arches(("arm64-4k", "x86_64"), machine="x86_64")
        self.assertEqual((arch_names(got), got[1]), (["arm64", "x86_64"], None))
        self.assertIs(got[0][1], TARGETS["x86_64"].arch)
        got = bisect.selftest_arches(("riscv64",), machine="aarch64")
        self.assertEqual(arch_names(got), ["riscv64"])
        self.assertIn("the host is aarch64", got[1])
        self.assertEqual(bisect.selftest_arches(("riscv64",), host=False)[1], None)


class SwitchesTest(unittest.TestCase):
    def test_environment(self):
        s = check.stage_switches
        self.assertEqual(s({}), {"bisect": True, "warnings": True, "debug": False,
                                 "sparse": None})
        self.assertEqual(s({"FAST": "1"}), {"bisect": False, "warnings": False, "debug": False,
                                            "sparse": None})
        self.assertEqual(s({"FAST": "0"})["bisect"], True)
        self.assertEqual(s({"BISECT": "0"}), {"bisect": False, "warnings": True, "debug": False,
                                              "sparse": None})
        self.assertEqual(s({"DEBUG": "0"})["debug"], False)
        self.assertEqual(s({"DEBUG": "1"})["debug"], True)
        self.assertEqual(s({"WARNINGS": "no", "SPARSE": "/opt/sparse"}),
                         {"bisect": True, "warnings": False, "debug": False,
                          "sparse": "/opt/sparse"})


if __name__ == "__main__":
    unittest.main()
