"""Job control (issue #10 item 5) and host signals: the guest's view of its
controlling terminal — foreground group, SIGTTIN/SIGTTOU, orphaned groups —
checked against Linux on a pty the test makes (guest_bins/src/jobctl.c), and
what the host sends azemu reaching the guest's handlers and default actions
as it reaches a native process (guest_bins/src/hostsig.c)."""
from __future__ import annotations

import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import time

import pytest

from conftest import LIBCS, ROOT, guest

TRAP_MODES = ("linux", "lwk", "unikernel")


def _azemu(mode, *argv):
    return [sys.executable, "-m", "azemu", "exec", "--mode", mode, *argv]


def _env():
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def run_on_a_terminal(argv, timeout=90):
    """Run `argv` as the leader of a new session whose controlling terminal
    is a new pty (stdin, stdout, stderr); its exit status."""
    master, slave = os.openpty()

    def become_leader():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, preexec_fn=become_leader,
                         env=_env(), close_fds=True)
    os.close(slave)
    end = time.monotonic() + timeout
    try:
        while p.poll() is None and time.monotonic() < end:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    os.read(master, 4096)        # keep the pty drained
                except OSError:
                    break
        return p.wait(timeout=max(1.0, end - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


@pytest.mark.parametrize("mode", TRAP_MODES)
@pytest.mark.parametrize("libc", LIBCS)
def test_job_control_on_the_terminal_matches_linux(libc, mode, tmp_path):
    """tcgetpgrp/tcsetpgrp/tcgetsid and their errors; a background group
    reading the terminal stops with SIGTTIN (EIO with SIGTTIN ignored or
    blocked); tcsetpgrp from the background stops with SIGTTOU and, once the
    group is given the terminal and continued, finishes; TOSTOP (set with
    tcsetattr, applied to the real terminal) stops a background write; a new
    session has no controlling terminal; an orphaned group drops SIGTSTP and
    reads EIO; a group orphaned with a stopped member gets SIGHUP, SIGCONT."""
    exe = guest(libc, "jobctl")
    native, emulated = tmp_path / "native", tmp_path / "azemu"
    assert run_on_a_terminal([exe, str(native)]) == 0
    text = native.read_text()
    assert text.endswith("done\n") and "stopped by TTIN" in text, text
    status = run_on_a_terminal(_azemu(mode, exe, str(emulated)))
    assert emulated.read_text() == text
    assert status == 0


_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_leftovers():
    """A failed check leaves no program computing behind it."""
    yield
    while _started:
        p = _started.pop()
        if p.poll() is None:
            p.kill()
            p.wait()


def interactive_session(argv, inputs) -> str:
    """Type `inputs` ((bytes, seconds to wait after)) into `argv` running as
    a session leader on a new pty; everything the terminal showed."""
    master, slave = os.openpty()

    def become_leader():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = dict(_env(), PS1="$ ", TERM="dumb", HOME=os.environ.get("HOME", "/tmp"))
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, preexec_fn=become_leader,
                         env=env, close_fds=True)
    _started.append(p)
    os.close(slave)
    shown = []

    def drain(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    shown.append(os.read(master, 4096))
                except OSError:
                    return
    try:
        drain(2.0)
        for data, wait in inputs:
            os.write(master, data)
            drain(wait)
        p.wait(timeout=20)
        drain(0.2)
    finally:
        os.close(master)
    return b"".join(shown).decode(errors="replace").replace("\r", "")


# about 20 s each (a paced session, natively and under azemu): lwk in the
# default run, the other modes with the slow tests
@pytest.mark.parametrize("mode", [m if m == "lwk" else pytest.param(m, marks=pytest.mark.slow)
                                  for m in TRAP_MODES])
def test_an_interactive_shell_controls_its_jobs_as_natively(bash_static, mode):
    """bash -i on a terminal: Ctrl-Z stops the foreground job (the shell
    takes the terminal back: tcsetpgrp), `jobs` and `bg` see it, `wait`
    reaps it, Ctrl-C ends the next job with status 130 — natively and under
    azemu, the terminal's signals reaching the guest's foreground group."""
    typed = [(b"sleep 2\n", 1.0), (b"\x1a", 1.0), (b"jobs\n", 0.5), (b"bg\n", 0.5),
             (b"wait; echo waited $?\n", 3.0), (b"cat\n", 0.7), (b"\x03", 0.7),
             (b"echo after $?\n", 0.5), (b"exit\n", 1.0)]
    for argv in ([bash_static, "--norc", "-i"], _azemu(mode, "-q", bash_static, "--norc", "-i")):
        shown = interactive_session(argv, typed)
        for line in ("Stopped                 sleep 2", "$ bg\n[1]+ sleep 2 &", "waited 0",
                     "after 130"):
            assert line in shown, (argv[0], shown)


class Signalled:
    """A program that other processes send signals to, with its stdout."""

    def __init__(self, argv, **kw):
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), **kw)
        _started.append(self.p)
        assert self.line() == b"ready\n"

    def line(self, timeout=60) -> bytes:
        assert select.select([self.p.stdout], [], [], timeout)[0], "no line from the program"
        return self.p.stdout.readline()

    def send(self, sig) -> None:
        os.kill(self.p.pid, sig)

    def status(self, timeout=30) -> int:
        try:
            rc = self.p.wait(timeout=timeout)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        return 128 - rc if rc < 0 else rc

    def state(self) -> str:
        with open(f"/proc/{self.p.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]


def _handlers_transcript(argv):
    s = Signalled(argv)
    lines = []
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGWINCH, signal.SIGINT,
                signal.SIGTERM):
        s.send(sig)
        lines.append(s.line())
    lines.append(s.line())
    return lines, s.status()


