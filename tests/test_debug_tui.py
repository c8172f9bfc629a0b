"""`azemu debug`: the terminal debugger.  Its engine (kernels/debug_session.py
over kernels/debugctl.py) driven directly; the full screen driven in tmux
as a student would, keys in and the screen read back with capture-pane
(polled until the text comes, with a generous deadline: no timing is
asserted); the --batch form; and bad input, one line each."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from conftest import ROOT, guest, run_cli

HELLO_MAIN = 0x401530                 # main of the shipped static glibc hello (test_gdb.py too)


# ---- the engine, no screen -------------------------------------------------------------

def _session(program, args=(), cores=1):
    from kernels import Kernel
    from kernels.debug_session import DebugSession, SyscallLog
    from kernels.syscalls.strace import Tracer
    log = SyscallLog()
    r, w = os.pipe()
    kernel = Kernel(strace=Tracer(log, kernel_view=True), ncores=cores,
                    stdio=[os.open(os.devnull, os.O_RDONLY), w, w])
    kernel.exec(program, [os.fsencode(program), *map(os.fsencode, args)], [])
    s = DebugSession(kernel, log)
    s.start()
    return s, kernel, r


def _next_event(s, kinds=("stop", "exit")):
    while True:
        kind, what = s.events.get(timeout=120)
        if kind in kinds:
            return kind, what


def test_the_engine_breaks_steps_runs_to_a_syscall_and_to_the_end():
    s, kernel, out = _session(guest("glibc", "hello"))
    try:
        kind, snap = _next_event(s)
        assert snap.why == "start" and snap.where.startswith("_start+0")
        s.send("b nosuch")
        assert "nosuch: no such function" in _next_event(s, ("message",))[1]
        s.send("b main")
        assert _next_event(s, ("message",))[1].startswith(f"breakpoint at {HELLO_MAIN:#x} main+0")
        s.send("b")
        assert _next_event(s, ("message",))[1] == f"breakpoints: {HELLO_MAIN:#x} main+0 (hello)"
        s.send("c")
        kind, snap = _next_event(s)
        while snap.why != "breakpoint":        # (the refreshed view after `b`)
            kind, snap = _next_event(s)
        assert snap.regs["rip"] == HELLO_MAIN and snap.where.startswith("main+0")
        current = [line for line in snap.disasm if line[4]]
        assert current[0][0] == HELLO_MAIN and current[0][5]       # current, and a breakpoint
        s.send("s")
        kind, snap = _next_event(s)
        assert snap.why == "step" and snap.regs["rip"] == HELLO_MAIN + 4
        assert {"rip", "rsp"} <= snap.changed                     # sub rsp, 8
        s.send("s")
        kind, snap = _next_event(s)
        assert snap.disasm[[x[4] for x in snap.disasm].index(True)][3].startswith("call")
        s.send("n")                                                # over puts: on to main+16
        kind, snap = _next_event(s)
        assert snap.regs["rip"] == HELLO_MAIN + 16, hex(snap.regs["rip"])
        seen = s.log.count
        s.send("y")
        kind, snap = _next_event(s)
        assert s.log.count == seen + 1 and snap.syscalls[-1].startswith("write(1, ")
        assert re.search(r"\[trap\+switch core 0, kernel;", snap.syscalls[-1])
        assert [c[:3] for c in snap.cores] == [(0, "stopped here", snap.tid)]
        s.send("c")
        kind, text = _next_event(s)
        assert kind == "exit" and text == "program exited with status 0"
        assert os.read(out, 1000) == b"Hello, world!\n42 3.142 azemu\n"
    finally:
        s.send("k")                          # (if an assertion left it stopped)
        s.join(30)
        kernel.close()


# ---- the full screen, in tmux ------------------------------------------------------------

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Screen:
    """`azemu debug ...` in a detached tmux session of 160x50, on a tmux
    server of its own (-L: no one else's sessions, environment or options)."""

    def __init__(self, *argv):
        self.name = f"azemu-debug-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.name, "-f", os.devnull]
        self.status = f"/tmp/{self.name}.status"
        cmd = " ".join(f"'{a}'" for a in (sys.executable, "-m", "azemu", "debug", *argv))
        shell = f"cd '{ROOT}' && PYTHONPATH='{ROOT}' {cmd}; echo $? > {self.status}; sleep 60"
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", "160", "-y", "50",
                        shell], check=True)
        self.socket = subprocess.run([*self.tmux, "display", "-p", "#{socket_path}"],
                                     capture_output=True, text=True).stdout.strip()

    def text(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True).stdout

    def wait(self, pattern: str, deadline: float = 90) -> str:
        end = time.monotonic() + deadline
        while True:
            text = self.text()
            if re.search(pattern, text):
                return text
            if time.monotonic() > end:
                raise AssertionError(f"no {pattern!r} on the screen:\n{text}")
            time.sleep(0.2)

    def keys(self, *keys) -> None:
        for k in keys:
            subprocess.run([*self.tmux, "send-keys", "-t", self.name, k], check=True)
            time.sleep(0.1)

    def exit_status(self, deadline: float = 30) -> int:
        end = time.monotonic() + deadline
        while not os.path.exists(self.status):
            assert time.monotonic() < end, self.text()
            time.sleep(0.2)
        with open(self.status) as f:
            return int(f.read())

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)     # its own server
        if self.socket and os.path.basename(self.socket) == self.name and os.path.exists(self.socket):
            os.unlink(self.socket)
        if os.path.exists(self.status):
            os.unlink(self.status)


