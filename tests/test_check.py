"""make check end to end on the fake kernel tree: the failures it must explain."""

import io
import os
import unittest
from unittest import mock
from contextlib import redirect_stdout

from tests.fakes import Workbench, git, quiet
from wb import check, known, plans, source, tree

RUNS = (plans.Run("dirty_log_test.thp", ("dirty_log_test", "-s", "anonymous_thp"), 30),)


class CheckTest(unittest.TestCase):
    def setUp(self):
        self.wb = Workbench()

    def tearDown(self):
        self.wb.close()

    def check(self, timeout=None):
        # `make check FAST=1` exports FAST to the unit tests it runs: these
        # tests expect the default stages, whatever the caller's switches.
        with quiet(), mock.patch.dict(os.environ, {"FAST": "", "BISECT": "", "WARNINGS": "",
                                                   "DEBUG": ""}):
            tally = check.run_check(self.wb.layout, 2, targets=("fake",), runs=RUNS,
                                    unit=False, ksrc=self.wb.ksrc, timeout=timeout)
        out = io.StringIO()
        with redirect_stdout(out):
            rc = check.report(tally)
        return rc, out.getvalue(), tally

    def patch_series(self, path, content, subject, body=None):
        """Put a change into series/, the way a developer would: commit, export."""
        with quiet():
            source.prepare(self.wb.layout, "patched", self.wb.ksrc)
            tree.apply(self.wb.layout)
            if body:
                self.wb.commit_in_tree(path, content, subject, body)
            else:
                self.wb.commit_in_tree(path, content, subject)
            tree.export(self.wb.layout)

    def assert_breaks(self, path, content, subject, *messages, timeout=None):
        """A series patch that changes path: make check fails and says so."""
        self.patch_series(path, content, subject)
        rc, out, tally = self.check(timeout=timeout)
        self.assertEqual(rc, 1, out)
        for m in messages:
            self.assertIn(m, out)
        return tally

    def test_clean_run_passes(self):
        rc, out, tally = self.check()
        self.assertEqual(rc, 0, out)
        self.assertRegex(out.splitlines()[-1], r"^\d+ passed, 0 failed$")
        names = {(r.variant, r.name) for r in tally.records}
        for kernel in ("base", "patched"):
            self.assertIn((f"fake-{kernel}", "boot"), names)
            self.assertIn((f"fake-{kernel}", "dirty_log_test.thp"), names)
            self.assertIn((f"fake-{kernel}", "dmesg"), names)
        # What booted, as it ran: the fake QEMU prints its command line.
        self.assertEqual([b["variant"] for b in tally.boots][:2], ["fake-base", "fake-patched"])
        console = open(self.wb.layout.runs("fake-patched", "console.log")).read()
        self.assertIn(" ".join(tally.boots[1]["command"][1:]).replace(
            "../build/", self.wb.layout.build + "/"), console.splitlines()[0])
        self.assertIn("run dirty_log_test.thp 30 /bin/dirty_log_test", tally.boots[1]["plan"])
        thp = [r for r in tally.records if r.name == "dirty_log_test.thp"][0]
        self.assertEqual(thp.values["enable_dirty_log_s"], [0.001])

    def test_patch_that_does_not_apply(self):
        from tests.test_tree import BROKEN_PATCH
        self.wb.write_patch("arm64", "0001-broken.patch", BROKEN_PATCH)
        rc, out, _ = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("series/arm64/0001-broken.patch does not apply: Makefile", out)
        self.assertRegex(out.splitlines()[-1], r"^0 passed, 1 failed$")

    def test_failing_selftest(self):
        self.assert_breaks("tools/testing/selftests/kvm/behaviour", "fail\n",
                           "KVM: selftests: Break the test",
                           "== fake-patched: dirty_log_test.thp", "Test Assertion Failure")

    def test_guest_panic(self):
        tally = self.assert_breaks("guest-behaviour", "panic\n", "KVM: arm64: Break the kernel",
                                   "fake-patched: the guest kernel panicked",
                                   # the last console lines
                                   "Kernel panic - not syncing: Oops")
        base = [r for r in tally.records if r.variant == "fake-base"]
        self.assertTrue(all(r.status == "pass" for r in base))
        never = [r for r in tally.records if r.variant == "fake-patched"
                 and r.name == "dirty_log_test.thp"][0]
        self.assertEqual(never.status, "fail")

    def test_guest_hang_is_killed_at_its_timeout(self):
        self.assert_breaks("guest-behaviour", "hang\n", "KVM: arm64: Wedge the kernel",
                           "fake-patched: the guest did not finish within 2 s and was killed",
                           "Run /init as init process", timeout=2)

    def test_build_failure_quotes_the_log(self):
        self.assert_breaks("build-error", "arch/fake/kvm/mmu.c:12: error: oops\n",
                           "KVM: arm64: Break the build", "building fake-patched failed",
                           "arch/fake/kvm/mmu.c:12: error: oops", "Full log: ")

    def test_config_option_that_does_not_survive(self):
        with open(os.path.join(self.wb.repo, "configs", "fake.config"), "a") as f:
            f.write("CONFIG_FAKE_DROPPED=y\n")
        rc, out, _ = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("did not survive olddefconfig", out)
        self.assertIn("CONFIG_FAKE_DROPPED=y (got n)", out)

    def break_thp_test_listed_as(self, reason):
        """dirty_log_test.thp fails on every kernel; known-failures gives reason."""
        self.patch_series("tools/testing/selftests/kvm/behaviour.dirty_log_test", "fail\n",
                          "KVM: selftests: Break the test")
        with open(os.path.join(self.wb.repo, "known-failures"), "a") as f:
            f.write(f"fake  dirty_log_test.thp  {reason}\n")

    def test_known_failure_on_both_kernels_is_xfail(self):
        self.break_thp_test_listed_as("fails on base too")
        with quiet():
            tally = check.run_check(self.wb.layout, 2, targets=("fake",), unit=False,
                                    runs=RUNS + (plans.Run("pft", ("page_fault_test",)),),
                                    ksrc=self.wb.ksrc, debug=True)
        # base, patched and patched+debug
        self.assertEqual(tally.count("xfail"), 3)
        self.assertEqual(tally.count("fail"), 0)

    def test_failure_the_series_claims_to_fix_still_fails_on_patched(self):
        self.break_thp_test_listed_as("a bug in base, fixed by series/fake-fixes")
        with quiet():
            tally = check.run_check(self.wb.layout, 2, targets=("fake",), unit=False,
                                    runs=RUNS, ksrc=self.wb.ksrc, bisect=False,
                                    warnings=False)
        self.assertEqual([(r.kernel, r.status) for r in tally.records
                          if r.name == "dirty_log_test.thp"],
                         [("base", "xfail"), ("patched", "fail")])

    def test_patched_kernel_runs_again_with_debug_options(self):
        with quiet():
            tally = check.run_check(self.wb.layout, 2, targets=("fake",), unit=False,
                                    runs=RUNS, ksrc=self.wb.ksrc, bisect=False,
                                    warnings=False, debug=True)
        variants = {r.variant for r in tally.records if r.stage == "run"}
        self.assertIn("fake-patched+debug", variants)
        debug_runs = {r.name for r in tally.records if r.variant == "fake-patched+debug"}
        self.assertIn("dmesg", debug_runs)
        # make check leaves them out unless DEBUG=1
        with quiet(), mock.patch.dict(os.environ, {"DEBUG": ""}):
            tally = check.run_check(self.wb.layout, 2, targets=("fake",), unit=False,
                                    runs=RUNS, ksrc=self.wb.ksrc, bisect=False,
                                    warnings=False)
        self.assertNotIn("fake-patched+debug", {r.variant for r in tally.records})
        # make check-debug: base as the reference, and the +debug kernel only
        with quiet():
            tally = check.run_check(self.wb.layout, 2, targets=("fake",), runs=RUNS,
                                    ksrc=self.wb.ksrc, debug_only=True)
        self.assertEqual({r.variant for r in tally.records if r.stage == "run"},
                         {"fake-base", "fake-patched+debug"})
        self.assertFalse([r for r in tally.records if r.stage in ("unit", "bisect", "warn")])

    def test_base_only_failure_fixed_by_the_series_is_xfail(self):
        with open(os.path.join(self.wb.ksrc, "guest-behaviour"), "w") as f:
            f.write("failtests\n")
        git(self.wb.ksrc, "commit", "-q", "-am", "a kernel with a bug")
        self.patch_series("guest-behaviour", "ok\n", "KVM: arm64: Fix the bug",
                          "The base kernel fails every dirty_log_test run, because of a bug "
                          "that this change, which the test needs, takes away again.\n\n"
                          'Fixes: 0123456789ab ("fake v7.3.99")')
        with open(os.path.join(self.wb.repo, "known-failures"), "a") as f:
            f.write("fake  dirty_log_test.*  bug in base, fixed by the series\n")
        with quiet():
            tally = check.run_check(self.wb.layout, 2, targets=("fake",), unit=False,
                                    runs=RUNS + (plans.Run("pft", ("page_fault_test",)),),
                                    ksrc=self.wb.ksrc)
        self.assertEqual(tally.count("fail"), 0)
        self.assertEqual([r.kernel for r in tally.records if r.status == "xfail"], ["base"])

    def test_unlisted_base_failure_still_fails(self):
        with open(os.path.join(self.wb.ksrc, "guest-behaviour"), "w") as f:
            f.write("failtests\n")
        git(self.wb.ksrc, "commit", "-q", "-am", "a kernel with a bug")
        rc, out, _ = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("== fake-base: dirty_log_test.thp", out)

    def test_known_failure_without_a_reason_is_an_error(self):
        with open(os.path.join(self.wb.repo, "known-failures"), "a") as f:
            f.write("fake  dirty_log_test.thp\n")
        self.patch_series("tools/testing/selftests/kvm/behaviour", "fail\n",
                          "KVM: selftests: Break the test")
        rc, out, _ = self.check()
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"known-failures:\d+: expected 'TARGET-GLOB TEST REASON'")

    def test_everything_skipped_fails(self):
        self.assert_breaks("tools/testing/selftests/kvm/behaviour", "skip\n",
                           "KVM: selftests: Skip everything",
                           "every planned test skipped or failed")

    def test_nothing_passing_fails(self):
        from wb.results import Tally
        out = io.StringIO()
        with redirect_stdout(out):
            rc = check.report(Tally())
        self.assertEqual(rc, 1)
        self.assertIn("0 passed, 1 failed", out.getvalue())