@pytest.mark.parametrize("mode", TRAP_MODES)
def test_host_signals_reach_the_guests_handlers(mode):
    """SIGUSR1, SIGUSR2, SIGHUP, SIGWINCH, SIGINT and SIGTERM sent to azemu
    run the guest's handlers, in order, as they do natively."""
    exe = guest("glibc", "hostsig")
    native = _handlers_transcript([exe, "handlers"])
    assert native[0][-1] == b"done\n" and native[1] == 0
    assert _handlers_transcript(_azemu(mode, exe, "handlers")) == native


@pytest.mark.parametrize("mode", TRAP_MODES)
@pytest.mark.parametrize("sig", (signal.SIGTERM, signal.SIGINT))
def test_a_computing_guest_ends_by_a_host_signal(mode, sig):
    """A guest that never makes a syscall, at a signal's default action,
    ends at once with the status of death by that signal."""
    s = Signalled(_azemu(mode, guest("glibc", "hostsig"), "compute"))
    time.sleep(0.3)
    t = time.monotonic()
    s.send(sig)
    assert s.status(timeout=20) == 128 + sig     # (killed after 20 s if not)
    assert time.monotonic() - t < 10


@pytest.mark.parametrize("mode", TRAP_MODES)
def test_a_third_held_back_signal_ends_a_guest_that_makes_no_syscall(mode):
    """A handler of a guest that computes without syscalls runs at its next
    syscall (Unicorn cannot be stopped safely inside a run that is not time
    sliced); so the third SIGINT held back ends it with SIGINT's default
    action, as a user's repeated Ctrl-C should (kernels/hostsig.py)."""
    s = Signalled(_azemu(mode, guest("glibc", "hostsig"), "handled-compute"))
    time.sleep(0.3)
    for _ in range(2):
        s.send(signal.SIGINT)
        time.sleep(0.3)
    assert s.p.poll() is None                 # held back for the handler
    s.send(signal.SIGINT)
    assert s.status(timeout=20) == 128 + signal.SIGINT


def _stop_and_continue(argv) -> int:
    """SIGTSTP, then SIGCONT, then SIGINT to a computing program in a process
    group of its own (its parent, in another group of the session, keeps
    the group from being orphaned, where SIGTSTP would be dropped)."""
    s = Signalled(argv, process_group=0)
    s.send(signal.SIGTSTP)
    end = time.monotonic() + 10
    while s.state() != "T" and time.monotonic() < end:
        time.sleep(0.05)
    assert s.state() == "T"
    s.send(signal.SIGCONT)
    end = time.monotonic() + 10
    while s.state() == "T" and time.monotonic() < end:
        time.sleep(0.05)
    assert s.state() != "T"
    s.send(signal.SIGINT)
    return s.status()


@pytest.mark.parametrize("mode", TRAP_MODES)
def test_ctrl_z_stops_azemu_as_a_job_and_sigcont_resumes_it(mode):
    """SIGTSTP at its default stops the guest's first process — azemu stops
    on the host, as the job would — and SIGCONT lets it go on."""
    exe = guest("glibc", "hostsig")
    assert _stop_and_continue([exe, "compute"]) == 128 + signal.SIGINT
    assert _stop_and_continue(_azemu(mode, exe, "compute")) == 128 + signal.SIGINT


def _ignoring(*sigs):
    def setup():
        for sig in sigs:
            signal.signal(sig, signal.SIG_IGN)
    return setup


@pytest.mark.parametrize("mode", TRAP_MODES)
def test_signals_ignored_at_start_stay_ignored(mode):
    """What azemu was started with ignored (nohup, a background job) the
    guest starts with ignored, as execve keeps it."""
    exe = guest("glibc", "hostsig")
    setup = _ignoring(signal.SIGINT, signal.SIGHUP)
    native = subprocess.run([exe, "ignored"], capture_output=True, preexec_fn=setup)
    assert b"SIGINT: ignored" in native.stdout and b"SIGTERM: default" in native.stdout
    emulated = subprocess.run(_azemu(mode, exe, "ignored"), capture_output=True, preexec_fn=setup,
                              env=_env())
    assert emulated.stdout == native.stdout and emulated.returncode == 0


@pytest.mark.parametrize("mode", TRAP_MODES)
def test_a_signal_to_the_job_ends_the_whole_guest_group(mode):
    """SIGINT to the job's process group (what Ctrl-C does) ends the guest
    and its two children, as natively; the FWK proxy ignores it and goes
    with azemu; no process is left behind."""
    exe = guest("glibc", "hostsig")
    statuses = []
    for argv in ([exe, "children"], _azemu(mode, exe, "children")):
        s = Signalled(argv, start_new_session=True)
        time.sleep(0.3)
        os.killpg(s.p.pid, signal.SIGINT)
        statuses.append(s.status())
        end = time.monotonic() + 10
        while _group_alive(s.p.pid) and time.monotonic() < end:
            time.sleep(0.05)
        assert not _group_alive(s.p.pid), "processes of the job outlived it"
    assert statuses == [128 + signal.SIGINT] * 2


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
