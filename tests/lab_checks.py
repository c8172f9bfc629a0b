"""What each teaching lab's answer key claims, measured again from what the
lab's commands left behind (used by tests/test_labs.py).

MEASURE[n](cwd, ran, tmp) returns {check name: value} for lab n: `cwd` is
where its commands ran, `ran` maps each command to its CompletedProcess, and
`tmp` is a scratch directory.  The names are those of the key's
`<!-- check:NAME -->` marks; the values are compared with what the key wrote.
"""
from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

AT_TOP = {3}                      # labs whose commands run at the top of the checkout
MEASURE = {}


def lab(n):
    def register(fn):
        MEASURE[n] = fn
        return fn
    return register


# ---- reading azemu's outputs ------------------------------------------------------------
def stat_row(text: str, label: str) -> list[int]:
    """The numbers of one row of an `azemu exec --stats` table."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 2 and cells[1] == label:
            return [int(c.replace(",", "")) for c in cells[2:] if re.fullmatch(r"-?[\d,]+", c)]
    raise AssertionError(f"no row {label!r} in:\n{text}")


def trace_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if "[" in line and "modelled]" in line]


def entry_of(line: str) -> str:
    return re.search(r"\[(\S+) core \d+", line).group(1)


def modelled_of(line: str) -> float:
    m = re.search(r"native ([\d.]+) (ns|µs) modelled", line)
    return float(m.group(1)) * (1000 if m.group(2) == "µs" else 1)


def round_trips(line: str) -> int:
    m = re.search(r"FWK (\d+) round trips?", line)
    return int(m.group(1)) if m else 0


def call_named(lines: list[str], name: str) -> str:
    return next(line for line in lines if re.match(rf"(\d+\s+)?{name}\(", line))


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def prices_ns() -> dict[str, float]:
    from azemu.calibrate import load_or_measure
    from kernels.costmodel import Calibration, prices
    cal = Calibration.from_dict(load_or_measure()["figures"])
    return {k: v.ns for k, v in prices(cal).items()}


# ---- lab 1: one program, four kernels ----------------------------------------------------
@lab(1)
def lab1(cwd: Path, ran, tmp) -> dict:
    variants = ("linux", "lwk", "unikernel", "source")
    stats = {v: (cwd / f"stats.{v}").read_text() for v in variants}
    traces = {v: trace_lines(cwd / f"trace.{v}") for v in variants}
    counts = {stat_row(stats[v], "syscalls")[0] for v in variants}
    out = {"lab1.syscalls": counts.pop() if len(counts) == 1 else f"differ: {counts}"}
    for v in variants:
        kinds = {entry_of(line) for line in traces[v]}
        out[f"lab1.entry.{v}"] = kinds.pop() if len(kinds) == 1 else f"several: {kinds}"
    out["lab1.mode_switch.linux"] = stat_row(stats["linux"], "mode switch")[0]
    out["lab1.as_switch.linux"] = stat_row(stats["linux"], "as switch")[0]
    out["lab1.as_switch.lwk"] = stat_row(stats["lwk"], "as switch")[0]
    out["lab1.regs_saved"] = stat_row(stats["linux"], "regs saved")[0]
    out["lab1.regs_restored"] = stat_row(stats["linux"], "regs restored")[0]
    out["lab1.lock.linux"] = stat_row(stats["linux"], "global lock")[0]
    out["lab1.lock.lwk"] = stat_row(stats["lwk"], "global lock")[0]
    fwk = [line for line in traces["lwk"] if "FWK" in line]
    out["lab1.fwk_calls.lwk"] = len(fwk)
    trips = sum(round_trips(line) for line in fwk)
    assert trips == stat_row(stats["lwk"], "offload")[0]
    out["lab1.fwk_round_trips.lwk"] = trips
    out["lab1.write_round_trips.file"] = round_trips(call_named(traces["lwk"], "write"))
    null = trace_lines(cwd / "trace.null")
    out["lab1.write_round_trips.null"] = round_trips(call_named(null, "write"))
    names = lambda lines: [re.match(r"(?:\d+\s+)?(\w+)\(", x).group(1) for x in lines]  # noqa: E731
    extra = [n for n in names(null) if n not in names(traces["lwk"])]
    out["lab1.null_extra_call"] = " ".join(extra)
    medians = {v: statistics.median(modelled_of(x) for x in traces[v]) for v in variants}
    out["lab1.order"] = " > ".join(sorted(variants, key=lambda v: -medians[v]))
    linux = [c for c in json_lines(cwd / "calls.linux") if c["syscall"] == "brk"][1]
    lwk = [c for c in json_lines(cwd / "calls.lwk") if c["syscall"] == "brk"][1]
    price = prices_ns()
    diff = {e: (linux["events"].get(e, 0) - lwk["events"].get(e, 0)) * price.get(e, 0)
            for e in set(linux["events"]) | set(lwk["events"])}
    out["lab1.dominant"] = max(diff, key=diff.get)
    return out


# ---- lab 2: Figure 7 by mechanism --------------------------------------------------------
@lab(2)
def lab2(cwd: Path, ran, tmp) -> dict:
    d = json.loads((cwd / "fig7.json").read_text())
    v = {name: row["modelled_ns"] for name, row in d["variants"].items()}
    linux = v["linux"]
    parts = d["variants"]["linux"]["modelled_breakdown_ns"]
    dominant = max(parts, key=parts.get)
    no_kpti = linux - parts["as_switch"]
    native = d["variants"]["native"]["measured_native_getpid_ns"]
    from kernels import costmodel
    kinds = [p["source"].split(":")[0] for p in d["prices_ns"].values()]
    return {
        "lab2.ratio.binary": linux / v["unikernel-binary"],
        "lab2.ratio.source": linux / v["unikernel-source hook"],
        "lab2.dominant": dominant,
        "lab2.as_switch_share": 100 * parts[dominant] / linux,
        "lab2.as_switch_source": d["prices_ns"]["as_switch"]["source"].split(":")[0],
        "lab2.as_switch_cycles": costmodel.AS_SWITCH_CYCLES,
        "lab2.linux_no_kpti_ns": no_kpti,
        "lab2.ratio.binary_no_kpti": no_kpti / v["unikernel-binary"],
        "lab2.closer": "without KPTI" if abs(native - no_kpti) < abs(native - linux) else "with KPTI",
        "lab2.meltdown": d["calibration"]["host"]["meltdown"],
        "lab2.prices.measured": kinds.count("measured"),
        "lab2.prices.published": kinds.count("published") + kinds.count("derived"),
    }


# ---- lab 3: add a syscall to the LWK (the reference patch, applied to a copy) ---------------
def patched_copy(tmp: Path) -> Path:
    """azemu and its tests, copied, with the lab's reference patch applied."""
    import shutil
    import subprocess
    from conftest import ROOT
    copy = tmp / "patched"
    ignore = shutil.ignore_patterns("__pycache__", "data")
    for pkg in ("azemu", "kernels"):
        shutil.copytree(ROOT / pkg, copy / pkg, ignore=ignore)
    shutil.copytree(ROOT / "azemu" / "data", copy / "azemu" / "data", symlinks=False,
                    ignore=shutil.ignore_patterns("conformance", "guests"))
    (copy / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", copy / "tests")
    for libc in ("glibc", "musl"):
        (copy / "guest_bins" / "bin" / libc).mkdir(parents=True)
        shutil.copy(ROOT / "guest_bins" / "bin" / libc / "futex_waitv", copy / "guest_bins" / "bin" / libc)
    patch = ROOT / "docs" / "labs" / "answers" / "lab3-futex_waitv.patch"
    done = subprocess.run(["patch", "-p1", "-i", str(patch)], cwd=copy, capture_output=True, text=True)
    assert done.returncode == 0, f"the reference patch no longer applies:\n{done.stdout}{done.stderr}"
    return copy


@lab(3)
def lab3(cwd: Path, ran, tmp) -> dict:
    import os
    import subprocess
    import sys
    before = next(r.stdout for c, r in ran.items() if c.startswith("azemu syscalls"))
    lwk = next(r for c, r in ran.items() if c.startswith("azemu exec --mode lwk guest_bins"))
    native = next(r for c, r in ran.items() if c.startswith("./guest_bins"))
    copy = patched_copy(tmp)
    env = dict(os.environ, PYTHONPATH=str(copy))

    def azemu(*args):
        return subprocess.run([sys.executable, "-m", "azemu", *args], cwd=copy, env=env,
                              capture_output=True, text=True, timeout=300)
    program = str(copy / "guest_bins" / "bin" / "glibc" / "futex_waitv")
    after = azemu("exec", "--mode", "lwk", "--stats", program)
    woken = dict(re.findall(r"word (\d) woken by a thread\s+(-?\d+)", after.stdout))
    test = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_futex_waitv.py"], cwd=copy, env=env, capture_output=True,
                          text=True, timeout=600)
    table = json.loads(azemu("syscalls", "--mode", "lwk", "--format", "json").stdout)
    served = next(r["served"] for r in table if r["name"] == "futex_waitv")
    sched = (copy / "kernels" / "sched.py").read_text()
    return {
        "lab3.before": next(w for w in ("missing", "error", "partial", "full") if w in before),
        "lab3.enosys_before": lwk.stdout.count("ENOSYS"),
        "lab3.unqueue_places": sched.count("self._unqueue("),
        "lab3.index.word2": int(woken.get("2", -99)),
        "lab3.index.word1": int(woken.get("1", -99)),
        "lab3.same_as_native": "identical" if after.stdout == native.stdout else
                               f"differs:\n{after.stdout}\nnative:\n{native.stdout}",
        "lab3.test_result": " ".join(re.findall(r"\d+ (?:passed|failed|error)", test.stdout)) or test.stdout[-500:],
        "lab3.served": served,
        "lab3.lock_lwk": stat_row(after.stderr, "global lock")[0],
    }


