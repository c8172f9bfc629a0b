"""The kernel's view of each traced call (`--trace-kernel`, `--trace-json`):
what no strace shows — how the call entered (a trap with a full context
switch, a bare trap, a function call into the libOS), on which core, whether
the kernel served it or sent it to the FWK proxy (and the channel's round
trips), how long the emulator took, and what the same call would cost a
native kernel, modelled.

Everything comes from what the kernels already count (kernels/counters.py),
read around the call; nothing is declared twice:

* the entry: the counters' `function_hook`, `trap` and `context_switch`;
  `in-guest` for a call the libOS of an `azemu build` image answered without
  leaving the guest (read from its ring: kernels/libos/libos.S);
* the FWK: the round trips the core's FWK client timed during the call;
* the emulator time: the handler's own time (host clock), from the first
  line of the handler to its return — the trap itself is not in it;
* the modelled native time: the cost model (kernels/costmodel.py) prices the
  call's events with this host's calibration (`azemu calibrate`).  A call's
  events are those its handler counted, plus the entry and exit mechanics:
  the counters' change since the previous call on the same core ended —
  that call's way out and this one's way in — less what user code did in
  between (page faults, TLB flushes).  The first call on a core has no way
  out before it: its figure lacks one exit.  Modelled, and labelled so.
"""
from __future__ import annotations

import json
import time

from ..counters import FIELDS
from .table import BY_NUMBER

# What guest user code may count between two calls: not a call's cost.
_USER_SIDE = frozenset(("page_fault", "cow_fault", "tlb_flush", "tlb_shootdown", "in_guest"))


def _snapshot(c) -> dict:
    return {f: getattr(c, f) for f in FIELDS}


class KernelView:
    """Per traced call: start() before the handler, finish() after."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.after_last: dict[int, dict] = {}     # core -> counters when its last call ended
        self._prices = None

    def _cal(self):
        if self._prices is None:
            from azemu.calibrate import cache_path, load_or_measure
            from ..costmodel import Calibration
            if not cache_path().exists():
                self.kernel.report_once("calibration", "measuring this host's native costs for "
                                        "the modelled times, once (azemu calibrate)")
            self._prices = Calibration.from_dict(load_or_measure()["figures"])
        return self._prices

    def start(self, p):
        core = getattr(p.core, "index", 0)
        counters = self.kernel.counters[core]
        rtts = self._rtts(p)
        return (core, _snapshot(counters), len(rtts) if rtts is not None else 0,
                time.perf_counter_ns())

    def in_guest(self, p) -> dict:
        """A call the libOS answered inside the guest: no kernel entry at all,
        and no emulator time of its own to tell apart (None)."""
        from ..costmodel import modelled_ns
        model, _ = modelled_ns({"in_guest": 1}, self._cal())
        return {"entry": "in-guest", "core": getattr(p.core, "index", 0), "served": "libos",
                "offloaded_family": False, "fwk_round_trips_us": [], "emulator_us": None,
                "modelled_native_ns": model, "events": {"in_guest": 1}}

    def ended(self, p) -> None:
        """A call not shown ended on `p`'s core: the next one starts from here."""
        core = getattr(p.core, "index", 0)
        self.after_last[core] = _snapshot(self.kernel.counters[core])

    def _rtts(self, p):
        lists = getattr(getattr(p.io, "backend", None), "rtt_ns", None)
        return lists[p.io.core] if lists is not None else None

    def finish(self, p, state, nr: int) -> dict:
        core, before, n_rtt, t0 = state
        emu_ns = time.perf_counter_ns() - t0
        now = _snapshot(self.kernel.counters[core])
        previous = self.after_last.get(core, {f: 0 for f in FIELDS})
        self.after_last[core] = now
        events = {f: now[f] - before[f] for f in FIELDS}            # the handler's
        for f in FIELDS:                                            # the way in (and out)
            if f not in _USER_SIDE:
                events[f] += before[f] - previous[f]
        rtts = self._rtts(p)
        trips = [ns / 1000 for ns in rtts[n_rtt:]] if rtts is not None else []
        from ..costmodel import modelled_ns
        model, _ = modelled_ns({k: v for k, v in events.items() if v}, self._cal())
        if events["function_hook"]:
            entry = "call"
        elif events["context_switch"]:
            entry = "trap+switch"
        else:
            entry = "trap"
        e = BY_NUMBER.get(nr)
        return {"entry": entry, "core": core, "served": "fwk" if trips else "kernel",
                "offloaded_family": bool(e and e.offloaded), "fwk_round_trips_us": trips,
                "emulator_us": emu_ns / 1000, "modelled_native_ns": model,
                "events": {k: v for k, v in events.items() if v}}


def suffix(view: dict) -> str:
    """The view, after a strace line: `[trap+switch core 0, kernel; emulator 3.1 µs;
    native 212 ns modelled]`."""
    served = view["served"]
    if served == "fwk":
        trips = view["fwk_round_trips_us"]
        served = f"FWK {len(trips)} round trip{'s' if len(trips) != 1 else ''} {sum(trips):.1f} µs"
    emu = "" if view["emulator_us"] is None else f" emulator {view['emulator_us']:.1f} µs;"
    ns = view["modelled_native_ns"]
    native = f"{ns:.0f} ns" if ns < 1000 else f"{ns / 1000:.2f} µs"
    return f"  [{view['entry']} core {view['core']}, {served};{emu} native {native} modelled]"


def json_line(tid: int, name: str, nr: int, text: str, result: str, view: dict | None) -> str:
    record = {"tid": tid, "syscall": name, "nr": nr, "call": text, "result": result}
    if view is not None:
        record.update(view)
    return json.dumps(record)
