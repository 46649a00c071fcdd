import contextlib
import glob
import os
import re
import shutil
import subprocess
import unittest
from unittest import mock

from tests.fakes import FAKE, Workbench, git, quiet
from wb import send, source, tree
from wb.errors import WorkbenchError

ADA = "Ada Lovelace <ada@example.org>"
FIXES = 'Fixes: 0123456789ab ("KVM: arm64: An old change")'
WHY = ("The harness's tests need a change in the series to see how make series "
       "sends it, so this commit makes one, on purpose, here.")


@contextlib.contextmanager
def identity(tmp, name=None, email=None):
    """git sees only this identity: a global config of our own, no system
    config, no identity in the environment."""
    path = os.path.join(tmp, "gitconfig-identity")
    with open(path, "w") as f:
        if name or email:
            f.write("[user]\n" + (f"\tname = {name}\n" if name else "")
                    + (f"\temail = {email}\n" if email else ""))
    with mock.patch.dict(os.environ, {"GIT_CONFIG_GLOBAL": path,
                                      "GIT_CONFIG_NOSYSTEM": "1"}):
        for k in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
                  "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"):
            os.environ.pop(k, None)
        yield


def read(path):
    with open(path) as f:
        return f.read()


def headers(text):
    """{name: value} of a mail's headers, continuation lines unfolded."""
    head = text.split("\n\n", 1)[0]
    return dict(re.findall(r"^([\w-]+): (.*)$", re.sub(r"\n[ \t]+", " ", head), re.M))


