"""Real host programs that make processes (issue #10), run natively and under
azemu and compared: Debian's bash-static running a script of pipelines,
subshells, jobs, coprocesses and process substitution (/dev/fd), and the
host's python3 using subprocess, os.fork and multiprocessing
(tests/programs/py_processes.py), and a pipe's capacity (tests/programs/pipe_size.py)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import assert_same, run_azemu, run_native

TRAP_MODES = ("linux", "lwk", "unikernel")
PROGRAMS = Path(__file__).parent / "programs"
PYTHON = "/usr/bin/python3"

BASH_SCRIPT = r"""
set -e
arr=(one two three); echo "${#arr[@]} ${arr[1]}"
echo $(( 6 * 7 ))
f() { local v=$1; echo "f:$v"; return 2; }
f x || echo "f returned $?"
printf 'b\na\nc\nb\n' | sort | uniq | tr a-z A-Z | cat -n
sleep 0.05 & sleep 0.02 & wait -n; echo "one job ended"; wait
( exit 9 ) & wait $! || echo "background status $?"
{ echo a; echo b; } | while read -r l; do echo "line $l"; done
echo "$(printf '%s\n' z y x | sort | head -n 2 | tr '\n' ,)"
read -r first < <(echo from-process-substitution); echo "$first"
diff <(printf '1\n2\n') <(printf '1\n3\n') || echo "diff status $?"
coproc cat; echo ping >&"${COPROC[1]}"; read -r back <&"${COPROC[0]}"; echo "coproc: $back"
eval "exec ${COPROC[1]}>&-"; wait
cat <<END | wc -l
one
two
END
trap 'echo "trap on EXIT"' EXIT
set +e
{ bash -c 'kill -KILL $$'; } 2>/dev/null; echo "child killed: $?"
echo data > "$1/file"; cat "$1/file" /dev/stdin <<< "from a here-string"
exit 4
"""


@pytest.mark.parametrize("mode", TRAP_MODES)
def test_bash_script_matches_linux(bash_static, busybox, mode, tmp_path):
    """bash-static: arrays, functions, a four-stage pipeline, `wait -n`,
    background statuses, command and process substitution (/dev/fd/N),
    a coprocess, a here-document and here-string, trap, a child killed by
    a signal, exit status — the programs it runs are busybox applets."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for applet in ("sort", "uniq", "tr", "cat", "wc", "sleep", "head", "diff", "printf"):
        os.symlink(busybox, bindir / applet)
    os.symlink(bash_static, bindir / "bash")
    (tmp_path / "n").mkdir()
    (tmp_path / "a").mkdir()
    env = {"PATH": str(bindir), "LC_ALL": "C"}
    native = run_native([bash_static, "-c", BASH_SCRIPT, "bash", str(tmp_path / "n")], env=env)
    assert native[2] == 4 and b"from-process-substitution" in native[0], native
    emulated = run_azemu([bash_static, "-c", BASH_SCRIPT, "bash", str(tmp_path / "a")],
                         env=env, extra=["--mode", mode])
    assert_same(native, emulated)


def _python_case(mode):
    if not os.path.exists(PYTHON):
        pytest.skip(f"no {PYTHON}")
    argv = [PYTHON, str(PROGRAMS / "py_processes.py")]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    native = run_native(argv, env=env)
    assert native[2] == 0 and b"pool: [0, 1, 4" in native[0], native
    assert_same(native, run_azemu(argv, env=env, extra=["--mode", mode], timeout=300))


def test_python_subprocess_fork_and_multiprocessing_match_linux():
    """The host's python3 (dynamic): subprocess.run/Popen with pipes and a
    two-process pipeline, os.fork with a pipe, wait statuses of exits and
    signals, a multiprocessing Pool and Processes with a Queue (fork start
    method: semaphores in shared memory, futexes between processes)."""
    _python_case("linux")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ("lwk", "unikernel"))
def test_python_processes_match_linux_on_the_other_kernels(mode):
    _python_case(mode)


@pytest.mark.parametrize("mode", ("linux", "lwk", "unikernel"))
def test_pipe_capacity_matches_linux(mode):
    """F_GETPIPE_SZ / F_SETPIPE_SZ on the host pipe behind a guest pipe, and
    a writer that fills exactly the capacity (tests/programs/pipe_size.py)."""
    if not os.path.exists(PYTHON):
        pytest.skip(f"no {PYTHON}")
    argv = [PYTHON, str(PROGRAMS / "pipe_size.py")]
    native = run_native(argv)
    assert native[2] == 0 and b"filled 8000 then EAGAIN" in native[0], native
    assert_same(native, run_azemu(argv, extra=["--mode", mode]))


def test_a_guest_cannot_grow_a_host_pipe_past_pipe_max_size():
    """Attack: the guest's root asks for a pipe buffer past the host's
    pipe-max-size (host memory outside --mem; the host's root could): EPERM."""
    if not os.path.exists(PYTHON):
        pytest.skip(f"no {PYTHON}")
    with open("/proc/sys/fs/pipe-max-size") as f:
        limit = int(f.read())
    code = ("import fcntl, os\nr, w = os.pipe()\n"
            f"try:\n    fcntl.fcntl(w, 1031, {2 * limit})\n    print('grown')\n"
            "except OSError as e:\n    print('errno', e.errno)\n"
            f"print(fcntl.fcntl(w, 1031, {limit}) == {limit})\n")
    out, err, rc = run_azemu([PYTHON, "-c", code])
    assert (out, rc) == (b"errno 1\nTrue\n", 0), (out, err)
