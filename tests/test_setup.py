"""Setup must install every program the harness and kbuild run.

A fresh Debian machine has only the Essential packages: a program that
setup does not provide fails there, however green CI is on a machine
where it was installed by hand (rsync once did exactly that).
"""

import glob
import os
import re
import unittest

from wb import setup
from wb.arches import ARCHES

WB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "wb")
# run([...]), subprocess.run([...]), Popen([...]), check_output([...]) whose
# argv[0] is a string literal.
CALL = re.compile(r'\b(?:run|Popen|check_output|check_call|call)\(\s*\[\s*"([^"]+)"')


def programs_the_harness_runs():
    found = {}
    for path in glob.glob(os.path.join(WB, "*.py")):
        with open(path) as f:
            for m in CALL.finditer(f.read()):
                found.setdefault(m.group(1), os.path.basename(path))
    return found


class SetupProvidesEveryProgram(unittest.TestCase):
    def provided(self):
        return set(setup.required()) | set(setup.ESSENTIAL)

    def test_the_scan_finds_the_harness_calls(self):
        found = programs_the_harness_runs()
        # The scan itself must work, or the next test passes vacuously.
        for prog in ("make", "git", "apt-get", "tar"):
            self.assertIn(prog, found)

    def test_every_program_the_harness_runs_comes_from_setup(self):
        missing = {p: f for p, f in programs_the_harness_runs().items()
                   if p not in self.provided()}
        self.assertEqual(missing, {}, "programs run by wb/ that setup does not install "
                         "(add them to setup.COMMON with their package)")

    def test_every_program_kbuild_runs_comes_from_setup(self):
        self.assertEqual([p for p in setup.KBUILD_PROGRAMS if p not in self.provided()], [])

    def test_compilers_and_emulators_come_from_setup(self):
        need = setup.required()
        for arch in ARCHES.values():
            self.assertIn(arch.cross_compile + "gcc", need)
            self.assertTrue(arch.qemu_package)

    def test_pinned_emulators_have_a_version_and_hash(self):
        from wb.layout import Layout
        rows = setup.pinned_tools(Layout.from_env())
        names = {p for p, _, _ in rows}
        for arch in ARCHES.values():
            self.assertIn(arch.qemu_package, names)
        for _, version, sha in rows:
            self.assertRegex(sha, r"^[0-9a-f]{64}$")
            self.assertTrue(version)


if __name__ == "__main__":
    unittest.main()
