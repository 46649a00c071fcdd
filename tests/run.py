"""Run the unit tests, one 'RESULT <status> <Class.test>' line per test on stdout.

make check counts these lines; tracebacks of failures go to stderr.
"""

import os
import sys
import unittest


class LineResult(unittest.TextTestResult):
    def _line(self, status, test):
        name = f"{type(test).__name__}.{getattr(test, '_testMethodName', str(test))}"
        print(f"RESULT {status} {name}", flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line("pass", test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line("fail", test)

    def addError(self, test, err):
        super().addError(test, err)
        self._line("fail", test)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line("skip", test)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._line("pass", test)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line("fail", test)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    suite = unittest.defaultTestLoader.discover(here, top_level_dir=os.path.dirname(here))
    runner = unittest.TextTestRunner(stream=sys.stderr, resultclass=LineResult, verbosity=0)
    return 0 if runner.run(suite).wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
