import os
import shutil
import subprocess
import tempfile
import unittest
from unittest import mock

from tests.fakes import FAKE_TARGET
from wb import boot, ktap, plans, util
from wb.arches import TARGETS

CONSOLE = """\
[    0.1] Booting Linux
KTAP version 1
1..3
# run dirty_log_test.thp: /bin/dirty_log_test
# Enabling dirty logging time: 0.000500000s
# Iteration 1 dirty memory time: 2.500000000s
# enable_ms: 1.5
# duration: dirty_log_test.thp 3.250 s
ok 1 dirty_log_test.thp
# page_fault_test: exit status 254
not ok 2 page_fault_test
ok 3 perf # SKIP
"""


class KtapTest(unittest.TestCase):
    def test_results_and_their_diagnostics(self):
        k = ktap.parse(CONSOLE)
        self.assertEqual(k.planned, 3)
        self.assertEqual([(t.name, t.status) for t in k.results],
                         [("dirty_log_test.thp", "pass"), ("page_fault_test", "fail"),
                          ("perf", "skip")])
        self.assertEqual(k.results[1].diag, ["page_fault_test: exit status 254"])

    def test_figures(self):
        f = ktap.figures(ktap.parse(CONSOLE).results[0].diag)
        self.assertEqual(f["enable_dirty_log_s"], [0.0005])
        self.assertEqual(f["dirty_pass_s"], [2.5])
        self.assertEqual(f["enable_ms"], [1.5])

    def test_truncated_run_has_missing_tests(self):
        # A guest that died after its first test: the tests it never reached
        # and the dmesg check fail, and the boot with them.
        from wb.boot import BootResult
        from wb.build import Variant
        from wb.run import Session, make_records
        console = "\n".join(CONSOLE.splitlines()[:9])
        runs = [plans.Run(name, (name.split(".")[0],)) for name in
                ("dirty_log_test.thp", "page_fault_test", "perf")]
        session = Session(Variant(FAKE_TARGET, "base"), runs, ["qemu"], "", "console.log", 60,
                          result=BootResult("died", console, 1.0), ktap=ktap.parse(console))
        by = {r.name: r for r in make_records(session, "fake-base")}
        self.assertEqual(by["dirty_log_test.thp"].status, "pass")
        for name in ("page_fault_test", "perf", "dmesg", "boot"):
            self.assertEqual(by[name].status, "fail", name)
        self.assertIn("planned, but never reported", by["perf"].message)
        self.assertIn("QEMU exited before the guest finished", by["boot"].message)

    def test_stage2_dumps_old_and_new(self):
        from wb.results import stage2_dumps
        k = ktap.parse("KTAP version 1\n1..2\n# stage2 enable: ---[ 0x0 ]---\nok 1 a\n"
                       "# # stage2 enable: ---[ 0x0 ]---\n# # enable_s: 0.1\nok 2 b\n")
        self.assertEqual(stage2_dumps(k), {"a": ["stage2 enable: ---[ 0x0 ]---"],
                                           "b": ["stage2 enable: ---[ 0x0 ]---"]})

    def test_kernel_lines_before_ktap_are_not_diagnostics(self):
        k = ktap.parse("# not a diag\nKTAP version 1\n1..1\nok 1 a\n")
        self.assertEqual(k.results[0].diag, [])


