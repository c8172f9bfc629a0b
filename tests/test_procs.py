"""Processes (issue #10): fork, vfork, execve, wait, pipes, process groups and
signals between processes, checked against the host — guest_bins/src/procs.c
and busybox sh scripts run natively and under azemu — and blocking calls
that must not stall the instance (guest_bins/src/block_pair.c)."""
from __future__ import annotations

import os
import shutil

import pytest

from conftest import LIBCS, assert_same, guest, run_azemu, run_native

TRAP_MODES = ("linux", "lwk", "unikernel")


@pytest.mark.parametrize("mode", TRAP_MODES)
@pytest.mark.parametrize("libc", LIBCS)
def test_processes_match_linux(libc, mode, tmp_path):
    """Exit codes and signals through wait, copy-on-write, a shared offset,
    pipes with EOF and EPIPE/SIGPIPE, execve of a program and a #! script
    and its ENOENT/EACCES/ENOEXEC, vfork, posix_spawn, popen, system,
    WNOHANG, waitid, orphans, process groups, a 100-test fork harness."""
    exe = guest(libc, "procs")
    (tmp_path / "n").mkdir()
    (tmp_path / "a").mkdir()
    native = run_native([exe, str(tmp_path / "n")])
    assert native[0].endswith(b"done\n") and b"harness: 86 passed, 14 failed" in native[0]
    assert_same(native, run_azemu([exe, str(tmp_path / "a")], extra=["--mode", mode]))


@pytest.mark.parametrize("libc", LIBCS)
def test_libos_images_make_processes_as_linux_does(libc, tmp_path):
    """A source-compatible unikernel image (azemu build) forks, vforks,
    execs, spawns, popens and runs the 100-test harness: each new process is
    a clone of its unikernel instance (kernels/instances.py), exec boots it
    again; the output is the native program's."""
    (tmp_path / "n").mkdir()
    (tmp_path / "a").mkdir()
    native = run_native([guest(libc, "procs"), str(tmp_path / "n")])
    assert native[0].endswith(b"done\n")
    assert_same(native, run_azemu([guest(f"libos/{libc}", "procs"), str(tmp_path / "a")],
                                  extra=["--mode", "unikernel"]))


def test_a_unikernel_process_is_an_instance_of_its_own(busybox, tmp_path):
    """In unikernel mode a shell loop's processes are instances: each fork
    clones one (counted as such, not as a fork), each exec boots one again,
    no core ever passes from one process to another, and the cores of
    ended instances serve the next ones."""
    from kernels import Kernel
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for applet in ("sh", "cat", "wc"):
        os.symlink(busybox, bindir / applet)
    out = tmp_path / "out.txt"
    script = f"for i in 1 2 3; do echo $i | cat | wc -l; done > {out}"
    k = Kernel(mode="unikernel", memory=256 << 20)
    try:
        k.exec(str(bindir / "sh"), [b"sh", b"-c", script.encode()], [f"PATH={bindir}".encode()])
        how = k.run()
        stats, cores, booted = k.stats(), len(k.part.cores), k.instances.booted
    finally:
        k.close()
    assert how.exit_status == 0 and out.read_text() == "1\n1\n1\n"
    assert stats.fork == stats.execve == stats.process_switch == 0
    assert stats.instance_clone >= 9 and stats.instance_boot >= 6
    assert booted == stats.instance_clone + 1
    assert cores < booted                    # ended instances' cores were used again


@pytest.mark.parametrize("mode", TRAP_MODES)
@pytest.mark.parametrize("libc", LIBCS)
def test_pidfds_and_rusage_match_linux(libc, mode):
    """pidfd_open, clone(CLONE_PIDFD) and clone3's pidfd, poll on a pidfd
    before and after the exit and the reap, pidfd_send_signal, waitid(P_PIDFD)
    (non-blocking: EAGAIN), pidfd_getfd and the errors; then rusage from
    wait4, waitid, getrusage(RUSAGE_CHILDREN) and times() for a child that
    burns CPU, touches 4 MiB and blocks once (compared as thresholds)."""
    exe = guest(libc, "pidfds")
    native = run_native([exe])
    assert native[0].endswith(b"done\n") and b"CPU time at least the 50 ms it burned: yes" in native[0]
    assert_same(native, run_azemu([exe], extra=["--mode", mode]))


