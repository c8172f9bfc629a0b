"""The screen of `azemu debug` (textual): a full-screen terminal debugger
for students, drawn from the snapshots of a debug session
(kernels/debug_session.py, which runs the guest in a background thread and
knows the kernel; this module knows only what a snapshot holds).

    +-- disassembly --------------------+-- registers ----+
    | => 401530 <main>  sub rsp, 8      | rax 000...1c *  |
    +-- stack ------------+-- cores ----+-----------------+
    +-- syscalls (strace --trace-kernel lines) -----------+
    +-- program output ----------+-- messages ------------+
    > command line                       keys in the footer

Keys: s step, n next (over calls), c continue, y run to the next syscall,
b break (asks where), d delete a breakpoint, i interrupt, : a command, q
quit.  The guest's stdout and stderr go to a pipe shown in "program
output" (Terminal below), so they never draw over the screen.

textual is imported only here, and this module only by `azemu debug`.
"""
from __future__ import annotations

import os
import queue
import sys
import threading

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Input, Log, Static

REGS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "eflags", "fs_base")


class Terminal:
    """The guest's stdio apart from the screen's: fds 1 and 2 go into a
    pipe (the guest's output, and anything else the process writes), the
    screen draws on the terminal kept aside, and the guest reads stdin only
    when it is not the terminal (else /dev/null)."""

    def __init__(self):
        self.saved = (os.dup(1), os.dup(2))
        self.tty = None
        for fd in (2, 1, 0):
            if os.isatty(fd):
                self.tty = os.dup(fd)
                break
        if self.tty is None:
            try:
                self.tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
            except OSError:
                pass
        self.stdin = os.open(os.devnull, os.O_RDONLY) if os.isatty(0) else os.dup(0)
        self.out_r, self.out_w = os.pipe()
        self.output: queue.Queue = queue.Queue()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self.out_w, 1)
        os.dup2(self.out_w, 2)
        self._std = None
        threading.Thread(target=self._reader, daemon=True, name="azemu-debug-output").start()

    def _reader(self) -> None:
        while True:
            try:
                data = os.read(self.out_r, 65536)
            except OSError:
                return
            if not data:
                return
            self.output.put(data.decode("utf-8", "replace"))

    def screen(self) -> None:
        """textual draws on sys.__stderr__ and reads sys.__stdin__: the terminal
        (whose size it asks: COLUMNS and LINES, if set, would win and stay)."""
        for name in ("COLUMNS", "LINES"):
            os.environ.pop(name, None)
        self._std = (sys.__stdin__, sys.__stdout__, sys.__stderr__)
        out = open(os.dup(self.tty), "w", encoding="utf-8", closefd=True)
        sys.__stdin__ = open(os.dup(self.tty), "r", encoding="utf-8", closefd=True)
        sys.__stdout__ = sys.__stderr__ = out

    def restore(self) -> None:
        if self._std is not None:
            sys.__stdin__, sys.__stdout__, sys.__stderr__ = self._std
            self._std = None
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)


def _hex(v) -> str:
    return "?" if v is None else f"{v:x}"