class SeriesTest(unittest.TestCase):
    def setUp(self):
        self.wb = Workbench()
        with quiet():
            source.prepare(self.wb.layout, "patched", self.wb.ksrc)
            tree.apply(self.wb.layout)
        self.wb.commit_in_tree("tools/testing/selftests/kvm/new_test.c", "int x;\n",
                               "KVM: selftests: Add a test", body=WHY)
        self.wb.commit_in_tree("tools/testing/selftests/kvm/other_test.c", "int y;\n",
                               "KVM: selftests: Add another test", body=WHY)
        self.wb.commit_in_tree("arch/arm64/kvm/mmu.c", "/* fixed */\n",
                               "KVM: arm64: Correct a thing", body=f"{WHY}\n\n{FIXES}")
        self.wb.write_patch("selftests", "cover", "KVM: selftests: Two tests\n\nWhy.\n")
        self.wb.write_patch("arm64", "cover", "KVM: arm64: One fix\n\nWhy.\n")
        with quiet():
            tree.export(self.wb.layout)
        self.out = os.path.join(self.wb.layout.build, "send")

    def tearDown(self):
        self.wb.close()

    def write(self, name="Ada Lovelace", email="ada@example.org"):
        """({series: directory}, {series: why not written})"""
        with identity(self.wb.tmp, name, email), quiet():
            return send.write_series(self.wb.layout, send.sender(self.wb.layout))

    def files(self, series):
        return sorted(os.listdir(os.path.join(self.out, series)))

    def test_missing_identity_is_a_clear_error(self):
        for name, email, missing in ((None, None, "user.name and user.email"),
                                     ("Ada Lovelace", None, "user.email")):
            with identity(self.wb.tmp, name, email), self.assertRaises(WorkbenchError) as e:
                send.sender(self.wb.layout)
            message = str(e.exception)
            self.assertIn(f"git has no {missing}", message)
            self.assertIn("GIT_COMMITTER_NAME=", message)
            self.assertNotIn("\n", message)
        self.assertFalse(os.path.exists(self.out))

    def test_the_workbench_identity_is_not_a_sender(self):
        with identity(self.wb.tmp, source.GIT_IDENTITY["GIT_AUTHOR_NAME"],
                      source.GIT_IDENTITY["GIT_AUTHOR_EMAIL"]), \
                self.assertRaisesRegex(WorkbenchError, "neutral"):
            send.sender(self.wb.layout)

    def test_environment_identity_wins(self):
        with identity(self.wb.tmp, "Ada Lovelace", "ada@example.org"), \
                mock.patch.dict(os.environ, {"GIT_COMMITTER_NAME": "Grace Hopper",
                                             "GIT_COMMITTER_EMAIL": "grace@example.org"}):
            self.assertEqual(send.sender(self.wb.layout),
                             "Grace Hopper <grace@example.org>")

    def test_numbering_and_file_order(self):
        self.write()
        self.assertEqual(self.files("selftests"),
                         ["0000-cover-letter.patch", "0001-KVM-selftests-Add-a-test.patch",
                          "0002-KVM-selftests-Add-another-test.patch"])
        subjects = [headers(read(os.path.join(self.out, "selftests", f)))["Subject"]
                    for f in self.files("selftests")]
        self.assertEqual(subjects, ["[PATCH 0/2] KVM: selftests: Two tests",
                                    "[PATCH 1/2] KVM: selftests: Add a test",
                                    "[PATCH 2/2] KVM: selftests: Add another test"])
        self.assertEqual(headers(read(os.path.join(self.out, "arm64", "0001-KVM-arm64-Correct-a-"
                                                   "thing.patch")))["Subject"],
                         "[PATCH 1/1] KVM: arm64: Correct a thing")

    def test_a_lone_patch_goes_without_a_cover_letter(self):
        os.unlink(os.path.join(self.wb.layout.series, "arm64", "cover"))
        with quiet():
            tree.export(self.wb.layout)
        self.assertEqual(sorted(os.listdir(os.path.join(self.wb.layout.series, "arm64"))),
                         ["0001-KVM-arm64-Correct-a-thing.patch"])
        self.write()
        self.assertEqual(self.files("arm64"), ["0001-KVM-arm64-Correct-a-thing.patch"])
        text = read(os.path.join(self.out, "arm64", "0001-KVM-arm64-Correct-a-thing.patch"))
        self.assertEqual(headers(text)["Subject"], "[PATCH] KVM: arm64: Correct a thing")
        self.assertEqual(text.split("\n---\n", 1)[0].count("Signed-off-by:"), 1)
        self.assertRegex(text, r"\n\nbase-commit: [0-9a-f]{40}\n$")

    def test_a_series_tag_file_marks_it_rfc(self):
        self.wb.write_patch("arm64", "tag", "RFC PATCH\n")
        self.write()
        arm = headers(read(os.path.join(self.out, "arm64", "0001-KVM-arm64-Correct-a-thing.patch")))
        self.assertEqual(arm["Subject"], "[RFC PATCH 1/1] KVM: arm64: Correct a thing")
        cover = headers(read(os.path.join(self.out, "arm64", "0000-cover-letter.patch")))
        self.assertTrue(cover["Subject"].startswith("[RFC PATCH 0/1] "), cover["Subject"])

    def test_from_and_signed_off_by_are_the_senders(self):
        self.write()
        for path in glob.glob(os.path.join(self.out, "*", "*.patch")):
            text = read(path)
            self.assertEqual(headers(text)["From"], ADA, path)
            self.assertNotIn("workbench@invalid", text, path)
            if path.endswith("0000-cover-letter.patch"):
                self.assertNotIn("Signed-off-by", text)
                self.assertIn("\nAda Lovelace (", text)
                continue
            message = text.split("\n\n", 1)[1].split("\n---\n", 1)[0]
            self.assertEqual(message.count("Signed-off-by:"), 1, path)
            self.assertTrue(message.endswith(f"\n\nSigned-off-by: {ADA}")
                            or message.endswith(f"{FIXES}\nSigned-off-by: {ADA}"), message)
        arm = read(os.path.join(self.out, "arm64", "0001-KVM-arm64-Correct-a-thing.patch"))
        self.assertIn(f"\n\n{FIXES}\nSigned-off-by: {ADA}\n---\n", arm)

    def test_git_reads_the_mails_as_the_senders_patches(self):
        self.write()
        work = os.path.join(self.wb.tmp, "am")
        git(self.wb.kernel_tree, "worktree", "add", "-q", "--detach", work, "base")
        git(work, "am", *sorted(glob.glob(os.path.join(self.out, "selftests", "000[1-9]-*"))))
        log = git(work, "log", "--format=%an <%ae>|%s|%(trailers:key=Signed-off-by)",
                  "base..HEAD")
        self.assertEqual(log.splitlines(), [
            f"{ADA}|KVM: selftests: Add another test|Signed-off-by: {ADA}", "",
            f"{ADA}|KVM: selftests: Add a test|Signed-off-by: {ADA}"])

    def test_a_non_ascii_name_is_encoded(self):
        self.write(name="Zoë Núñez", email="zoe@example.org")
        path = os.path.join(self.out, "arm64", "0001-KVM-arm64-Correct-a-thing.patch")
        text = read(path)
        self.assertIn("Content-Type: text/plain; charset=UTF-8", text)
        self.assertTrue(headers(text)["From"].startswith("=?utf-8?"), text)
        info = subprocess.run(["git", "mailinfo", os.devnull, os.devnull], input=text,
                              capture_output=True, text=True).stdout
        self.assertIn("Author: Zoë Núñez\nEmail: zoe@example.org\n", info)
        self.assertIn("\nSigned-off-by: Zoë Núñez <zoe@example.org>\n---\n", text)

    def test_cover_letter_names_the_base_commit(self):
        self.write()
        base = git(self.wb.kernel_tree, "rev-parse", "base")
        for series in ("selftests", "arm64"):
            cover = read(os.path.join(self.out, series, "0000-cover-letter.patch"))
            self.assertTrue(cover.endswith(f"\nbase-commit: {base}\n"), cover)
            self.assertIn("Why.", cover)

    def test_maintainers_to_lists_and_reviewers_cc(self):
        self.write()
        patch = headers(read(os.path.join(self.out, "arm64", "0001-KVM-arm64-Correct-a-thing.patch")))
        self.assertEqual(patch["To"], "Arm Keeper <arm.keeper@invalid>")
        self.assertEqual(patch["Cc"], "Arm Reader <arm.reader@invalid>, kvmarm@lists.invalid, "
                                      "linux-kernel@lists.invalid")
        cover = headers(read(os.path.join(self.out, "selftests", "0000-cover-letter.patch")))
        self.assertEqual(cover["To"], "Self Tester <self.tester@invalid>")
        self.assertEqual(cover["Cc"], "linux-kselftest@lists.invalid, linux-kernel@lists.invalid")

    def test_cover_gets_the_union_of_its_patches(self):
        self.assertEqual(send.merge_recipients([(["A <a@x>"], ["l@x", "B <b@x>"]),
                                                (["B <b@x>", "C <c@x>"], ["l@x", "m@x"])]),
                         (["A <a@x>", "B <b@x>", "C <c@x>"], ["l@x", "m@x"]))

    def test_series_without_patches_is_skipped(self):
        os.makedirs(os.path.join(self.out, "riscv"))
        self.write()
        self.assertEqual(sorted(os.listdir(self.out)), ["arm64", "selftests"])

    def test_output_is_replaced_whole_or_not_at_all(self):
        self.write()
        stale = os.path.join(self.out, "selftests", "0003-stale.patch")
        with open(stale, "w") as f:
            f.write("from an older run\n")
        before = {p: read(p) for p in glob.glob(os.path.join(self.out, "selftests", "*"))}
        real, calls = send.recipients, []

        def fail_on_second(*args):
            calls.append(args)
            if len(calls) == 2:
                raise WorkbenchError("get_maintainer.pl failed")
            return real(*args)
        with mock.patch.object(send, "recipients", fail_on_second):
            written, failed = self.write(name="Grace Hopper", email="grace@example.org")
        # The series that failed half-way keeps its old set, whole; the other
        # one is written; no temporary directory is left.
        self.assertEqual(list(failed), ["selftests"])
        self.assertEqual(list(written), ["arm64"])
        self.assertEqual({p: read(p) for p in glob.glob(os.path.join(self.out, "selftests", "*"))},
                         before)
        self.assertIn("Grace Hopper", read(os.path.join(self.out, "arm64",
                                                        "0000-cover-letter.patch")))
        self.assertEqual(sorted(os.listdir(self.out)), ["arm64", "selftests"])
        self.assertIn("not written: selftests", str(send.not_written_error(failed)))
        self.write()
        self.assertFalse(os.path.exists(stale))
        self.assertEqual(sorted(os.listdir(self.out)), ["arm64", "selftests"])

    def test_same_input_same_output(self):
        written, failed = self.write()
        self.assertEqual((sorted(written), failed), (["arm64", "selftests"], {}))
        first = {p: read(p) for p in glob.glob(os.path.join(self.out, "*", "*"))}
        # Both series, each a cover letter and its patches.
        self.assertEqual(sorted({os.path.basename(os.path.dirname(p)) for p in first}),
                         ["arm64", "selftests"])
        self.assertEqual(len([p for p in first if p.endswith(".patch")]), 3 + 2, first)
        self.write()
        self.assertEqual({p: read(p) for p in glob.glob(os.path.join(self.out, "*", "*"))},
                         first)

    def test_placeholder_cover_is_refused(self):
        os.unlink(os.path.join(self.wb.layout.series, "selftests", "cover"))
        with quiet():
            tree.export(self.wb.layout)
        written, failed = self.write()
        self.assertEqual(list(written), ["arm64"])
        self.assertIn("write series/selftests/cover", failed["selftests"])


