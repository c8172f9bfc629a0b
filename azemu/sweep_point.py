"""One point of a sweep, run and measured where it runs: `azemu sweep --point -`.

The sweep's engine (azemu/sweep_engines.py) starts this on a host of its
own choosing — a process of the local pool, or a task on a Dask worker —
with the point as JSON on stdin, and reads one JSON record from stdout:

    {"argv": [...], "measures": [...], "timeout": 600,
     "program": {"arg": "name as in argv", "data": base64 bytes} | null}

The point's azemu command runs as a child of this process, in a session of
its own, so that its wall time, its CPU time (with the FWK proxy's, which it
waits for: getrusage of the children) and its output are its alone, and a
point past its timeout is killed whole.  A program given as bytes (a cluster
whose workers do not share the client's files) is written to a temporary
file first.  The record says where it ran: the host, azemu's version, and the
host's own calibration, which prices the counted events (modelled time).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

TIMING_FIELDS = ("wall_s", "cpu_s", "run_s", "finished", "engine", "fwk_median_us")   # vary run to run


def _measure(argv: list[str], timeout: float) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "azemu", *argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        status = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        status = "timeout"
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"status": status, "wall_s": wall, "cpu_s": cpu, "stdout": out, "stderr": err}


def _modelled(total: dict, calibration: dict) -> dict:
    from kernels.costmodel import Calibration, modelled_ns
    ns, _ = modelled_ns(total, Calibration.from_dict(calibration["figures"]))
    calls = total.get("syscalls", 0)
    return {"modelled_ns": ns, "modelled_ns_per_call": ns / calls if calls else None}


def run_point(payload: dict) -> dict:
    from . import __version__
    from .calibrate import host_info, load_or_measure
    measures = payload["measures"]
    with tempfile.TemporaryDirectory(prefix="azemu-sweep-") as tmp:
        argv = [a.replace("{stats}", os.path.join(tmp, "stats.json")) for a in payload["argv"]]
        program = payload.get("program")
        if program:
            path = os.path.join(tmp, os.path.basename(program["arg"]) or "program")
            with open(path, "wb") as f:
                f.write(base64.b64decode(program["data"]))
            os.chmod(path, 0o755)
            argv = [path if a == program["arg"] else a for a in argv]
        got = _measure(argv, payload["timeout"])
        stats = None
        if "{stats}" in " ".join(payload["argv"]) and os.path.exists(os.path.join(tmp, "stats.json")):
            with open(os.path.join(tmp, "stats.json")) as f:
                stats = json.load(f)
    record = {"status": got["status"], "host": host_info(), "azemu": __version__}
    if "wall" in measures:
        record["wall_s"] = got["wall_s"]
    if "cpu" in measures:
        record["cpu_s"] = got["cpu_s"]
    if "digest" in measures:
        record["stdout_sha256"] = hashlib.sha256(got["stdout"]).hexdigest()
    if got["status"] != 0:
        record["stderr_tail"] = got["stderr"].decode(errors="replace")[-400:]
    calibration = None
    if stats is not None:
        total = stats["total"]
        if "wall" in measures and "run_s" in stats:
            record["run_s"] = stats["run_s"]      # the guest's run alone: no start-up, no loading
        if "counters" in measures:
            record["counters"] = total
            record["variant"] = stats["variant"]
            if stats.get("fwk"):
                record["fwk_round_trips"] = stats["fwk"]["round_trips"]
                record["fwk_median_us"] = stats["fwk"]["median_us"]
        if "modelled" in measures:
            calibration = load_or_measure()
            record.update(_modelled(total, calibration))
    record["calibration"] = ({"figures": calibration["figures"], "when": calibration.get("when")}
                             if calibration else None)
    record["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def main() -> int:
    """`azemu sweep --point -`: the payload on stdin, the record on stdout."""
    try:
        payload = json.load(sys.stdin)
        if not isinstance(payload, dict) or not isinstance(payload.get("argv"), list) \
                or not isinstance(payload.get("measures"), list):
            raise ValueError("it needs argv and measures")
        payload.setdefault("timeout", 600)
    except ValueError as e:
        print(f"azemu sweep --point: not a point: {e}", file=sys.stderr)
        return 2
    json.dump(run_point(payload), sys.stdout)
    sys.stdout.write("\n")
    return 0
