"""The external conformance suite (azemu/conformance.py, `make conformance`):
a small subset of CPython's regression tests in the default run — modules
that exercise wait, files and poll — natively and under azemu in lwk mode,
compared test case by test case.  The whole run is `make conformance`."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

PYTHON = "/usr/bin/python3.11"
pytestmark = pytest.mark.skipif(not os.path.exists("/usr/lib/python3.11/test/test_os.py"),
                                reason="Debian's libpython3.11-testsuite is not installed")


def _conformance(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = tmp_path / "c.json"
    p = subprocess.run([sys.executable, "-m", "azemu", "conformance", *args, "--json", str(out)],
                       capture_output=True, env=env, timeout=600)
    return p, (json.loads(out.read_text()) if out.exists() else None)


def test_a_subset_passes_as_natively_in_lwk_mode(tmp_path):
    p, report = _conformance(tmp_path, "--mode", "lwk", "--modules", "test_wait4,test_fileio")
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    for module, per in report["modules"].items():
        c = per["lwk"]
        assert c["native_passing"] > 0 and c["differences"] == [], (module, c)
        assert c["azemu_passing"] + len(c["kept_differences"]) == c["native_passing"]
    assert b"azemu/native passing" in p.stdout


def test_what_counts_as_a_difference():
    """compare(): a test that passes natively and not under azemu (failed,
    errored, skipped, or never run because the run ended) is a difference,
    unless the kept list names it for that mode; natively failing or skipped
    tests are not counted."""
    from azemu.conformance import compare
    native = {"outcomes": {"a": ("ok", ""), "b": ("ok", ""), "c": ("ok", ""), "d": ("ok", ""),
                           "e": ("skip", "x"), "f": ("fail", "x")}, "seconds": 1.0}
    emulated = {"outcomes": {"a": ("ok", ""), "b": ("fail", "Traceback\nAssertionError: 1 != 2"),
                             "c": ("skip", "no"), "e": ("fail", ""), "f": ("fail", "")},
                "seconds": 2.0, "status": "timed out after 5 s", "unfinished": "d"}
    diffs = [{"tests": ["c"], "modes": ["lwk"], "reason": "because"}]
    c = compare(native, emulated, "lwk", diffs)
    assert c["native_passing"] == 4 and c["azemu_passing"] == 1
    assert [(d["test"], d["outcome"]) for d in c["differences"]] == [("b", "fail"), ("d", "not run")]
    assert c["differences"][0]["detail"] == "AssertionError: 1 != 2"
    assert c["kept_differences"] == [{"test": "c", "outcome": "skip", "detail": "no", "reason": "because"}]
    assert len(compare(native, emulated, "linux", diffs)["differences"]) == 3


def test_a_hung_or_crashing_test_case_does_not_end_the_module(tmp_path):
    """run_module() as regrtest does it: a test case that runs past the
    per-test limit ends as "timeout", one that takes the interpreter down
    as "crash", and the test cases after each still run (in a new
    interpreter given their ids)."""
    from azemu.conformance import run_module
    pkg = tmp_path / "lib" / "test"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(          # this test package, then the stdlib's
        "import pkgutil\n__path__ = pkgutil.extend_path(__path__, __name__)\n")
    (pkg / "test_fake.py").write_text(
        "import os, time, unittest\n"
        "class T(unittest.TestCase):\n"
        "    def test_a(self): pass\n"
        "    def test_b(self): time.sleep(600)\n"
        "    def test_c(self): os._exit(3)\n"
        "    def test_d(self): self.assertEqual(1, 2)\n"
        "    def test_e(self): pass\n")
    python = tmp_path / "python"                # the driver's interpreter, seeing lib/ first
    python.write_text(f"#!/bin/sh\nshift 2\nexec {PYTHON} -s -c 'import runpy, sys; "
                      f"sys.path.insert(0, \"{tmp_path / 'lib'}\"); sys.argv = sys.argv[1:]; "
                      "runpy.run_path(sys.argv[0], run_name=\"__main__\")' \"$@\"\n")
    python.chmod(0o755)
    r = run_module("test_fake", None, str(python), timeout=120, test_timeout=3)
    got = {t.rsplit(".", 1)[1]: o for t, (o, _) in r["outcomes"].items()}
    assert got == {"test_a": "ok", "test_b": "timeout", "test_c": "crash", "test_d": "fail",
                   "test_e": "ok"}, r
    assert r["status"] == "done" and r["seconds"] < 60
