"""make profile (wb/profile.py): the plan it boots and the report it prints."""

import argparse
import os
import tempfile
import unittest
from types import SimpleNamespace
from unittest import mock

from wb import plans, profile
from wb.arches import TARGETS
from wb.build import parse_variant
from wb.errors import WorkbenchError
from wb.layout import Layout
from wb.ktap import parse

# perf report --stdio -n --sort sym --parent ... --exclude-other, as the
# guest init relays it: each line a "# " diagnostic.
REPORT = """\
# # Samples: 2K of event 'cpu-clock:k'
# # Overhead       Samples  Parent symbol                  Symbol
# # ........  ............  .............................  ......
# #
#     30.00%           300  kvm_arch_commit_memory_region  [k] stage2_map_walker
#     10.00%           100  kvm_arch_commit_memory_region  [k] __kvm_pgtable_walk
#      1.00%            10  [k] _raw_spin_lock  kvm_arch_commit_memory_region
"""


class ProfilePlanTest(unittest.TestCase):
    def test_the_test_runs_under_perf_record_and_both_are_in_the_initramfs(self):
        runs = profile.runs(cells=(("anonymous_thp", "enable"),))
        text = plans.render(runs, TARGETS["arm64-4k"])
        record = [l for l in text.splitlines() if "perf record" in l][0]
        self.assertIn("run profile.anonymous_thp.enable 900 /bin/perf record", record)
        self.assertIn("-- /bin/dirty_log_split_test -s anonymous_thp", record)
        self.assertIn("-t enable", record)
        self.assertIn(" -E 2M", record)            # arm64 asks for eager splitting
        self.assertEqual(plans.binaries(runs), ["dirty_log_split_test", "perf"])

    def test_each_path_reports_the_samples_of_its_own_ioctl(self):
        text = plans.render(profile.runs(), TARGETS["riscv64"])
        reports = [l for l in text.splitlines() if "perf report" in l]
        self.assertEqual(len(reports), len(profile.CELLS))
        for line in reports:
            path = line.split()[1].split(".")[2]
            self.assertIn(f"--parent {profile.PARENT[path]} --exclude-other", line)
            self.assertNotIn(" -m ", line)       # perf report takes no guest mode

    def test_the_perf_overlay_has_call_chains_on_every_arch(self):
        layout = Layout.from_env()
        self.assertIn("perf", parse_variant("arm64-4k-base+perf").fragments(layout))
        self.assertIn("perf-riscv64",
                      parse_variant("riscv64-patched+perf").fragments(layout))


class ProfileReportTest(unittest.TestCase):
    def ktap(self, body=REPORT):
        return parse("KTAP version 1\n1..2\nok 1 profile.anonymous_thp.enable\n"
                     + body + "ok 2 profile.anonymous_thp.enable.report\n")

    def test_samples_per_function_from_perfs_lines(self):
        self.assertEqual(profile.profiles(self.ktap()), {
            "profile.anonymous_thp.enable": {"stage2_map_walker": 300,
                                             "__kvm_pgtable_walk": 100,
                                             "_raw_spin_lock": 10}})

    def test_shares_are_of_the_cells_samples_base_beside_patched(self):
        base = profile.profiles(self.ktap())
        patched = {"profile.anonymous_thp.enable": {"stage2_split_walker": 50,
                                                    "_raw_spin_lock": 50}}
        text = profile.report({"arm64-4k": {"base": base, "patched": patched}})
        self.assertIn("base 410 samples, patched 100 samples", text)
        first = [l for l in text.splitlines() if "stage2_map_walker" in l][0]
        self.assertIn("73.2% stage2_map_walker", first)
        self.assertIn("50.0% _raw_spin_lock", first)

    def test_a_cell_without_samples_is_a_clear_error(self):
        with self.assertRaisesRegex(WorkbenchError, "arm64-4k patched profile.x.clear"):
            profile.require_samples({"arm64-4k": {"patched": {"profile.x.clear": {}}}})


class ProfileCommandTest(unittest.TestCase):
    def test_a_target_that_fails_leaves_the_finished_ones_saved(self):
        from wb import commands
        def boot(layout, variant, image, tests, runs):
            return SimpleNamespace(records=[], log="console.log", ktap=parse(
                "KTAP version 1\n1..1\n" + REPORT + "ok 1 profile.anonymous_thp.enable.report\n"))

        def perf(layout, arch, jobs):
            if arch.name == "riscv64":
                raise WorkbenchError("building perf for riscv64 failed")
            return "/perf"

        with tempfile.TemporaryDirectory() as build, \
                mock.patch("wb.setup.ensure"), mock.patch("wb.source.prepare"), \
                mock.patch("wb.tree.ensure_worktrees"), \
                mock.patch("wb.build.build_selftests", return_value={}), \
                mock.patch("wb.build.build_kernel", return_value="Image"), \
                mock.patch("wb.profile.build_perf", side_effect=perf), \
                mock.patch("wb.run.boot_variant", side_effect=boot), \
                mock.patch("wb.results.environment", return_value={}):
            layout = Layout(repo=Layout.from_env().repo, build=build)
            args = argparse.Namespace(targets="arm64-4k,riscv64", reps=2, jobs=2)
            with self.assertRaisesRegex(WorkbenchError, "finished \\(arm64-4k\\) are saved"):
                commands.cmd_profile(layout, args)
            saved = os.listdir(os.path.join(build, "results"))
            self.assertEqual(len(saved), 1)
            with open(os.path.join(build, "results", saved[0], "profile.txt")) as f:
                text = f.read()
        self.assertIn("arm64-4k profile.anonymous_thp.enable: base 410 samples", text)
        self.assertNotIn("riscv64", text)

    def test_reps_below_one_is_refused_before_any_work(self):
        from wb import commands
        with mock.patch("wb.setup.ensure") as ensure:
            with self.assertRaisesRegex(WorkbenchError, "REPS=0"):
                commands.cmd_profile(Layout.from_env(), argparse.Namespace(
                    targets="arm64-4k", reps=0, jobs=2))
        ensure.assert_not_called()


if __name__ == "__main__":
    unittest.main()
