"""Two workbench commands that write build/ must not run at once."""

import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from wb.errors import WorkbenchError
from wb.layout import Layout
from wb.lock import BuildLock, for_command

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BuildLockTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="wb-lock-")
        self.layout = Layout(repo=REPO, build=os.path.join(self.tmp, "build"))

    def tearDown(self):
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_second_writer_is_refused_naming_the_first(self):
        with BuildLock(self.layout, "check"):
            with self.assertRaisesRegex(WorkbenchError, r"in use by .*make check, pid %d"
                                        % os.getpid()):
                with BuildLock(self.layout, "run"):
                    pass

    def test_lock_is_released(self):
        with BuildLock(self.layout, "check"):
            pass
        with BuildLock(self.layout, "run"):
            pass

    def test_readers_take_no_lock(self):
        self.assertIsNone(for_command(self.layout, "report"))
        self.assertIsNotNone(for_command(self.layout, "build"))

    def test_a_dry_bench_takes_no_lock(self):
        with mock.patch.dict(os.environ, {"DRY": "1"}):
            self.assertIsNone(for_command(self.layout, "bench"))
        with mock.patch.dict(os.environ, {"DRY": "0"}):
            self.assertIsNotNone(for_command(self.layout, "bench"))

    def test_a_second_process_exits_non_zero_with_one_paragraph(self):
        env = dict(os.environ, WB_BUILD=self.layout.build)
        with BuildLock(self.layout, "check"):
            proc = subprocess.run([sys.executable, "-m", "wb", "export"], cwd=REPO, env=env,
                                  capture_output=True, text=True)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("error: build/ is in use", proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)


if __name__ == "__main__":
    unittest.main()
