"""guest/init.c built natively and run as 'init PLAN': the real run loop."""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

from wb.ktap import parse
from wb.layout import REPO

SCRIPTS = {
    "ok": "echo hi\n",
    "skip": "exit 4\n",
    "closes": "exec >&- 2>&-\nsleep 10\n",
    "orphan": 'trap "" HUP\n(trap "" HUP; sleep 30) &\necho parent done\n',
    "nul": 'printf "a\\000b\\n"\n',
}


@unittest.skipUnless(shutil.which("gcc"), "gcc not installed")
class InitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="wb-init-")
        cls.init = os.path.join(cls.tmp, "init")
        subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", cls.init,
                        os.path.join(REPO, "guest", "init.c")], check=True)
        for name, body in SCRIPTS.items():
            path = os.path.join(cls.tmp, name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\n" + body)
            os.chmod(path, 0o755)
        plan = os.path.join(cls.tmp, "plan")
        t = cls.tmp
        with open(plan, "w") as f:
            f.write(f"# a comment\n\nrun ok 5 {t}/ok\nrun fails 5 /bin/false\n"
                    f"run skip 5 {t}/skip\nrun slow 1 /bin/sleep 10\n"
                    f"run closes 2 {t}/closes\nrun orphan 5 {t}/orphan\n"
                    f"run nul 3 {t}/nul\nrun missing 3 /nonexistent\nbogus step\n"
                    f"setsym {t}/addr start no_such_symbol_anywhere\n"
                    f"setsym {t}/addr middle kvm_init\n"
                    f"kunit good {t}/good.ktap\nkunit bad {t}/bad.ktap\n"
                    f"kunit absent {t}/absent.ktap\n"
                    f"memfree m0 {t}/mi0\nmemfree m1 {t}/mi1\nmemfree m2 {t}/mi2\n"
                    f"memdrop leak_ok m0 m1 100\nmemdrop leak_bad m0 m2 100\n"
                    f"pgout p0 {t}/vs0\npgout p1 {t}/vs1\nmemgrow grew p0 p1 100\n"
                    f"memgrow grew_too_much p0 p1 10\n")
        for name, alloc, free in (("vs0", 150, 120), ("vs1", 350, 300)):
            with open(os.path.join(t, name), "w") as f:
                f.write(f"nr_free_pages 1\npgalloc_dma32 {alloc - 50}\npgalloc_normal 50\n"
                        f"pgfree {free}\n")
        for name, kb in (("mi0", 5000), ("mi1", 4950), ("mi2", 4000)):
            with open(os.path.join(t, name), "w") as f:
                f.write(f"MemTotal:       8000 kB\nMemFree:        {kb} kB\n")
        with open(os.path.join(t, "good.ktap"), "w") as f:
            f.write("KTAP version 1\n# Subtest: good\n1..2\n    ok 1 a\n"
                    "    ok 2 b # SKIP\nok 1 good\n")
        with open(os.path.join(t, "bad.ktap"), "w") as f:
            f.write("KTAP version 1\n# Subtest: bad\n1..2\n    ok 1 a\n"
                    "    not ok 2 b\nnot ok 1 bad\n")
        start = time.monotonic()
        cls.proc = subprocess.run([cls.init, plan], capture_output=True, text=True,
                                  timeout=60)
        cls.seconds = time.monotonic() - start
        cls.ktap = parse(cls.proc.stdout)
        cls.by_name = {t.name: t for t in cls.ktap.results}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def status(self, name):
        return self.by_name[name].status

    def test_plan_and_verdicts(self):
        self.assertEqual(self.ktap.planned, 23)
        self.assertEqual(len(self.ktap.results), 23)
        self.assertEqual(self.status("ok"), "pass")
        self.assertEqual(self.by_name["ok"].diag[1], "hi")
        self.assertEqual(self.status("fails"), "fail")
        self.assertEqual(self.status("skip"), "skip")
        self.assertEqual(self.status("bogus"), "fail")

    def test_kunit_suite_passes_only_without_a_failed_test(self):
        self.assertEqual(self.status("good"), "pass")
        self.assertIn("kunit good: 3 ok, 0 not ok", self.by_name["good"].diag)
        self.assertEqual(self.status("bad"), "fail")
        self.assertEqual(self.status("absent"), "fail")
        self.assertIn("kunit absent: no results", self.proc.stdout)

    def test_setsym_fails_clearly(self):
        name = f"setsym:{self.tmp}/addr"
        failed = [t for t in self.ktap.results if t.name == name]
        self.assertEqual([t.status for t in failed], ["fail", "fail"])
        self.assertIn("no address for start of no_such_symbol_anywhere", self.proc.stdout)
        self.assertIn("usage: setsym PATH start|end SYMBOL", self.proc.stdout)
        self.assertFalse(os.path.exists(f"{self.tmp}/addr"))
        self.assertEqual(self.proc.returncode, 1)
        self.assertIn("# init: done, 11 failed", self.proc.stdout)

    def test_memdrop_bounds_what_memfree_lost(self):
        self.assertEqual(self.status("m0"), "pass")
        self.assertEqual(self.status("leak_ok"), "pass")
        self.assertIn("memfree_drop_kb: 50", self.by_name["leak_ok"].diag)
        self.assertEqual(self.status("leak_bad"), "fail")
        self.assertIn("memfree_drop_kb: 1000", self.by_name["leak_bad"].diag)

    def test_memgrow_counts_pages_allocated_and_not_freed(self):
        page_kb = os.sysconf("SC_PAGESIZE") // 1024
        self.assertIn(f"pgout p0: {30 * page_kb} kB", self.by_name["p0"].diag)
        self.assertIn(f"pgout_growth_kb: {20 * page_kb}", self.by_name["grew"].diag)
        self.assertEqual(self.status("grew"), "pass" if 20 * page_kb <= 100 else "fail")
        self.assertEqual(self.status("grew_too_much"), "fail")

    def test_timeout_kills_the_test(self):
        self.assertEqual(self.status("slow"), "fail")
        self.assertIn("slow: TIMEOUT after 1 s", self.by_name["slow"].diag)

    def test_closing_stdio_does_not_escape_the_deadline(self):
        self.assertEqual(self.status("closes"), "fail")
        self.assertIn("closes: TIMEOUT after 2 s", self.by_name["closes"].diag)

    def test_a_child_holding_the_pty_does_not_fail_the_test(self):
        self.assertEqual(self.status("orphan"), "pass")
        self.assertLess(self.seconds, 10)

    def test_output_after_a_nul_byte_is_kept(self):
        self.assertIn("a?b", self.by_name["nul"].diag)

    def test_missing_binary(self):
        self.assertEqual(self.status("missing"), "fail")
        self.assertIn("exec /nonexistent: No such file or directory",
                      self.by_name["missing"].diag)


if __name__ == "__main__":
    unittest.main()
