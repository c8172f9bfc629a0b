"""`#!` scripts given to `azemu exec` run through their interpreter, as
execve runs them (fs/binfmt_script.c): argv becomes [interpreter, optional
argument, script path, the script's arguments...], interpreters may be
scripts themselves, and under --root the interpreter is found inside the
root.  Compared with the host kernel running the same script."""
from __future__ import annotations

import errno
import shutil
import subprocess

import pytest

from conftest import assert_same, guest, run_azemu, run_native


def _script(path, line, body=b""):
    path.write_bytes(b"#!" + line + b"\n" + body)
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("mode", ("linux", "lwk", "unikernel"))
@pytest.mark.parametrize("line", [b"%s", b"%s -x", b" %s \t-x  two words \t", b"%s\t-y"],
                         ids=["plain", "argument", "spaces", "tab"])
def test_script_runs_through_its_interpreter(tmp_path, mode, line):
    s = _script(tmp_path / "s", line.replace(b"%s", guest("glibc", "args").encode()))
    assert_same(run_native([s, "a", "b c"]), run_azemu([s, "a", "b c"], extra=["--mode", mode]))


def test_interpreter_that_is_a_script(tmp_path):
    inner = _script(tmp_path / "inner", guest("musl", "args").encode() + b" -i")
    outer = _script(tmp_path / "outer", inner.encode() + b" -o")
    assert_same(run_native([outer, "z"]), run_azemu([outer, "z"]))


def test_too_many_interpreters(tmp_path):
    prev = guest("glibc", "args")
    for i in range(5):                              # five deep: Linux runs it
        prev = _script(tmp_path / f"s{i}", prev.encode())
    assert_same(run_native([prev]), run_azemu([prev]))
    prev = _script(tmp_path / "s5", prev.encode())  # a sixth: ELOOP
    with pytest.raises(OSError) as native:          # the host kernel refuses it: ELOOP
        subprocess.run([prev])
    assert native.value.errno == errno.ELOOP
    out, err, rc = run_azemu([prev])
    assert rc == 126 and len(err.splitlines()) == 1 and b"too many levels" in err


def test_interpreter_is_found_inside_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy(guest("glibc", "args"), root / "bin" / "args")
    s = _script(tmp_path / "s", b"/bin/args -r")
    for mode in ("linux", "lwk", "unikernel"):
        out, err, rc = run_azemu([s, "q"], extra=["--mode", mode, "--root", str(root)])
        assert rc == 0, err
        assert out.decode().splitlines()[1:4] == ["argv[0]=/bin/args", "argv[1]=-r", f"argv[2]={s}"]
    out, err, rc = run_azemu([s])                   # without --root, /bin/args is the host's: none
    assert rc == 127 and b"/bin/args: bad interpreter" in err


def test_busybox_shell_script(tmp_path, busybox):
    s = _script(tmp_path / "s.sh", busybox.encode() + b" sh",
                b'echo "hello from $0 with $# arguments: $*"\nfor w in one two; do echo "$w"; done\n'
                b"exit 3\n")
    assert_same(run_native([s, "x", "y"]), run_azemu([s, "x", "y"]))
