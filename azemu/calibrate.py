"""`azemu calibrate`: measure on this host what the cost model can measure.

Runs the native helper shipped with azemu (data/native/calibrate, built from
guest_bins/src/calibrate.c; run on the host, never under azemu),
parses its "name value" lines, and keeps the result as JSON in the user's
cache (~/.cache/azemu/calibration.json, or $AZEMU_CACHE), where `azemu bench`
finds it.  The published constants the model also uses are in
kernels/costmodel.py, with their sources.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

from . import resources


_FIGURES = ("cycle_ns", "getpid_ns", "call_ns", "reg_ns", "lock_ns", "line_transfer_ns",
            "page_fault_ns", "cow_fault_ns", "shootdown_ns", "fork_ns", "exec_ns")


def cache_path() -> Path:
    base = os.environ.get("AZEMU_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "azemu")
    return Path(base) / "calibration.json"


def measure() -> dict:
    helper = resources.native("calibrate")
    out = subprocess.run([str(helper)], capture_output=True, text=True, check=True, timeout=120).stdout
    figures = {}
    for line in out.splitlines():
        name, value = line.split()
        figures[name] = float(value)
    meltdown = Path("/sys/devices/system/cpu/vulnerabilities/meltdown")
    return {
        "figures": figures,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(),
                 "kernel": platform.release(),
                 "meltdown": meltdown.read_text().strip() if meltdown.exists() else "unknown"},
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def host_info() -> dict:
    """The host a benchmark runs on, stored in its results so that every
    plot can say where it was measured: name, CPU model, cores, kernel."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"hostname": platform.node(), "cpu_model": model, "cpus": os.cpu_count(),
            "machine": platform.machine(), "kernel": platform.release()}


def host_label(host: dict | None) -> str:
    """One line for a plot: 'measured on NAME: CPU, N cores (Linux KERNEL)';
    from an older record (a calibration's host: no name, no CPU model), what
    it has, said to be partial."""
    if not host:
        return "host not recorded"
    name = host.get("hostname") or "(host name not recorded)"
    cpu = host.get("cpu_model") or f"{host.get('machine', '?')} (CPU model not recorded)"
    return f"measured on {name}: {cpu}, {host.get('cpus', '?')} cores (Linux {host.get('kernel', '?')})"


def load_or_measure(fresh: bool = False) -> dict:
    path = cache_path()
    if not fresh and path.exists():
        try:
            data = json.loads(path.read_text())
            if all(k in data["figures"] for k in _FIGURES):
                return data                  # else made by an older azemu: measure again
        except (OSError, ValueError, KeyError, TypeError):
            pass
    data = measure()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)                    # whole: sweep points may read it meanwhile
    return data


def print_calibration(data: dict, console) -> None:
    from rich.table import Table

    from kernels.costmodel import Calibration, prices
    f = data["figures"]
    t = Table(title=f"native figures measured on this host ({data['when']})")
    t.add_column("figure")
    t.add_column("ns", justify="right")
    for k, v in f.items():
        t.add_row(k, f"{v:.3f}")
    console.print(t)
    console.print(f"host: {data['host']}")
    cal = Calibration.from_dict(f)
    t = Table(title="cost of one event in the model")
    for col in ("event", "ns", "source"):
        t.add_column(col)
    for k, p in prices(cal).items():
        t.add_row(k, f"{p.ns:.2f}", p.source)
    console.print(t)
