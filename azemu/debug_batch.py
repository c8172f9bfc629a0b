"""`azemu debug --batch 'b main; c; s; y; c' PROGRAM`: the terminal
debugger's commands from a script, with no screen (as `gdb -batch -ex`):
each stop, each new syscall line and each message printed as text on
stdout, between the program's own output.  For scripts, for the
documentation's examples and for tests; the full-screen form is
azemu/debug_tui.py, over the same session (kernels/debug_session.py).
"""
from __future__ import annotations

import sys

RESUMING = ("s", "step", "si", "stepi", "n", "next", "ni", "nexti", "c", "continue", "y", "syscall")


def describe_stop(snap) -> str:
    """A stop in a few lines: where, the instruction, what changed."""
    where = f" {snap.where}" if snap.where else ""
    lines = [f"stopped ({snap.why}) at {snap.regs['rip']:#x}{where}, thread {snap.tid} "
             f"on core {snap.core}"]
    for addr, label, _raw, text, current, _bp in snap.disasm:
        if current:
            lines.append(f"=> {addr:#x} <{label}>: {text}" if label else f"=> {addr:#x}: {text}")
    if len(snap.cores) > 1:
        lines.append("cores: " + " | ".join(
            f"{c} {state}" + (f" tid {tid}" if tid is not None else "")
            for c, state, tid, _rip, _queued in snap.cores))
    if snap.changed:
        lines.append("changed: " + " ".join(f"{r}={snap.regs[r]:#x}" for r in sorted(snap.changed)))
    return "\n".join(lines)


def run_batch(session, script: str, out=None) -> bool:
    """Run the commands of `script` (separated by ';'); True if the program
    ran to its end (else it is killed when the script is done)."""
    out = out or sys.stdout
    shown = 0

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    def calls() -> None:
        nonlocal shown
        count = session.log.count
        for line in session.log.tail(max(0, min(count - shown, 200))):
            say(f"  syscall: {line}")
        shown = count

    def wait(resuming: bool) -> bool:
        """Print events until the guest stops again (or, for a command that
        does not resume it, until its answer); False once it has ended."""
        while True:
            kind, what = session.events.get()
            if kind == "exit":
                calls()
                say(what)
                return False
            if kind == "message":
                say(what)
                if not resuming:
                    return True
            elif kind == "stop" and what.why not in ("breakpoint set", "breakpoint deleted"):
                calls()
                say(describe_stop(what))
                return True

    session.start()
    alive = wait(True)
    for command in filter(None, (c.strip() for c in script.split(";"))):
        if not alive:
            say(f"{command}: the program has ended")
            break
        say(f"(azemu debug) {command}")
        session.send(command)
        alive = wait(command.split()[0] in RESUMING + ("k", "kill", "q", "quit"))
    if alive:
        session.send("k")
        wait(True)
    return not session.killed
