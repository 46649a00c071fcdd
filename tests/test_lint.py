import os
import tempfile
import unittest

from tests.fakes import Workbench
from tests import test_check
from wb import lint
from wb.layout import Layout

GOOD_BODY = ("The harness needs a patch whose changelog explains why it is needed, "
             "so this one does, at some length, for the lint to accept it as it is.")


def patch_text(subject="KVM: arm64: Walk less", sender=lint.NEUTRAL_FROM, body=GOOD_BODY):
    return (f"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
            f"{sender}\nDate: Thu, 1 Jan 2026 00:00:00 +0000\nSubject: [PATCH 1/1] {subject}\n"
            f"\n{body}\n---\n x | 1 +\n\ndiff --git a/x b/x\n")


class FormatTest(unittest.TestCase):
    def problems(self, **kw):
        with tempfile.NamedTemporaryFile("w", suffix=".patch", delete=False) as f:
            f.write(patch_text(**kw))
        self.addCleanup(os.unlink, f.name)
        return " | ".join(lint.format_problems(f.name, lint.prefixes(Layout.from_env())))

    def test_good_patch(self):
        self.assertEqual(self.problems(), "")

    def test_each_rule(self):
        self.assertIn("subject prefix", self.problems(subject="arm64: Walk less"))
        self.assertIn("keep it under 75", self.problems(subject="KVM: arm64: " + "x" * 70))
        self.assertIn("say why", self.problems(body="Walk less."))
        self.assertIn("needs a 'Fixes:", self.problems(subject="KVM: arm64: Fix a walk"))
        self.assertIn("needs a 'Fixes:", self.problems(body=GOOD_BODY + "\n\nCc: stable@vger.kernel.org"))
        self.assertEqual(self.problems(subject="KVM: arm64: Fix a walk", body=GOOD_BODY +
                                       '\n\nFixes: 0123456789ab ("KVM: arm64: Walk")'), "")
        self.assertIn("no personal identity", self.problems(sender="From: A Person <a@b.c>"))
        self.assertIn("no sign-offs", self.problems(body=GOOD_BODY + "\n\nSigned-off-by: A <a@b.c>"))


class LintInCheckTest(unittest.TestCase):
    def setUp(self):
        self.wb = Workbench()

    def tearDown(self):
        self.wb.close()

    def test_checkpatch_finding_fails_make_check_and_names_the_patch(self):
        tc = test_check.CheckTest("test_clean_run_passes")
        tc.wb = self.wb
        tally = tc.assert_breaks("tools/testing/selftests/kvm/new.c", "int BADSTYLE;\n",
                                 "KVM: selftests: Add badly styled code",
                                 "checkpatch --strict", "FAKE_STYLE",
                                 "selftests/0001-KVM-selftests-Add-badly-styled-code.patch")
        self.assertEqual([r.name for r in tally.failures()],
                         ["checkpatch selftests/0001-KVM-selftests-Add-badly-styled-code.patch"])

    def test_allowlist_entry_needs_a_reason(self):
        with open(os.path.join(self.wb.layout.series, "checkpatch-allow"), "w") as f:
            f.write("MISSING_SIGN_OFF\n")
        with self.assertRaisesRegex(Exception, "checkpatch-allow:1: expected 'TYPE REASON'"):
            lint.allowed_types(self.wb.layout)


if __name__ == "__main__":
    unittest.main()
