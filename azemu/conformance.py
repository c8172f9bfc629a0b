"""`azemu conformance`: CPython's regression tests, natively and under azemu.

An external conformance suite: the kernel-facing modules of CPython's own
test suite (Debian's libpython3.11-testsuite: /usr/lib/python3.11/test), run
with the host's python3.11 natively and as a guest of each kernel mode, and
compared test case by test case (data/conformance/driver.py records each
outcome).  A test case *passes* when it ends ok; what passes natively must
pass under azemu, apart from the differences azemu keeps on purpose, listed
with their reasons in data/conformance/differences.toml and printed with the
results.  Prints a table per module and mode (native passing / azemu
passing), and writes the whole comparison as JSON with --json.
"""
from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from importlib import resources

MODULES = ("test_os", "test_posix", "test_signal", "test_subprocess", "test_select",
           "test_selectors", "test_epoll", "test_poll", "test_socket", "test_fcntl", "test_mmap",
           "test_threading", "test_tempfile", "test_shutil", "test_pathlib", "test_time",
           "test_resource", "test_wait3", "test_wait4", "test_fileio", "test_file")
PYTHON = "/usr/bin/python3.11"
PASS = "ok"
# Natively no test case of these modules needs more than a few seconds; one
# that runs a minute waits on something this host lacks (test_socket's VSOCK
# tests wait for a peer in a VM that has /dev/vsock and no host side).
NATIVE_TEST_S = 60.0


def _data(name: str) -> str:
    return str(resources.files("azemu") / "data" / "conformance" / name)


def differences() -> list[dict]:
    """The differences azemu keeps on purpose: [{tests, modes, reason}]."""
    with open(_data("differences.toml"), "rb") as f:
        return tomllib.load(f).get("difference", [])


def kept(test_id: str, mode: str, diffs) -> str | None:
    """The reason a test case may differ in `mode`, if it is a listed difference."""
    for d in diffs:
        if mode in d.get("modes", (mode,)) and any(fnmatch.fnmatchcase(test_id, pat) for pat in d["tests"]):
            return d["reason"]
    return None


def _environment(tmp: str) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "TMPDIR": tmp,
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "dumb"}
    return env


def run_module(module: str, mode: str | None, python: str, timeout: float,
               only=(), test_timeout: float = 0.0) -> dict:
    """One module, natively (mode None) or under azemu: {"outcomes": {id:
    (outcome, detail)}, "seconds", "unfinished": id or None, "status"}.

    As regrtest does, a test case that runs longer than `test_timeout`
    seconds, or takes the interpreter down with it, ends as "timeout" or
    "crash", and the module goes on with the test cases after it (a new
    interpreter is given their ids).  `timeout` bounds the whole module."""
    tmp = tempfile.mkdtemp(prefix=f"azemu-conf-{module}-")
    out = os.path.join(tmp, "results.jsonl")
    work = os.path.join(tmp, "cwd")
    os.mkdir(work)
    t0 = time.monotonic()
    status, outcomes, plan, todo = "done", {}, None, list(only)
    try:
        while True:
            left = timeout - (time.monotonic() - t0)
            run = _run_once(module, mode, python, out, work, todo, left, test_timeout)
            if plan is None:
                plan = run["plan"]
            outcomes.update(run["outcomes"])
            if run["status"] == "done" or plan is None or run["status"].startswith("timed out"):
                status = run["status"]
                unfinished = run["started"]
                break
            cut = run["started"]                 # it hung, or its interpreter died
            if cut is not None:
                outcomes[cut] = ("timeout" if run["status"] == "test timed out" else "crash",
                                 run["why"])
            before, todo = len(todo or plan), [t for t in plan if t not in outcomes]
            if not todo or len(todo) == before:  # all done, or no progress (it hangs at once)
                status, unfinished = ("done" if not todo else run["status"]), None
                break
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"outcomes": outcomes, "seconds": time.monotonic() - t0,
            "unfinished": unfinished, "status": status}


def _run_once(module, mode, python, out, work, only, timeout, test_timeout) -> dict:
    """One interpreter running the module's test cases `only` (all if empty):
    {"plan", "outcomes", "started": the test running when it ended, "status":
    done | test timed out | timed out after N s | exit N | ended early, "why"}."""
    import signal
    if os.path.exists(out):
        os.unlink(out)
    argv = [python, "-E", "-s", _data("driver.py"), "test." + module, out, *only]
    if mode is not None:
        argv = [sys.executable, "-m", "azemu", "exec", "--mode", mode, "-q", *argv]
    errf = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, cwd=work, env=_environment(work), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=errf, start_new_session=True)
    t0 = time.monotonic()
    reader = _Results(out)
    status = why = None
    while proc.poll() is None:
        time.sleep(0.5)
        reader.read()
        now = time.monotonic()
        if now - t0 > timeout:
            status = why = f"timed out after {timeout:.0f} s"
        elif test_timeout and now - (reader.since or t0) > test_timeout:   # no progress
            status, why = "test timed out", f"ran longer than {test_timeout:.0f} s"
        if status:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
            break
    reader.read()
    if status is None:
        errf.seek(0)
        stderr = errf.read().decode(errors="replace").strip().splitlines()
        if reader.ended:
            status = "done"
        elif proc.returncode not in (0, 1):
            status = f"exit {proc.returncode}"
            why = status + (": " + stderr[-1][:200] if stderr else "")
        else:
            status = why = "ended early"
    errf.close()
    return {"plan": reader.plan, "outcomes": reader.outcomes, "status": status, "why": why or "",
            "started": reader.started if reader.started not in reader.outcomes else None}