if __name__ == "__main__":
    unittest.main()


class KnownSplatTest(unittest.TestCase):
    KNOWN = [("arm64-*", "dmesg~debug.c:157", "a known race")]

    def record(self, lines):
        from wb.results import Record
        return Record(stage="run", name="dmesg", status="fail", target="arm64-4k",
                      kernel="patched", message="\n".join(lines))

    def test_only_the_known_splat(self):
        r = self.record(["dmesg: WARNING: arch/arm64/kvm/debug.c:157 at x", "dmesg: Call trace:"])
        self.assertEqual(known.known_splat(r, self.KNOWN), "a known race")

    def test_another_splat_beside_it_is_not_known(self):
        r = self.record(["dmesg: WARNING: arch/arm64/kvm/debug.c:157 at x",
                         "dmesg: BUG: sleeping function called from invalid context"])
        self.assertIsNone(known.known_splat(r, self.KNOWN))

    def test_other_targets_are_not_covered(self):
        r = self.record(["dmesg: WARNING: arch/arm64/kvm/debug.c:157 at x"])
        r.target = "riscv64"
        self.assertIsNone(known.known_splat(r, self.KNOWN))


class SplatVictimTest(unittest.TestCase):
    def test_only_the_run_whose_thread_hit_the_known_splat_is_xfail(self):
        from wb.results import Record
        wb = Workbench()
        self.addCleanup(wb.close)
        with open(os.path.join(wb.repo, "known-failures"), "a") as f:
            f.write("arm64-*  dmesg~debug.c:157  a known race\n")
        common = dict(stage="run", status="fail", target="arm64-4k", variant="v",
                      kernel="patched")
        earlier = Record(name="dirty_log_test.anon", params=["dirty_log_test"],
                         values={"pid": [40]}, **common)
        victim = Record(name="dirty_log_test.thp", params=["dirty_log_test"],
                        values={"pid": [45]}, **common)
        later = Record(name="dirty_log_test.hugetlb", params=["dirty_log_test"],
                       values={"pid": [52]}, **common)
        dmesg = Record(name="dmesg", message="dmesg: WARNING: arch/arm64/kvm/debug.c:157 "
                       "at x, CPU#1: dirty_log_test/47", **common)
        known.apply_known_failures(wb.layout, [earlier, victim, later, dmesg])
        self.assertEqual([t.status for t in (earlier, victim, later, dmesg)],
                         ["fail", "xfail", "fail", "xfail"])
