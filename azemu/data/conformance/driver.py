"""Run one CPython regression-test module and record each test case's outcome.

`azemu conformance` (azemu/conformance.py) runs this file with the Python
under test — natively, then under azemu — as

    python3.11 -E -s driver.py test.test_os RESULTS.jsonl [TEST-ID ...]

and compares the two records test case by test case.  One JSON object per
line, written as it happens so a run cut short by a timeout or a crash still
says how far it got: {"plan": [id, ...]} first, then {"start": id} before a
test and {"id": id, "outcome": ok|fail|error|skip|xfail|xpass, "detail": ...}
after it.  Given TEST-IDs, only those run (the runner resumes a module after
a test that hung or crashed the interpreter).  Resources are
as regrtest gives them without -u (none: no network, no large files).
"""
import json
import sys
import unittest


def main() -> int:
    module, out = sys.argv[1], sys.argv[2]
    only = set(sys.argv[3:])
    from test import support
    support.use_resources = []
    record = open(out, "a", buffering=1)

    def put(**kw):
        record.write(json.dumps(kw) + "\n")

    class Result(unittest.TestResult):
        def startTest(self, test):
            put(start=test.id())
            super().startTest(test)

        def _done(self, test, outcome, detail=""):
            put(id=test.id(), outcome=outcome, detail=detail[-400:])

        def addSuccess(self, test):
            if test.id() not in self.failed_subtests:
                self._done(test, "ok")

        def addFailure(self, test, err):
            self._done(test, "fail", self._exc_info_to_string(err, test))

        def addError(self, test, err):
            self._done(test, "error", self._exc_info_to_string(err, test))

        def addSkip(self, test, reason):
            self._done(test, "skip", str(reason))

        def addExpectedFailure(self, test, err):
            self._done(test, "xfail")

        def addUnexpectedSuccess(self, test):
            self._done(test, "xpass")

        def addSubTest(self, test, subtest, err):
            if err is not None and test.id() not in self.failed_subtests:
                self.failed_subtests.add(test.id())
                failed = issubclass(err[0], test.failureException)
                self._done(test, "fail" if failed else "error", self._exc_info_to_string(err, test))

    try:
        suite = unittest.TestLoader().loadTestsFromName(module)
    except Exception as e:                           # the module does not import here
        put(id=module, outcome="error", detail=f"import: {type(e).__name__}: {e}")
        return 1

    def flat(s):
        for t in s:
            if isinstance(t, unittest.TestSuite):
                yield from flat(t)
            else:
                yield t
    tests = [t for t in flat(suite) if not only or t.id() in only]
    put(plan=[t.id() for t in tests])
    suite = unittest.TestSuite(tests)
    result = Result()
    result.failed_subtests = set()
    suite.run(result)
    put(end=module)
    return 0


if __name__ == "__main__":
    sys.exit(main())
