"""`azemu sweep --report`: a sweep's records as tables and a plot.

Points are grouped by host and by their axes' values (the repeats of a point
together): per group, the runs, their statuses, the median wall and CPU time
with the interquartile range, the syscalls counted and the modelled native
time per call.  A ratio is computed only between points of one host: each
group's median wall time against the group of the same host whose first axis
has its first value (with the other axes equal) — e.g. lwk against linux, at
the same core count.  Records from several hosts are reported host by host,
the report says so, and their emulator times are also shown normalised by
each host's calibrated cycle (relative to the first host's), the one figure
the hosts share a meaning for; nothing is compared across hosts unnormalised.
"""
from __future__ import annotations

import statistics

from rich.markup import escape
from rich.table import Table

from .calibrate import host_label


def _host_id(rec: dict) -> str:
    h = rec.get("host") or {}
    return f"{h.get('hostname', '?')} ({h.get('cpu_model', '?')})"


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


def _cycle(records: list[dict]) -> float | None:
    for r in records:
        cal = r.get("calibration")
        if cal and cal.get("figures", {}).get("cycle_ns"):
            return cal["figures"]["cycle_ns"]
    return None


def summarise(spec, records: list[dict]) -> dict:
    """The numbers behind the tables and the plot: {"hosts": [...], "rows": [...], "mixed": bool}."""
    axes = list(spec.axes)
    hosts = list(dict.fromkeys(_host_id(r) for r in records))
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((_host_id(r), tuple(r["point"].get(a) for a in axes)), []).append(r)
    cycles = {h: _cycle([r for r in records if _host_id(r) == h]) for h in hosts}
    ref_cycle = cycles.get(hosts[0]) if hosts else None
    rows = []
    for (host, values), recs in groups.items():
        walls = [r["wall_s"] for r in recs if "wall_s" in r]
        row = {"host": host, "point": dict(zip(axes, values)), "runs": len(recs),
               "statuses": sorted({str(r["status"]) for r in recs})}
        if walls:
            row["wall_q1"], row["wall_median"], row["wall_q3"] = _quartiles(walls)
            if len(hosts) > 1 and cycles.get(host) and ref_cycle:
                row["wall_normalised"] = row["wall_median"] * ref_cycle / cycles[host]
        cpus = [r["cpu_s"] for r in recs if "cpu_s" in r]
        if cpus:
            row["cpu_median"] = statistics.median(cpus)
        calls = [r["counters"]["syscalls"] for r in recs if r.get("counters")]
        if calls:
            row["syscalls"] = statistics.median(calls)
        per_call = [r["modelled_ns_per_call"] for r in recs if r.get("modelled_ns_per_call") is not None]
        if per_call:
            row["modelled_ns_per_call"] = statistics.median(per_call)
        digests = {r.get("stdout_sha256") for r in recs}
        row["outputs_agree"] = len(digests) == 1
        rows.append(row)
    if axes:
        first, base_value = axes[0], spec.axes[axes[0]][0]
        index = {(r["host"], tuple(sorted((k, str(v)) for k, v in r["point"].items() if k != first))): r
                 for r in rows if r["point"][first] == base_value}
        for r in rows:
            base = index.get((r["host"], tuple(sorted((k, str(v)) for k, v in r["point"].items()
                                                      if k != first))))
            if base and base.get("wall_median") and "wall_median" in r:
                r["ratio_to_base"] = r["wall_median"] / base["wall_median"]
                r["base"] = f"{first}={base_value}"
    return {"hosts": hosts, "rows": rows, "mixed": len(hosts) > 1,
            "labels": {h: host_label(next(r["host"] for r in records if _host_id(r) == h)) for h in hosts}}


def report(spec, records: list[dict], console, plot: str | None = None) -> dict:
    s = summarise(spec, records)
    if s["mixed"]:
        console.print(f"[bold]results from {len(s['hosts'])} hosts[/]: each host has its own table and "
                      "its own ratios; 'wall, normalised' scales each host's times by its calibrated "
                      f"cycle to {s['hosts'][0]}'s — the only cross-host figure given")
    axes = list(spec.axes)
    for host in s["hosts"]:
        rows = [r for r in s["rows"] if r["host"] == host]
        t = Table(title=f"sweep {spec.name}: azemu {spec.command} {spec.program} {' '.join(spec.args)}",
                  caption=escape(s["labels"][host] + "; medians of the repeats, [q1, q3] their quartiles; "
                                 "ratio: wall time against " + (rows[0].get("base", "—") if rows else "—")
                                 + " on this host; modelled: all counted events priced, per syscall"))
        for a in axes:
            t.add_column(a)
        for col in ("runs", "status", "wall s", escape("[q1, q3]"), "CPU s", "ratio", "syscalls",
                    "modelled ns/call") + (("wall, normalised",) if s["mixed"] else ()):
            t.add_column(col, justify="right")
        for r in rows:
            t.add_row(*(str(r["point"][a]) for a in axes), str(r["runs"]), ",".join(r["statuses"]),
                      f"{r['wall_median']:.3f}" if "wall_median" in r else "",
                      f"[{r['wall_q1']:.3f}, {r['wall_q3']:.3f}]" if "wall_median" in r else "",
                      f"{r['cpu_median']:.3f}" if "cpu_median" in r else "",
                      f"{r['ratio_to_base']:.2f}x" if "ratio_to_base" in r else "",
                      f"{r['syscalls']:,.0f}" if "syscalls" in r else "",
                      f"{r['modelled_ns_per_call']:.1f}" if "modelled_ns_per_call" in r else "",
                      *((f"{r['wall_normalised']:.3f}" if "wall_normalised" in r else "",)
                        if s["mixed"] else ()))
        console.print(t)
        if not all(r["outputs_agree"] for r in rows):
            console.print("note: some points' repeats printed different output (stdout digests differ)")
    if plot:
        from .sweep_plot import draw
        draw(spec, s, plot)
    return s