class InitramfsTest(unittest.TestCase):
    @unittest.skipUnless(shutil.which("cpio"), "cpio not installed")
    def test_cpio_lists_what_we_packed(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        init, test = os.path.join(tmp, "init"), os.path.join(tmp, "t")
        for p in (init, test):
            with open(p, "wb") as f:
                f.write(b"\x7fELF" + bytes(range(7)))
        out = os.path.join(tmp, "x.cpio")
        boot.make_initramfs(out, init, "run a 1 /bin/t\n", {"/bin/t": test}, "BUG:\n")
        with open(out, "rb") as f:
            listing = subprocess.run(["cpio", "-itv"], stdin=f, capture_output=True, text=True)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        names = [line.split()[-1] for line in listing.stdout.splitlines()]
        self.assertEqual(names, ["dev", "proc", "sys", "tmp", "bin", "dev/console",
                                 "init", "plan", "splats", "bin/t"])
        self.assertTrue(listing.stdout.splitlines()[5].startswith("crw"))


class SplatsTest(unittest.TestCase):
    def test_the_guest_gets_every_pattern_the_host_knows(self):
        from wb import splats
        lines = splats.guest_file().splitlines()
        self.assertEqual(set(lines), set(splats.HEADERS + splats.FOLLOWERS))
        self.assertIn("stack-protector", lines)
        self.assertTrue(splats.is_header("WARNING: CPU: 1 PID: 2 at x.c:3"))
        self.assertFalse(splats.is_header("Call trace:"))


class PlanTest(unittest.TestCase):
    def test_every_plan_runs_only_selftests_the_build_makes(self):
        from wb.arches import ARCHES
        for name, runs in plans.PLANS.items():
            for arch in ARCHES.values():
                built = {os.path.basename(t) for t in arch.selftests}
                needed = set(plans.binaries(plans.select(runs, arch)))
                self.assertLessEqual(needed, built, f"plan {name} on {arch.name}")

    def test_sizes_read_back_as_written(self):
        for nbytes in (1 << 30, 512 << 20, 64 << 10, 1000, 3 << 29):
            self.assertEqual(plans.parse_size(plans.size_arg(nbytes)), nbytes)
        self.assertEqual(plans.parse_size("2mb"), 2 << 20)
        self.assertIsNone(plans.parse_size("lots"))

    def test_guest_mode_and_hugepages_follow_the_target(self):
        text = plans.render(plans.select(plans.CHECK, TARGETS["arm64-4k"].arch),
                            TARGETS["arm64-4k"])
        self.assertRegex(text, r"hugepages 2048 520\nrun dirty_log_test.hugetlb_2mb .*\n"
                               r"hugepages 2048 0\n")
        self.assertIn("run page_fault_test 300 /bin/page_fault_test -m 6", text)
        # 64K has 2M hugepages (contiguous PTEs) but no 1G ones.
        text = plans.render(plans.CHECK + plans.STAGE2_DUMPS_1G, TARGETS["arm64-64k"])
        self.assertIn("hugepages 2048 520", text)
        self.assertNotIn("hugepages 1048576", text)
        text = plans.render(plans.WALK_COUNTS, TARGETS["arm64-64k"])
        self.assertRegex(text, r"hugepages 524288 2\n(set .*\n)*run counts.hugetlb_pmd.enable "
                               r"300 /bin/dirty_log_split_test -s anonymous_hugetlb_512mb -b 1G")
        self.assertNotIn("page_fault_test", plans.render(
            plans.select(plans.CHECK, TARGETS["riscv64"].arch), TARGETS["riscv64"]))

    def test_block_size_and_eager_split_follow_the_target(self):
        run = plans.BENCH[0]
        self.assertEqual(plans.argv(run, TARGETS["arm64-16k"])[-4:], ("-E", "32M", "-m", "7"))
        self.assertNotIn("-E", plans.argv(run, TARGETS["riscv64"]))
        self.assertNotIn("{eager}", plans.argv(run, TARGETS["riscv64"]))
        self.assertIn("anonymous_hugetlb_512mb",
                      plans.argv(plans.GRANULE_CHECK[1], TARGETS["arm64-64k"]))

    def test_selftests_get_the_options_they_take(self):
        # dirty_log_test has no -E; dirty_log_split_test picks its operation
        # with -t, its CLEAR chunk with -C and its memory's address with -p.
        for name, runs in plans.PLANS.items():
            for r in runs:
                if r.binary == "dirty_log_test":
                    self.assertNotIn("-E", r.argv, (name, r.name))
                if r.binary == "dirty_log_split_test":
                    self.assertFalse({"-c", "-o"} & set(r.argv), (name, r.name))
                    if "-p" in r.argv:
                        gpa = r.argv[r.argv.index("-p") + 1]
                        self.assertRegex(gpa, r"^(0x[0-9a-f]+|\{gpa-4g-pmd\})$", r.name)
        offset = [r for r in plans.STAGE2_DUMPS if r.name == "dump.thp.offset.enable"]
        for target, gpa, size in (("arm64-4k", "0x100200000", "256M"),
                                  ("arm64-64k", "0x120000000", "1G")):
            argv = plans.argv(offset[0], TARGETS[target])
            self.assertEqual(argv[argv.index("-p") + 1], gpa)
            # dirty_log_split_test refuses a memslot that is not whole THP pages.
            self.assertEqual(argv[argv.index("-b") + 1], size)
        sv39 = [r for r in plans.RISCV_MODES if r.name == "sv39x4.split.thp.clear_256K"]
        # QEMU 10 runs each g-stage mode at the top of its address space
        self.assertEqual(plans.argv(sv39[0], TARGETS["riscv64"])[-3:],
                         ("256K", "-m", "25"))
        self.assertNotIn("-p", plans.argv(sv39[0], TARGETS["riscv64"]))
        self.assertEqual(plans.split_run("anonymous_thp", "all", 1 << 28, 1, 2, stall=True)
                         .argv[-1], "-l")

    def test_fake_target_takes_no_mode(self):
        self.assertNotIn(" -m ", plans.render(plans.CHECK, FAKE_TARGET))


class AccelTest(unittest.TestCase):
    def test_accel(self):
        self.assertEqual(boot.accel_args(""), ())
        self.assertEqual(boot.accel_args("tcg,thread=single"), ("-accel", "tcg,thread=single"))
        self.assertEqual(boot.accel_args("kvm"), ("-accel", "kvm"))

    def test_bad_accel(self):
        from wb.errors import WorkbenchError
        for bad in ("single", "tcg thread=single", "tcg,thread", "tcg,-bios=x;rm"):
            with self.assertRaisesRegex(WorkbenchError, "ACCEL=.*e.g. ACCEL=tcg,thread=single"):
                boot.accel_args(bad)


class PowerOffTest(unittest.TestCase):
    """A guest that ran its plan but cannot power off is stopped, not timed out."""

    def test_halted_guest_after_its_plan_is_done(self):
        tmp = tempfile.mkdtemp(prefix="wb-poweroff-")
        self.addCleanup(shutil.rmtree, tmp, True)
        fake = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake", "qemu")
        image, initrd = os.path.join(tmp, "Image"), os.path.join(tmp, "initrd")
        with open(image, "w") as f:
            f.write("nopoweroff\n")
        init = os.path.join(tmp, "init")
        with open(init, "w") as f:
            f.write("")
        boot.make_initramfs(initrd, init, "", {})
        cmd = [fake, "-kernel", image, "-initrd", initrd, "-append", ""]
        with mock.patch.object(boot, "POWER_OFF_GRACE_S", 1):
            res = boot.boot(cmd, os.path.join(tmp, "console.log"), timeout=60)
        self.assertEqual(res.status, "done")
        self.assertLess(res.seconds, 30)


class AtomicWriteTest(unittest.TestCase):
    def test_failed_write_leaves_old_content_and_no_temp_file(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        path = os.path.join(tmp, "records.json")
        util.write_atomic(path, "old")

        class Boom:
            def __str__(self):
                raise RuntimeError

        with self.assertRaises(TypeError):
            util.write_atomic(path, Boom())
        self.assertEqual(open(path).read(), "old")
        self.assertEqual(os.listdir(tmp), ["records.json"])


if __name__ == "__main__":
    unittest.main()


class ProfileTest(unittest.TestCase):
    STAT = ["perf.calls0: Function                               Hit    Time            Avg",
            "perf.calls0: --------                               ---    ----            ---",
            "perf.calls0: stage2_split_walker                  65664    123.4 us        1.8 ns"]

    def test_profile_steps_wrap_the_run(self):
        run = plans.Run("perf", ("dirty_log_perf_test",), profile=("stage2_split_walker",))
        text = plans.render([run], FAKE_TARGET)
        self.assertRegex(text, r"set_ftrace_filter stage2_split_walker\n.*"
                               r"function_profile_enabled 1\nrun perf .*\n.*"
                               r"function_profile_enabled 0\ncat perf.calls0 .*function0\n"
                               r"cat perf.calls1 .*function1\n")

    def test_counts_from_every_cpu_join_the_run_record(self):
        from wb.build import Variant
        from wb.results import from_ktap
        console = ("KTAP version 1\n1..3\n# duration: perf 1.000 s\nok 1 perf\n"
                   + "\n".join("# " + l for l in self.STAT) + "\nok 2 perf.calls0\n"
                   + "\n".join("# " + l.replace("calls0", "calls1").replace("65664", "12")
                               for l in self.STAT) + "\nok 3 perf.calls1\n")
        recs = from_ktap(ktap.parse(console), Variant(FAKE_TARGET, "base"), {})
        self.assertEqual([r.name for r in recs], ["perf"])
        self.assertEqual(recs[0].values["calls:stage2_split_walker"], [65676])


class ProfileNameTest(unittest.TestCase):
    def test_cut_names_get_their_full_name_and_misses_count_zero(self):
        from wb.results import Record, name_profiled
        rec = Record(stage="run", name="r", status="pass",
                     values={"calls:kvm_arch_flush_remote_tlbs_ran": [4110],
                             "calls:kvm_riscv_mmu_map": [7]})
        name_profiled(rec, ("kvm_arch_flush_remote_tlbs_range", "kvm_riscv_mmu_map",
                            "kvm_riscv_gstage_split_huge"))
        self.assertEqual(rec.values, {"calls:kvm_arch_flush_remote_tlbs_range": [4110],
                                      "calls:kvm_riscv_mmu_map": [7],
                                      "calls:kvm_riscv_gstage_split_huge": [0]})


class SparseToolTest(unittest.TestCase):
    """A sparse the kernel accepts: the system's, else one built from Debian source."""

    def setUp(self):
        self.tree = tempfile.mkdtemp(prefix="wb-sparse-")
        os.makedirs(os.path.join(self.tree, "scripts"))
        self.addCleanup(shutil.rmtree, self.tree, ignore_errors=True)

    def _checker(self, accepts):
        with open(os.path.join(self.tree, "scripts", "checker-valid.sh"), "w") as f:
            f.write(f"#!/bin/sh\necho {1 if accepts else 0}\n")

    def test_system_sparse_is_used_when_the_kernel_accepts_it(self):
        from wb import tools
        self._checker(True)
        with mock.patch("shutil.which", return_value="/usr/bin/sparse"), \
             mock.patch.object(tools, "build_sparse") as build:
            self.assertEqual(tools.sparse(None, self.tree), ("/usr/bin/sparse", ""))
        build.assert_not_called()

    def test_a_refused_sparse_is_replaced_or_explained(self):
        from wb import tools
        from wb.errors import WorkbenchError
        self._checker(False)
        with mock.patch("shutil.which", return_value="/usr/bin/sparse"), \
             mock.patch.object(tools, "build_sparse",
                               side_effect=WorkbenchError("mirror unreachable")):
            path, why = tools.sparse(None, self.tree)
        self.assertIsNone(path)
        self.assertIn("mirror unreachable", why)
