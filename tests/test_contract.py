"""The hugepage contract end to end, with the real guest init.

plans.render asks for a pool around the runs that need it and releases it
after them; guest/init.c reserves it and says what it got; run.make_records
and bench.finish_boot turn a run whose pool could not be filled into a
skip with the reason.  The fake QEMU has its own copy of the init's side,
so here guest/init.c, built natively, carries out the plan itself, in a
user and mount namespace whose /sys/kernel/mm/hugepages is a scratch
directory: a 2M pool that fills, and no 1G pool at all.
"""

import os
import shutil
import subprocess
import tempfile
import unittest
from unittest import mock

from tests.fakes import FAKE, FAKE_ARCH, quiet
from wb import arches, bench, matrix, plans, run
from wb.build import Variant
from wb.layout import REPO

HUGEPAGES = "/sys/kernel/mm/hugepages"
THP = "/sys/kernel/mm/transparent_hugepage"
TARGET = arches.Target("fake1g", FAKE_ARCH, (), (2048, 1048576), 4, "")
# The selftest's dependence on the pool, as in dirty_log_split_test: hugetlb
# memory it cannot map fails the test.  The output is the fake selftest's.
SELFTEST = """#!/bin/sh
case "$*" in
*hugetlb_2mb*) kb=2048 ;;
*hugetlb_1gb*) kb=1048576 ;;
*) kb= ;;
esac
if [ -n "$kb" ]; then
    n=$(cat {hugepages}/hugepages-${{kb}}kB/nr_hugepages 2>/dev/null || echo 0)
    echo "pool_pages: $n"
    [ "$n" -gt 0 ] || {{ echo "==== Test Assertion Failure ===="; exit 254; }}
fi
exec {python} {fake} "$@"
"""


def _namespaces_work():
    if not (shutil.which("gcc") and shutil.which("unshare") and os.path.isdir(HUGEPAGES)
            and os.path.isdir(THP)):
        return False
    return subprocess.run(["unshare", "-Urm", "true"], capture_output=True).returncode == 0


@unittest.skipUnless(_namespaces_work(), "needs gcc, unshare -Urm and a /sys with hugepages")
class HugepageContractTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="wb-contract-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, path, text, mode=0o644):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    def test_runs_get_their_pool_and_a_missing_pool_is_a_skip(self):
        init = self.path("init")
        subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", init,
                        os.path.join(REPO, "guest", "init.c")], check=True)
        fake = os.path.join(FAKE, "kernel", "tools", "testing", "selftests", "kvm",
                            "behaviour.dirty_log_split_test")
        self.write(self.path("bin", "dirty_log_split_test"),
                   SELFTEST.format(hugepages=HUGEPAGES, python="/usr/bin/python3", fake=fake),
                   0o755)
        pool = self.path("hugepages", "hugepages-2048kB", "nr_hugepages")
        self.write(pool, "")
        self.write(self.path("thp", "enabled"), "")

        cfg = matrix.Config(targets=("fake1g",), kernels=("base",), paths=("enable",), reps=2,
                            boots=1,
                            backings=("anonymous_thp", "anonymous_hugetlb_2mb",
                                      "anonymous_hugetlb_1gb"))
        with mock.patch.dict(arches.TARGETS, {"fake1g": TARGET}):
            [b], skipped = matrix.schedule(cfg)
        self.assertEqual(skipped, [])
        text = plans.render(b.runs, TARGET, bindir=self.path("bin"))
        self.write(self.path("plan"), text)
        wanted = dict(r.hugepages[0] for r in b.runs if r.hugepages)[2048]
        command = ["unshare", "-Urm", "sh", "-c",
                   f"mount --bind {self.path('hugepages')} {HUGEPAGES} && "
                   f"mount --bind {self.path('thp')} {THP} && exec {init} {self.path('plan')}"]
        session = run.Session(Variant(TARGET, "base"), b.runs, command, text,
                              self.path("console.log"), 120)
        with quiet():
            run.carry_out(session, "the contract run", guest=False)
        records = bench.finish_boot(session.records, session.ktap, b)
        by = {r.name: r for r in records}
        console = session.result.console

        self.assertEqual(by["boot"].status, "pass", console)
        # The 2M run had its pool while it ran, and it was released after.
        two = by["split.anonymous_hugetlb_2mb.enable"]
        self.assertEqual(two.status, "pass", console)
        self.assertEqual(len(two.values["enable_s"]), 2)
        self.assertIn(f"pool_pages: {wanted}", console)
        order = [t.name for t in session.ktap.results]
        run_at = order.index("split.anonymous_hugetlb_2mb.enable")
        self.assertEqual(order[run_at - 1], f"hugepages:2048kB={wanted}")
        self.assertEqual(order[run_at + 1], "hugepages:2048kB=0")
        # The last write was 0 (a scratch file, unlike sysfs, keeps the tail
        # of a longer value written before).
        with open(pool) as f:
            self.assertEqual(f.read()[:1], "0")
        # No 1G pool: the init says so, and the run it starved is a skip.
        one = by["split.anonymous_hugetlb_1gb.enable"]
        self.assertEqual(one.status, "skip", console)
        self.assertIn("could not reserve its 1G hugepages", one.message)
        self.assertIn("wanted 1, reserved -1", one.message)
        self.assertEqual(by["split.anonymous_thp.enable"].status, "pass")
        self.assertNotIn("any test passed", by)
        with open(self.path("thp", "enabled")) as f:
            self.assertEqual(f.read(), "madvise")


if __name__ == "__main__":
    unittest.main()