class DebugApp(App):
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { layout: vertical; }
    #top { height: 2fr; }
    #middle { height: 1fr; }
    #bottom { height: 1fr; }
    .pane { border: round $primary; padding: 0 1; overflow: hidden hidden; }
    #disasm { width: 2fr; }
    #regs { width: 58; }
    #stack { width: 1fr; }
    #cores { width: 1fr; }
    #syscalls { height: 1fr; border: round $primary; }
    #output { width: 1fr; border: round $primary; }
    #messages { width: 1fr; border: round $primary; }
    #status { height: 1; background: $boost; }
    #command { display: none; }
    #command.shown { display: block; }
    """
    BINDINGS = [
        Binding("s", "cmd('s')", "step"), Binding("n", "cmd('n')", "next"),
        Binding("c", "cmd('c')", "continue"), Binding("y", "cmd('y')", "syscall"),
        Binding("b", "ask('b ')", "break"), Binding("d", "ask('d ')", "delete"),
        Binding("i", "interrupt", "interrupt"), Binding("ctrl+c", "interrupt", "", show=False,
                                                        priority=True),
        Binding("colon", "ask('')", "command"), Binding("q", "quit_debugger", "quit"),
        Binding("escape", "cancel", "", show=False),
    ]

    def __init__(self, session, terminal: Terminal, title: str):
        super().__init__()
        self.session, self.terminal, self.heading = session, terminal, title
        self.snap = None
        self.ended = None
        self.quitting = False

    def compose(self) -> ComposeResult:
        yield Static(self.heading, id="status")
        with Horizontal(id="top"):
            yield Static(id="disasm", classes="pane")
            yield Static(id="regs", classes="pane")
        with Horizontal(id="middle"):
            yield Static(id="stack", classes="pane")
            yield Static(id="cores", classes="pane")
        yield Log(id="syscalls", max_lines=2000)
        with Horizontal(id="bottom"):
            yield Log(id="output", max_lines=2000)
            yield Log(id="messages", max_lines=500)
        yield Input(placeholder="b main | b 0x401530 | b (list) | d main | d (all) | s n c y | q", id="command",
                    select_on_focus=False)
        yield Footer()

    def on_mount(self) -> None:
        for wid, title in (("disasm", "disassembly"), ("regs", "registers"), ("stack", "stack"),
                           ("cores", "cores"), ("syscalls", "syscalls (entry, core, result)"),
                           ("output", "program output"), ("messages", "debugger")):
            self.query_one(f"#{wid}").border_title = title
        self._shown_calls = 0
        self.set_interval(0.05, self._drain)
        self.session.start()

    # ---- events from the session and the guest's output --------------------------
    def _drain(self) -> None:
        out = self.query_one("#output", Log)
        while True:
            try:
                out.write(self.terminal.output.get_nowait())
            except queue.Empty:
                break
        while True:
            try:
                kind, what = self.session.events.get_nowait()
            except queue.Empty:
                break
            if kind == "stop":
                self._show(what)
            elif kind == "message":
                self._say(what)
            elif kind == "exit":
                self.ended = what
                self._say(what.splitlines()[0] + "  (q quits)")
                for line in what.splitlines()[1:]:
                    out.write_line(line)
                self._status(f"{self.heading} | {what.splitlines()[0]}")
                if self.quitting:
                    self.exit()
        self._log_calls()
        if self.snap is None and self.session.running and self.ended is None:
            self._status(f"{self.heading} | running (i interrupts)")

    def _say(self, text: str) -> None:
        self.query_one("#messages", Log).write_line(text)

    def _status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    def _log_calls(self) -> None:
        """The syscall lines not shown yet (live, while the program runs too)."""
        total = self.session.log.count
        new = min(total - self._shown_calls, 500)
        if new > 0:
            log = self.query_one("#syscalls", Log)
            for line in self.session.log.tail(new):
                log.write_line(line)
            self._shown_calls = total

    def _show(self, snap) -> None:
        self.snap = snap
        where = f" {snap.where}" if snap.where else ""
        self._status(f"{self.heading} | stopped ({snap.why}) at {snap.regs['rip']:#x}{where}"
                     f" | thread {snap.tid} on core {snap.core}")
        self.query_one("#disasm", Static).update(self._disasm(snap))
        self.query_one("#regs", Static).update(self._regs(snap))
        self.query_one("#stack", Static).update(self._stack(snap))
        self.query_one("#cores", Static).update(self._cores(snap))

    @staticmethod
    def _disasm(snap) -> Text:
        t = Text()
        for addr, label, raw, text, current, bp in snap.disasm:
            mark = ("=>" if current else "  ") + ("B" if bp else " ")
            label = label.removesuffix("+0") if label and not label.startswith("??") else ""
            style = "bold reverse" if current else ("red" if bp else "")
            t.append(f"{mark} {addr:012x} {('<' + label + '>') if label else '':<24} "
                     f"{raw[:16]:<16} {text}\n", style=style)
        if snap.breakpoints:
            t.append("breakpoints: " + ", ".join(f"{a:#x}" + (f" ({n})" if n else "")
                                                 for a, n in snap.breakpoints), style="red")
        return t

    @staticmethod
    def _regs(snap) -> Text:
        t = Text()
        half = (len(REGS) + 1) // 2
        for row in range(half):
            for r in REGS[row::half]:
                v = snap.regs.get(r, 0)
                changed = r in snap.changed
                t.append(f"{r:>7} {v:016x}{' *' if changed else '  '}",
                         style="bold yellow" if changed else "")
            t.append("\n")
        return t

    @staticmethod
    def _stack(snap) -> Text:
        t = Text()
        rsp = snap.regs.get("rsp")
        for addr, value, what in snap.stack:
            t.append(f"{'rsp->' if addr == rsp else '     '} {addr:012x}: {value:016x} {what}\n")
        return t

    @staticmethod
    def _cores(snap) -> Text:
        t = Text()
        for core, state, tid, rip, queued in snap.cores:
            who = f"tid {tid}" if tid is not None else "-"
            more = f" (+{queued - 1} queued)" if queued > 1 else ""
            t.append(f"core {core}: {state:<13} {who:<10} rip {_hex(rip)}{more}\n",
                     style="bold" if core == snap.core else "")
        return t

    # ---- commands -------------------------------------------------------------------
    def _busy(self) -> bool:
        if self.ended is not None:
            self._say("the program has ended (q quits)")
            return True
        if self.session.running:
            self._say("running: i interrupts it")
            return True
        return False

    def action_cmd(self, command: str) -> None:
        if self._busy():
            return
        self.snap = None
        self.session.send(command)

    def action_ask(self, prefix: str) -> None:
        box = self.query_one("#command", Input)
        box.add_class("shown")
        box.value = prefix
        box.cursor_position = len(prefix)
        box.focus()

    def action_cancel(self) -> None:
        box = self.query_one("#command", Input)
        box.remove_class("shown")
        box.value = ""
        self.set_focus(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        self.action_cancel()
        if not line:
            return
        if line in ("q", "quit"):
            self.action_quit_debugger()
            return
        if line in ("i", "interrupt"):
            self.action_interrupt()
            return
        self._say(f"> {line}")
        if not self._busy():
            if line.split()[0] in ("s", "n", "c", "y", "step", "next", "continue", "syscall"):
                self.snap = None
            self.session.send(line)

    def action_interrupt(self) -> None:
        if self.ended is None and self.session.running:
            self.session.interrupt()
            self._say("interrupting...")

    def action_quit_debugger(self) -> None:
        if self.ended is not None or self.quitting:
            self.exit()
            return
        self.quitting = True
        self._say("killing the program...")
        self.session.interrupt()
        self.session.send("k")
        self.set_timer(3.0, self.exit)             # a guest waiting on the host: leave anyway


def run_app(session, terminal: Terminal, title: str) -> None:
    """Show the session until the user quits; the terminal is given back after."""
    terminal.screen()
    app = DebugApp(session, terminal, title)
    try:
        app.run()
    finally:
        terminal.restore()
    error = getattr(app, "_exception", None)
    if error is not None:                      # a bug of the screen's: one line, as cli.py says it
        if os.environ.get("AZEMU_DEBUG"):
            raise error
        print(f"azemu debug: internal error: {type(error).__name__}: {error} "
              "(set AZEMU_DEBUG=1 for the traceback)", file=sys.stderr)
