"""The Python API (azemu/api.py): every example of docs/api.md runs as
written, and what they rest on — captured output, counters, syscall hooks
that change a result in every mode, code and memory hooks, machines from a
dict — holds beyond the examples."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, guest

EXAMPLES = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)


@pytest.mark.parametrize("n", range(len(EXAMPLES)))
def test_the_documented_example_runs(n, tmp_path):
    """Each example, as a user would run it: a fresh Python, another directory."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", EXAMPLES[n]], cwd=tmp_path, env=env,
                       capture_output=True, timeout=300)
    assert p.returncode == 0, EXAMPLES[n] + "\n" + p.stderr.decode()[-3000:]


def test_the_docs_have_examples_for_each_part():
    assert len(EXAMPLES) >= 6


import azemu  # noqa: E402


@pytest.mark.parametrize("mode", ["linux", "lwk", "unikernel"])
def test_a_getpid_hook_changes_what_the_program_sees(mode):
    hooks = azemu.Hooks().syscall("getpid", after=lambda call, result: 42)
    r = azemu.run("sysinfo", mode=mode, hooks=hooks)
    assert r.status == 0, r.report
    assert b"gettid()==getpid(): no" in r.stdout
    assert b"kill(getpid(), 0): -1" in r.stdout            # there is no process 42
    plain = azemu.run("sysinfo", mode=mode)
    assert b"gettid()==getpid(): yes" in plain.stdout


def test_a_libos_image_calls_its_hooks_too():
    hooks = azemu.Hooks().syscall("getpid", after=lambda call, result: 42)
    r = azemu.run(guest("libos/glibc", "sysinfo"), mode="unikernel", hooks=hooks, trace=True)
    assert b"gettid()==getpid(): no" in r.stdout
    assert {c["entry"] for c in r.trace if c["syscall"] == "getpid"} == {"call"}


def test_a_before_hook_rewrites_arguments():
    """write(1, ...) turned into write(2, ...): the text moves to stderr."""
    def to_stderr(call):
        if call.args[0] == 1:
            call.args[0] = 2
    r = azemu.run("hello", hooks=azemu.Hooks().syscall("write", before=to_stderr))
    assert r.stdout == b"" and r.stderr == b"Hello, world!\n42 3.142 azemu\n"


def test_a_hook_that_raises_stops_the_run():
    def bad(call):
        raise RuntimeError("no")
    with pytest.raises(azemu.HookError) as e:
        azemu.run("hello", hooks=azemu.Hooks().syscall("write", before=bad))
    assert isinstance(e.value.__cause__, RuntimeError)


def test_bad_hook_arguments_are_refused():
    with pytest.raises(ValueError):
        azemu.Hooks().syscall("no_such_call")
    with pytest.raises(ValueError):
        azemu.Hooks().memory(0, 2 << 20, lambda *a: None)
    with pytest.raises(ValueError):
        azemu.address_of("hello", "no_such_function")


def test_run_counts_and_exits_as_the_cli_does():
    r = azemu.run(guest("glibc", "exit_code"), ["3"], mode="lwk")
    assert (r.status, r.exit_code, r.signal) == (3, 3, None)
    assert r.counters["syscalls"] > 0 and r.counters["offload"] > 0