# ---- lab 4: the FWK channel, packet by packet ---------------------------------------------
def packets(path: Path) -> list[dict]:
    """The round trips of an `azemu exec --trace-fwk` log."""
    out, text = [], path.read_text()
    for m in re.finditer(r"#(\d+) core (\d+) request slot (\d+) at (0x[0-9a-f]+).*\n"
                         r"\s+magic (0x[0-9a-f]+) tid \d+ function (\d+) (\w+) seq (\d+)\n"
                         r"\s+params ([0-9a-fx ]+)\n\s+bytes ([0-9a-f |]+)\n"
                         r"#\d+ core \d+ reply slot \d+ at (0x[0-9a-f]+): .* ret (-?\w+)", text):
        out.append({"slot": int(m[3]), "at": int(m[4], 16), "name": m[7],
                    "params": [int(x, 16) for x in m[9].split()], "bytes": m[10].split(),
                    "reply_at": int(m[11], 16), "ret": int(m[12], 0)})
    return out


@lab(4)
def lab4(cwd: Path, ran, tmp) -> dict:
    pk = packets(cwd / "packets.txt")
    total = int(re.search(r"# (\d+) round trips", (cwd / "packets.txt").read_text())[1])
    assert total == len(pk)
    trace = trace_lines(cwd / "trace.txt")
    guest = sum(round_trips(line) for line in trace)
    brks = [int(x, 16) for x in re.findall(r"brk\(.*\)\s+= (0x[0-9a-f]+)", "\n".join(trace))]
    read = next(p for p in pk if p["name"] == "FWK_READ")
    extents = [(read["params"][i], read["params"][i + 1]) for i in (1, 3) if read["params"][i + 1]]
    first_read = call_named(trace, "read")
    stdin = next(p for p in pk if p["name"] == "FWK_STDIO" and p["params"][0] == 0)
    kinds = {0: "file", 1: "directory", 2: "fifo", 3: "socket", 4: "character device"}
    kind = (stdin["ret"] >> 32) & 0xFF
    return {
        "lab4.round_trips": total,
        "lab4.guest_round_trips": guest,
        "lab4.kernel_round_trips": total - guest,
        "lab4.first": pk[0]["name"],
        "lab4.magic_bytes": pk[0]["bytes"][0],
        "lab4.slot_step": pk[1]["at"] - pk[0]["at"],
        "lab4.reply_offset": pk[0]["reply_at"] - pk[0]["at"],
        "lab4.first_slot": pk[0]["slot"],
        "lab4.read_extents": len(extents),
        "lab4.read_total": sum(n for _, n in extents),
        "lab4.read_in_heap": "yes" if any(min(brks) <= a < max(brks) for a, _ in extents) else "no",
        "lab4.read_round_trips": round_trips(first_read),
        "lab4.extra": [p["name"] for p in pk].__getitem__(
            [p["name"] for p in pk].index("FWK_READ") - 1),
        "lab4.stdin_kind": f"{kind} ({kinds.get(kind, '?')})",
    }