class _Results:
    """The driver's record, read as it grows."""

    def __init__(self, path):
        self.path, self.at, self.partial = path, 0, ""
        self.plan, self.outcomes, self.started, self.since, self.ended = None, {}, None, 0.0, False

    def read(self) -> None:
        try:
            with open(self.path) as f:
                f.seek(self.at)
                data = f.read()
                self.at = f.tell()
        except OSError:
            return
        lines = (self.partial + data).split("\n")
        self.partial = lines.pop()
        for line in lines:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if "plan" in r:
                self.plan = r["plan"]
            elif "start" in r:
                self.started = r["start"]
            elif "end" in r:
                self.ended = True
            else:
                self.outcomes[r["id"]] = (r["outcome"], r.get("detail", ""))
            self.since = time.monotonic()            # the last sign of progress


def compare(native: dict, emulated: dict, mode: str, diffs) -> dict:
    """What passes natively and under azemu, and each difference (kept or not)."""
    passing = [t for t, (o, _) in native["outcomes"].items() if o == PASS]
    got = emulated["outcomes"]
    lost, allowed = [], []
    for t in passing:
        o, detail = got.get(t, ("not run", emulated["status"]))
        if o == PASS:
            continue
        reason = kept(t, mode, diffs)
        entry = {"test": t, "outcome": o, "detail": detail.strip().splitlines()[-1][:200] if detail else ""}
        if reason:
            entry["reason"] = reason
            allowed.append(entry)
        else:
            lost.append(entry)
    return {"native_passing": len(passing), "azemu_passing": len(passing) - len(lost) - len(allowed),
            "kept_differences": allowed, "differences": lost,
            "native_seconds": round(native["seconds"], 1), "azemu_seconds": round(emulated["seconds"], 1),
            "status": emulated["status"], "unfinished": emulated["unfinished"]}


def check_python(python: str) -> str | None:
    """Why `python` cannot run the suite, or None."""
    if not os.path.exists(python):
        return f"{python} not found"
    p = subprocess.run([python, "-E", "-s", "-c", "import test.test_os"], capture_output=True)
    if p.returncode != 0:
        return (f"{python} has no regression tests (Debian: apt-get install "
                "libpython3.11-testsuite, or `make conformance`)")
    return None


def run(modes, modules, python=PYTHON, timeout=900.0, json_path=None, out=sys.stdout,
        test_timeout=300.0) -> int:
    from rich.console import Console
    from rich.table import Table
    console = Console(file=out)
    why = check_python(python)
    if why:
        print(f"azemu conformance: {why}", file=sys.stderr)
        return 2
    diffs = differences()
    report = {"python": python, "modes": list(modes), "modules": {}}
    for module in modules:
        console.print(f"[bold]{module}[/]: native ...", end="")
        native = run_module(module, None, python, timeout,
                            test_timeout=min(test_timeout or NATIVE_TEST_S, NATIVE_TEST_S))
        console.print(f" {sum(o == PASS for o, _ in native['outcomes'].values())} pass"
                      f" ({native['seconds']:.0f} s)", end="")
        report["modules"][module] = {}
        for mode in modes:
            console.print(f"; {mode} ...", end="")
            emu = run_module(module, mode, python, timeout, test_timeout=test_timeout)
            c = compare(native, emu, mode, diffs)
            report["modules"][module][mode] = c
            console.print(f" {c['azemu_passing']}/{c['native_passing']} ({c['azemu_seconds']:.0f} s"
                          + ("" if c["status"] == "done" else f", {c['status']}") + ")", end="")
        console.print()
        if json_path:                               # as it goes: a long run can be read midway
            _write(json_path, report)
    table = Table(title=f"CPython regression tests: native vs azemu ({python})")
    table.add_column("module")
    for mode in modes:
        table.add_column(f"{mode}: azemu/native passing", justify="right")
        table.add_column("kept", justify="right")
    totals = {m: [0, 0, 0] for m in modes}
    for module, per in report["modules"].items():
        row = [module]
        for mode in modes:
            c = per[mode]
            row += [f"{c['azemu_passing']}/{c['native_passing']}", str(len(c["kept_differences"]))]
            t = totals[mode]
            t[0] += c["azemu_passing"]
            t[1] += c["native_passing"]
            t[2] += len(c["kept_differences"])
        table.add_row(*row)
    table.add_row("all", *[x for m in modes for x in (f"{totals[m][0]}/{totals[m][1]}", str(totals[m][2]))])
    console.print(table)
    shown = False
    for module, per in report["modules"].items():
        for mode, c in per.items():
            for d in c["differences"]:
                if not shown:
                    console.print("[bold]Differences[/] (pass natively, not under azemu):")
                    shown = True
                console.print(f"  {mode}: {d['test']}: {d['outcome']} {d['detail']}")
    kept_reasons = {d["reason"] for per in report["modules"].values() for c in per.values()
                    for d in c["kept_differences"]}
    if kept_reasons:
        console.print("[bold]Differences azemu keeps on purpose[/] (data/conformance/differences.toml):")
        for reason in sorted(kept_reasons):
            console.print(f"  - {reason}")
    if json_path:
        _write(json_path, report)
    return 1 if shown else 0


def _write(path, report) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