class SignoffTest(unittest.TestCase):
    def test_trailer_block_or_new_paragraph(self):
        sob = "Signed-off-by: " + ADA
        self.assertEqual(send.add_signoff("Why.\n---\n diff\n", ADA),
                         f"Why.\n\n{sob}\n---\n diff\n")
        self.assertEqual(send.add_signoff(f"Why.\n\n{FIXES}\n---\n diff\n", ADA),
                         f"Why.\n\n{FIXES}\n{sob}\n---\n diff\n")
        self.assertEqual(send.add_signoff(f"Why.\n\n{sob}\n---\n", ADA), f"Why.\n\n{sob}\n---\n")
        # A changelog paragraph that merely starts with 'Word: ' is no trailer.
        self.assertEqual(send.add_signoff("Note: it is so.\n---\n", ADA),
                         f"Note: it is so.\n\n{sob}\n---\n")


def fake_ref_kernel(tmp):
    """A fake reference tree: the fake base with the selftests' Makefile's
    second line changed."""
    ref = os.path.join(tmp, "linux-7.3")
    shutil.copytree(os.path.join(FAKE, "kernel"), ref)
    for rel, old, new in (("Makefile", "SUBLEVEL = 99", "SUBLEVEL = 100"),
                          ("tools/testing/selftests/kvm/Makefile", "# from behaviour.",
                           "# from behaviour.<name> in 7.3, else")):
        path = os.path.join(ref, rel)
        text = read(path)
        assert old in text, (rel, old)
        with open(path, "w") as f:
            f.write(text.replace(old, new, 1))
    git(ref, "init", "-q", "-b", "master")
    git(ref, "add", "-A")
    git(ref, "commit", "-q", "-m", "fake v7.3.99")
    return ref