@pytest.fixture
def screen():
    made = []

    def start(*argv):
        made.append(Screen(*argv))
        return made[-1]
    yield start
    for s in made:
        s.close()


@needs_tmux
def test_the_screen_breaks_at_main_steps_runs_to_a_syscall_and_to_the_exit(screen):
    sc = screen("hello")
    sc.wait(r"stopped \(start\) at 0x401570 _start")
    sc.keys("b")
    sc.keys("main", "Enter")
    sc.wait(r"breakpoint at 0x401530 main\+0")
    sc.keys("c")
    text = sc.wait(r"stopped \(breakpoint\) at 0x401530 main")
    assert re.search(r"=>B 000000401530 <main> ", text), text
    sc.keys("s")
    text = sc.wait(r"stopped \(step\) at 0x401534 main\+4")
    assert re.search(r"=>  000000401534 <main\+4>", text), text
    assert re.search(r"rip 0000000000401534 \*", text), text          # changed: marked
    assert re.search(r"rsp [0-9a-f]{16} \*", text), text
    sc.keys("y")
    text = sc.wait(r"stopped \(until\)")
    assert re.search(r"newfstatat\(1, .*\[trap\+switch core 0, kernel;", text), text
    assert re.search(r"core 0: stopped here +tid \d+ +rip [0-9a-f]+", text), text
    sc.keys("c")
    text = sc.wait(r"program exited with status 0")
    assert "Hello, world!" in text and "+++ exited with 0 +++" in text, text
    sc.keys("q")
    assert sc.exit_status() == 0


@needs_tmux
def test_the_screen_shows_the_cores_of_a_threaded_program(screen):
    sc = screen("--cores", "4", "lost_update", "4", "50")
    sc.wait(r"stopped \(start\)")
    sc.keys("b")
    sc.keys("atomic_thread", "Enter")
    sc.wait(r"breakpoint at 0x[0-9a-f]+ atomic_thread")
    threads = []
    stop = r"stopped \(breakpoint\) at 0x[0-9a-f]+ atomic_thread\+0 .*\| thread (\d+) on core"
    for _ in range(3):                      # each worker stops there in turn, a new thread
        sc.keys("c")
        end = time.monotonic() + 90
        while True:
            text = sc.text()
            m = re.search(stop, text)
            if m and m.group(1) not in threads:
                threads.append(m.group(1))
                break
            assert time.monotonic() < end, text
            time.sleep(0.2)
    busy = re.findall(r"core (\d): (?:running|blocked|stopped here) +tid (\d+)", text)
    assert len({c for c, _ in busy}) >= 3, text                  # main and workers on their cores
    assert re.search(r"=>B [0-9a-f]+ <atomic_thread>", text), text
    sc.keys("d")
    sc.keys("Enter")                                             # d alone: every breakpoint
    sc.wait(r"deleted 1 breakpoint")
    sc.keys("c")
    text = sc.wait(r"program exited with status 0")
    assert "no lost update: yes" in text, text
    sc.keys("q")
    assert sc.exit_status() == 0


