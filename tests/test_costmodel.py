"""The cost model, `azemu calibrate` and `azemu bench getpid`.

No timing is asserted here (timings are the benchmarks' business); what is
checked is what follows from the mechanics: the events each kernel counts,
priced with this host's calibration, order the kernels as the paper argues."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, guest
from kernels import run_program
from kernels.costmodel import Calibration, modelled_ns, prices

N = 2000


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    env = dict(os.environ, AZEMU_CACHE=str(cache), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "azemu", "calibrate", "--json", str(cache / "c.json")],
                         capture_output=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads((cache / "c.json").read_text())
    return Calibration.from_dict(data["figures"])


def test_calibration_figures_are_plausible(calibration):
    c = calibration
    assert 0.05 < c.cycle_ns < 2                  # a 0.5-20 GHz clock
    assert c.call_ns > 0 and c.reg_ns > 0 and c.lock_ns > 0
    assert c.getpid_ns > c.call_ns                # a real trap costs more than a call
    assert c.fork_ns > 10 * c.getpid_ns           # a process costs more than a syscall
    assert c.exec_ns > c.fork_ns                  # and loading a program on top of it more


def test_fork_and_execve_are_priced_from_the_calibration(calibration):
    p = prices(calibration)
    assert p["fork"].ns == calibration.fork_ns and p["fork"].source.startswith("measured")
    assert p["execve"].ns == calibration.exec_ns - calibration.fork_ns
    total, parts = modelled_ns({"fork": 2, "execve": 1}, calibration)
    assert parts["fork"] == 2 * calibration.fork_ns and total == parts["fork"] + parts["execve"]


def test_every_price_says_where_it_comes_from(calibration):
    for name, p in prices(calibration).items():
        assert p.ns >= 0 and p.source, name


def _per_call(path, mode, **kw):
    runs = []
    for n in (N, 0):
        out, stats = run_program(path, [path, str(n)], {}, mode=mode, memory=64 << 20, **kw)
        runs.append(stats)
    return {k: v / N for k, v in (runs[0] - runs[1]).as_dict().items()}


def test_modelled_order_follows_the_mechanics(calibration):
    variants = [
        _per_call(guest("glibc", "getpid_loop"), "linux"),
        _per_call(guest("glibc", "getpid_loop"), "lwk"),
        _per_call(guest("glibc", "getpid_loop"), "unikernel"),
        _per_call(guest("libos/glibc", "getpid_loop"), "unikernel", in_guest=False),
        _per_call(guest("libos/glibc", "getpid_loop"), "unikernel", in_guest=True),
    ]
    costs = [modelled_ns(v, calibration)[0] for v in variants]
    assert costs == sorted(costs, reverse=True) and len(set(costs)) == len(costs), costs