SCRIPT = r"""
set -e
echo start
printf 'b\na\nc\nb\n' | sort | uniq | tr a-z A-Z | cat -n
x=$(echo inner $(echo nested))
echo "substituted: $x"
( cd / && pwd; exit 3 ) || echo "subshell status $?"
sleep 0.05 & p1=$!
(echo background; exit 4) & p2=$!
wait $p1; echo "waited $?"
wait $p2 || echo "second job $?"
cat <<EOF | wc -l
one
two
three
EOF
trap 'echo trapped on exit' EXIT
for i in 1 2 3; do echo "$i"; done | while read n; do echo "got $n"; done
false || echo "false failed as it should"
sh -c 'exit 6' || echo "child shell $?"
echo "$(seq 1 2000 | tail -1)"
exit 5
"""


@pytest.mark.parametrize("mode", TRAP_MODES)
def test_busybox_shell_script_matches_linux(busybox, mode, tmp_path):
    """Pipelines of four stages, command substitution (nested), subshells,
    background jobs and wait, a here-document, trap, set -e, exit status."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for applet in ("sh", "sort", "uniq", "tr", "cat", "wc", "sleep", "seq", "tail", "pwd", "printf"):
        os.symlink(busybox, bindir / applet)
    env = {"PATH": str(bindir), "LC_ALL": "C"}
    native = run_native([busybox, "sh", "-c", SCRIPT], env=env)
    assert native[2] == 5 and b"trapped on exit" in native[0]
    assert_same(native, run_azemu([busybox, "sh", "-c", SCRIPT], env=dict(env, PYTHONPATH=os.environ.get("PYTHONPATH", "")),
                                  extra=["--mode", mode]))


VARIANTS = [("linux", "glibc"), ("lwk", "glibc"), ("unikernel", "glibc"),
            ("unikernel", "libos/glibc"), ("unikernel", "libos/musl")]


@pytest.mark.parametrize("cores", (1, 2))
@pytest.mark.parametrize("mode,image", VARIANTS)
@pytest.mark.parametrize("what", ("pipe", "accept"))
def test_a_blocking_call_does_not_stall_the_other_threads(what, mode, image, cores):
    """A thread blocked in read() on a pipe, or in accept4(), whose only
    waker is another thread of the process (reproduced as a deadlock
    before: the blocking host call held the instance)."""
    native = run_native([guest("glibc", "block_pair"), what])
    assert native[2] == 0
    out = run_azemu([guest(image, "block_pair"), what], extra=["--mode", mode, "--cores", str(cores)],
                    timeout=60)
    assert_same(native, out)


def test_exec_of_proc_self_exe_runs_the_guest_program_not_azemu(busybox):
    """/proc/self/exe of the host is azemu's Python: execve of it must load
    the guest's own program — busybox again, which finds no applet named
    "exe", as natively (Python would print its own usage)."""
    cmd = [busybox, "sh", "-c", "/proc/self/exe; echo status $?"]
    native = run_native(cmd)
    assert b"applet not found" in native[1]
    assert_same(native, run_azemu(cmd))


def test_exec_under_root_cannot_reach_host_programs(busybox, tmp_path):
    """Under --root, execve finds programs inside the root only: a host
    path outside it is not found, as in a chroot."""
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy(busybox, root / "bin" / "busybox")
    os.symlink("busybox", root / "bin" / "sh")
    os.symlink("busybox", root / "bin" / "echo")
    script = "/bin/echo inside; /usr/bin/env true && echo ESCAPED; exit 0"
    out, err, rc = run_azemu([str(root / "bin" / "sh"), "-c", script],
                             extra=["--root", str(root)], cwd=str(root))
    assert b"inside" in out and b"ESCAPED" not in out, (out, err)


@pytest.mark.parametrize("mode", TRAP_MODES)
@pytest.mark.parametrize("libc", LIBCS)
def test_rlimit_nproc_stops_fork_as_linux_does(libc, mode):
    """As nobody with RLIMIT_NPROC 4, the fourth process of the user is
    refused with EAGAIN (root is exempt, as on Linux)."""
    exe = guest(libc, "fork_limits")
    native = run_native([exe, "nproc"])
    assert native[2] == 0 and (b"EAGAIN after 3 children" in native[0] or native[0] == b"not root\n")
    assert_same(native, run_azemu([exe, "nproc"], extra=["--mode", mode]))


@pytest.mark.parametrize("mode", TRAP_MODES)
def test_a_fork_bomb_ends_in_the_guest_with_enomem(mode):
    """Children forked until fork fails, under --mem 64M: the instance's
    commit limit (counted over all its processes) makes fork say ENOMEM, the
    guest lets its children go and reaps them all, and azemu exits 0 — no
    OOM kill, no hang."""
    out, err, rc = run_azemu([guest("glibc", "fork_limits"), "bomb"],
                             extra=["--mode", mode, "--mem", "64M", "--cores", "2"], timeout=120)
    assert (rc, err) == (0, b""), (rc, err)
    lines = out.decode().splitlines()
    n = int(lines[-1].split()[-2])
    assert lines[-1] == f"fork failed with ENOMEM after {n} children" and n > 50, out
    assert lines[0] == f"reaped {n} children, all exited 0: yes", out


@pytest.mark.slow
def test_a_fork_bomb_with_memory_to_spare_ends_at_the_process_limit():
    """With 1 GiB the instance's process limit comes first: EAGAIN after
    4095 children (MAX_PROCS, Linux's pid_max of the instance)."""
    out, err, rc = run_azemu([guest("musl", "fork_limits"), "bomb"], extra=["--mem", "1G"],
                             timeout=300)
    assert (rc, err) == (0, b"")
    assert out.decode().splitlines() == ["reaped 4095 children, all exited 0: yes",
                                         "fork failed with EAGAIN after 4095 children"]


@pytest.mark.slow
def test_a_unikernel_fork_bomb_ends_when_the_machine_has_no_core_left():
    """On the unikernel every process is an instance with a core of its own:
    the machine's 1024 cores run out first, and fork fails with EAGAIN, in
    the guest, after 1023 children."""
    out, err, rc = run_azemu([guest("musl", "fork_limits"), "bomb"],
                             extra=["--mode", "unikernel", "--mem", "1G"], timeout=600)
    assert (rc, err) == (0, b"")
    assert out.decode().splitlines() == ["reaped 1023 children, all exited 0: yes",
                                         "fork failed with EAGAIN after 1023 children"]


def _stop_and_continue(cmd, env=None) -> tuple[bytes, int]:
    """Run `cmd`, wait until the host sees it stopped, SIGCONT it, and
    return its stdout and exit status."""
    import signal
    import subprocess
    import time
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    try:
        while True:
            with open(f"/proc/{proc.pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "T":
                    break
            assert proc.poll() is None and time.monotonic() < deadline, "it never stopped"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGCONT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return out, proc.returncode


@pytest.mark.parametrize("mode", TRAP_MODES)
def test_the_first_process_stopping_itself_stops_azemu_as_a_job(busybox, mode):
    """`kill -STOP $$` in the instance's first process stops azemu on the
    host, as the program stops natively: the host's shell sees the job stop,
    and a SIGCONT sets it going again."""
    import sys
    from conftest import ROOT
    script = ["sh", "-c", "echo before; kill -STOP $$; echo resumed; exit 3"]
    native = _stop_and_continue([busybox, *script])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    emulated = _stop_and_continue([sys.executable, "-m", "azemu", "exec", "--mode", mode,
                                   busybox, *script], env=env)
    assert native == (b"before\nresumed\n", 3) and emulated == native


@pytest.mark.parametrize("mode", TRAP_MODES)
@pytest.mark.parametrize("libc", LIBCS)
def test_a_sigchld_handler_does_not_cut_short_the_wait_it_ends(libc, mode):
    """With a SIGCHLD handler and no SA_RESTART, a wait the child's exit or
    stop ends returns the child (the handler runs on the way out), while a
    wait for another child is interrupted — as on Linux."""
    exe = guest(libc, "sigchld_wait")
    native = run_native([exe])
    assert b"wait for the child that exits: its pid, status 3, handler ran 1" in native[0]
    assert_same(native, run_azemu([exe], extra=["--mode", mode]))