# ---- lab 5: per-core structures and scaling -----------------------------------------------
@lab(5)
def lab5(cwd: Path, ran, tmp) -> dict:
    stats = {name: (cwd / f"{name}.stats").read_text()
             for name in ("linux.1", "linux.2", "linux.4", "linux.8", "lwk.1", "lwk.8")}
    calls = {name: json_lines(cwd / f"{name}.json") for name in ("linux.1", "linux.8", "lwk.1", "lwk.8")}
    mean = lambda name: statistics.mean(c["modelled_native_ns"] for c in calls[name])  # noqa: E731
    locks8 = stat_row(stats["linux.8"], "global lock")
    transfers8 = stat_row(stats["linux.8"], "line transfer")
    accesses = calls["linux.1"][10]["events"]["shared_access"]
    per_call_8 = transfers8[-1] / stat_row(stats["linux.8"], "syscalls")[-1]
    grown = mean("linux.1") + per_call_8 * prices_ns()["line_transfer"]
    odd = [i for i, n in enumerate(transfers8[:-1]) if n != transfers8[1]]
    return {
        "lab5.locks_per_worker": locks8[1],
        "lab5.transfers.1": stat_row(stats["linux.1"], "line transfer")[-1],
        "lab5.transfers.2": stat_row(stats["linux.2"], "line transfer")[-1],
        "lab5.transfers.8": transfers8[-1],
        "lab5.transfers.lwk8": stat_row(stats["lwk.8"], "line transfer")[-1],
        "lab5.accesses_per_call": accesses,
        "lab5.bound_8": accesses * 7 / 8,
        "lab5.worker_per_call_8": transfers8[1] / locks8[1],
        "lab5.run_per_call_8": per_call_8,
        "lab5.linux_growth": grown / mean("linux.1"),
        "lab5.lwk_growth": mean("lwk.8") / mean("lwk.1"),
        "lab5.odd_core": " ".join(map(str, odd)),
    }