@needs_tmux
def test_interrupt_stops_a_running_program_and_quit_ends_it(screen):
    sc = screen(guest("glibc", "compute"), "100000000")
    sc.wait(r"stopped \(start\)")
    sc.keys("c")
    sc.wait(r"\| running \(i interrupts\)")
    sc.keys("i")
    sc.wait(r"stopped \(interrupt\) at 0x[0-9a-f]+ ")
    sc.keys("c")
    sc.wait(r"\| running \(i interrupts\)")
    sc.keys("q")                                   # while it runs: killed, azemu ends
    assert sc.exit_status() == 0


@needs_tmux
def test_quitting_a_stopped_program_kills_it(screen):
    sc = screen("hello")
    sc.wait(r"stopped \(start\)")
    sc.keys("q")
    assert sc.exit_status() == 0


# ---- without a screen ------------------------------------------------------------------------

def test_batch_commands_print_stops_syscalls_and_the_exit():
    out, err, status = run_cli("debug", "--batch", "b main; c; s; y; c", "hello")
    text = out.decode()
    assert status == 0, err
    assert "stopped (breakpoint) at 0x401530 main+0 (hello)" in text, text
    assert "stopped (step) at 0x401534 main+4 (hello)" in text, text
    assert re.search(r"syscall: newfstatat\(1, .*\[trap\+switch core 0", text), text
    assert "Hello, world!" in text and text.rstrip().endswith("program exited with status 0")


def test_batch_shows_the_cores_of_a_threaded_program():
    out, err, status = run_cli("debug", "--batch", "b atomic_thread; c; c; c", "--cores", "4",
                               "lost_update", "4", "50", timeout=120)
    text = out.decode()
    stops = re.findall(r"stopped \(breakpoint\) at 0x[0-9a-f]+ atomic_thread\+0 .*thread (\d+) "
                       r"on core (\d)", text)
    assert len({tid for tid, _ in stops}) == 3, text
    cores = re.findall(r"^cores: (.*)$", text, re.M)[-1]
    assert len(re.findall(r"\d (?:running|blocked|stopped here) tid \d+", cores)) == 4, cores
    assert "program killed by SIGKILL" in text and status == 0


def test_a_crash_stops_at_the_faulting_instruction_before_its_signal():
    out, err, status = run_cli("debug", "--batch", "c; c", "crash_null")
    text = out.decode()
    assert ("stopped (SIGSEGV: write of unmapped address at 0x0) at 0x40155a main+42 (crash_null)"
            in text), text
    assert "=> 0x40155a <main+42>: mov dword ptr [rax], 1" in text, text
    assert "program killed by SIGSEGV (status 139)" in text and "backtrace:" in text, text
    assert status == 139


def test_bad_input_is_one_line(tmp_path):
    out, err, status = run_cli("debug", "--batch", "c", "no-such-program")
    assert status == 127 and err.decode().count("\n") == 1 and b"No such file" in err
    out, err, status = run_cli("debug", "--batch", "c", str(ROOT / "README.md"))
    assert status == 126 and err.decode().count("\n") == 1, err
    truncated = tmp_path / "truncated"
    truncated.write_bytes(open(guest("glibc", "hello"), "rb").read(200))
    truncated.chmod(0o755)
    out, err, status = run_cli("debug", "--batch", "c", str(truncated))
    assert status == 126 and err.decode().count("\n") == 1 and b"truncated ELF" in err, err
    out, err, status = run_cli("debug", "--root", str(tmp_path / "nope"), "hello")
    assert status == 2 and err.decode().count("\n") == 1, err
    out, err, status = run_cli("debug", "--cores", "0", "hello")
    assert status == 2 and err.decode().count("\n") == 1, err
    out, err, status = run_cli("debug", "--batch", "b nosuch; b main+zz; c", "hello")
    assert b"nosuch: no such function in the program or its libraries" in out, out
    assert b"main+zz: not an address or function+offset" in out, out
    assert status == 0 and b"Traceback" not in out + err


def test_without_a_terminal_it_says_so():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "azemu", "debug", "hello"], capture_output=True,
                       stdin=subprocess.DEVNULL, env=env, timeout=60, start_new_session=True)
    assert p.returncode == 2 and p.stderr == b"azemu debug: needs a terminal " \
        b"(run it in one, or use --batch)\n", p.stderr


def test_only_the_full_screen_imports_textual():
    code = ("import sys; from azemu import cli; cli.main(['debug', '--batch', 'c', 'hello']); "
            "import kernels.gdbstub; print('textual' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert p.stdout.splitlines()[-1] == "False", p.stdout + p.stderr
