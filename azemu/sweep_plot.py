"""The plot of a sweep (`azemu sweep --plot FILE`): its numbers, then the drawing.

plot_data() picks the x axis — `cores` if the sweep has it, else its first
numeric axis — and makes one line per combination of the other axes and per
host (never a line across hosts): the median wall time of each point with its
interquartile range, and, where the kernel's events were counted, the
modelled native time per call.  Numeric axes that double (1, 2, 4 ...) are
drawn on log2, times on log scales.  The title names the sweep, its workload
and the host(s) it ran on.
"""
from __future__ import annotations


def plot_data(spec, summary: dict) -> dict:
    axes = list(spec.axes)
    numeric = [a for a in axes if all(isinstance(v, (int, float)) for v in spec.axes[a])]
    x = "cores" if "cores" in numeric else (numeric[0] if numeric else None)
    if x is None:
        raise ValueError("a plot needs a numeric axis (e.g. cores)")
    xs = sorted(spec.axes[x])
    doubling = len(xs) >= 2 and all(b == 2 * a for a, b in zip(xs, xs[1:]))
    series: dict[tuple, dict] = {}
    for r in summary["rows"]:
        others = tuple((a, r["point"][a]) for a in axes if a != x and len(spec.axes[a]) > 1)
        label = ", ".join(f"{a}={v}" for a, v in others) or spec.name
        if summary["mixed"]:
            label += f" on {r['host']}"
        s = series.setdefault((r["host"], others), {"label": label, "points": []})
        s["points"].append((r["point"][x], r.get("wall_median"), r.get("wall_q1"), r.get("wall_q3"),
                            r.get("modelled_ns_per_call")))
    for s in series.values():
        s["points"].sort()
    workload = f"azemu {spec.command} {spec.program} {' '.join(spec.args)}".strip()
    hosts = "; ".join(summary["labels"][h] for h in summary["hosts"])
    return {"x": x, "xs": xs, "log2_x": doubling, "series": list(series.values()),
            "modelled": any(p[4] is not None for s in series.values() for p in s["points"]),
            "title": f"sweep {spec.name}: {workload}\n{hosts}"}


def draw(spec, summary: dict, path: str) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    d = plot_data(spec, summary)
    panels = 2 if d["modelled"] else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.8), squeeze=False)
    wall_ax = axes[0][0]
    for s in d["series"]:
        pts = [p for p in s["points"] if p[1] is not None]
        if pts:
            xs = [p[0] for p in pts]
            med = [p[1] for p in pts]
            err = [[m - p[2] for m, p in zip(med, pts)], [p[3] - m for m, p in zip(med, pts)]]
            wall_ax.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=s["label"])
    wall_ax.set_ylabel("wall time, s (median, IQR)")
    wall_ax.set_yscale("log")
    wall_ax.set_title("measured: the whole azemu process", fontsize=9)
    if d["modelled"]:
        m_ax = axes[0][1]
        for s in d["series"]:
            pts = [p for p in s["points"] if p[4] is not None]
            if pts:
                m_ax.plot([p[0] for p in pts], [p[4] for p in pts], marker="o", label=s["label"])
        m_ax.set_ylabel("native ns per call (modelled)")
        m_ax.set_yscale("log")
        m_ax.set_title("counted events x cost model, over the syscalls", fontsize=9)
    for row in axes:
        for ax in row:
            ax.set_xlabel(d["x"])
            if d["log2_x"]:
                ax.set_xscale("log", base=2)
            ax.set_xticks(d["xs"], [str(v) for v in d["xs"]])
            ax.legend(fontsize=8)
    fig.suptitle(d["title"], fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return d