class PortabilityTest(unittest.TestCase):
    def setUp(self):
        self.wb = Workbench()
        with quiet():
            source.prepare(self.wb.layout, "patched", self.wb.ksrc)
            source.prepare(self.wb.layout, "ref", fake_ref_kernel(self.wb.tmp))
            tree.apply(self.wb.layout)
        self.ref = self.wb.layout.tree("ref")

    def tearDown(self):
        self.wb.close()

    def edit(self, rel, old, new, subject):
        text = read(os.path.join(self.wb.kernel_tree, rel))
        self.assertIn(old, text)
        self.wb.commit_in_tree(rel, text.replace(old, new, 1), subject)

    def ref_state(self):
        return (git(self.ref, "rev-parse", "HEAD"), git(self.ref, "symbolic-ref", "HEAD"),
                git(self.ref, "status", "--porcelain"), git(self.ref, "worktree", "list"))

    def test_every_patch_gets_a_verdict(self):
        kvm = "tools/testing/selftests/kvm/"
        self.wb.commit_in_tree(kvm + "new_test.c", "int x;\n", "KVM: selftests: Add a test")
        # 7.3 rewrote this line: a conflict.
        self.edit(kvm + "Makefile", "# from behaviour.", "# from behaviour.<test>",
                  "KVM: selftests: Reword a comment")
        self.wb.commit_in_tree(kvm + "other_test.c", "int y;\n",
                               "KVM: selftests: Add another test")
        # Two lines below one the reference changed: its context differs, 3-way merges it.
        self.edit("Makefile", "# once.", "# at once.", "KVM: arm64: Reword a comment")
        with quiet():
            tree.export(self.wb.layout)
        before = self.ref_state()
        with quiet():
            verdicts = send.portability(self.wb.layout)
        self.assertEqual([(v.series, v.patch, v.result, v.files) for v in verdicts], [
            ("selftests", "0001-KVM-selftests-Add-a-test.patch", "clean", ()),
            ("selftests", "0002-KVM-selftests-Reword-a-comment.patch", "conflict",
             (kvm + "Makefile",)),
            ("selftests", "0003-KVM-selftests-Add-another-test.patch", "clean", ()),
            ("arm64", "0001-KVM-arm64-Reword-a-comment.patch", "3-way", ())])
        self.assertEqual(self.ref_state(), before)
        self.assertEqual(glob.glob(os.path.join(self.wb.layout.path("tree"), ".portability*")),
                         [])
        table = send.portability_table(verdicts, "Linux 7.3")
        self.assertIn("selftests/0002-KVM-selftests-Reword-a-comment.patch  conflict  "
                      + kvm + "Makefile", table)
        self.assertTrue(table.endswith("2 clean, 1 3-way, 1 conflict"), table)

    def test_no_reference_tree_is_a_clear_error(self):
        shutil.rmtree(self.ref)
        with self.assertRaisesRegex(WorkbenchError, "make source REF=1"):
            send.portability(self.wb.layout)


if __name__ == "__main__":
    unittest.main()