# ---- lab 7: fork and copy-on-write ----------------------------------------------------------
@lab(7)
def lab7(cwd: Path, ran, tmp) -> dict:
    text = {name: (cwd / name).read_text() for name in ("stats.0", "stats.64", "stats.128", "uk.0", "uk.64")}
    cow = {w: stat_row(text[f"stats.{w}"], "cow fault")[-1] for w in (0, 64, 128)}
    faults = {stat_row(text[name], "page fault")[-1] for name in text}
    uk0 = stat_row(text["uk.0"], "cow fault")
    clone = {k: modelled_of(call_named(trace_lines(cwd / f"fork.{k}"), r"\[pid\s+\d+\] clone"))
             for k in ("linux", "unikernel")}
    return {
        "lab7.page_faults": faults.pop() if len(faults) == 1 else f"differ: {faults}",
        "lab7.cow.0": cow[0], "lab7.cow.64": cow[64], "lab7.cow.128": cow[128],
        "lab7.cow_per_page": (cow[128] - cow[64]) / 64,
        "lab7.cow_parent": uk0[0], "lab7.cow_child": uk0[1],
        "lab7.intact": re.search(r"(\d+ of \d+) pages", (cwd / "out.64").read_text())[1],
        "lab7.fork_linux": stat_row(text["stats.64"], "fork")[-1],
        "lab7.clone_unikernel": stat_row(text["uk.64"], "instance clone")[-1],
        "lab7.instances": int(re.search(r"unikernel instances: (\d+) booted", text["uk.64"])[1]),
        "lab7.clone_ratio": clone["unikernel"] / clone["linux"],
    }


# ---- lab 6: a unikernel image, its size and its boot ---------------------------------------
@lab(6)
def lab6(cwd: Path, ran, tmp) -> dict:
    from conftest import ROOT
    built = (cwd / "build.txt").read_text()
    sites = re.search(r"(\d+) syscall sites: (\d+) rewritten to function calls, left as traps: (\w+)", built)
    info = (cwd / "info.txt").read_text()
    d = json.loads((cwd / "boot.json").read_text())
    native, image = d["sizes"]["./hello"], d["sizes"]["./hello.uk"]
    fill = re.search(r"\.fill\s+(\d+)\s*\*\s*(\d+)", (ROOT / "kernels" / "libos" / "libos.S").read_text())
    rows = {(r["image"], r["kernel"]): r["ms"] for r in d["rows"]}
    to_main = {k: ms["main"] for k, ms in rows.items()}

    fwk_made = sorted(ms["kernel_made"] for (image, kernel), ms in rows.items() if kernel != "linux")
    return {
        "lab6.sites": int(sites[1]),
        "lab6.left_as_traps": sites[3],
        "lab6.libos_kib": image["libos"]["total"] / 1024,
        "lab6.trampoline_slots": int(fill[1]),
        "lab6.trampoline_kib": int(fill[1]) * int(fill[2]) / 1024,
        "lab6.runtime_same": "yes" if abs(image["runtime"]["total"] - native["runtime"]["total"])
                            < 0.001 * native["runtime"]["total"] else "no",
        "lab6.app_bytes": image["app"]["total"],
        "lab6.image_mb": image["file"] / 2**20,
        "lab6.first_to_main": min(to_main, key=to_main.get)[1],
        "lab6.linux_made_ms": rows[("./hello", "linux")]["kernel_made"],
        "lab6.fwk_made_ms": fwk_made[len(fwk_made) // 2],
        "lab6.output": (cwd / "out.txt").read_text().strip(),
        "lab6.info_kind": "source compatibility" if "source compatibility" in info else info[:200],
    }
