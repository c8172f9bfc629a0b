#!/usr/bin/env python3
"""Copy the latest results (benchmarks/results/*.json) into the tables of
benchmarks/README.md, between its <!-- NAME:begin --> / <!-- NAME:end --> markers,
so the README always shows what the JSON files hold.

    python benchmarks/record.py
"""
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from azemu.bench import add_ratios, fmt_spread, fmt_time  # noqa: E402


def floor_table(fl):
    def row(name, key, unit, ratio="", target=""):
        r = fl[key]
        return (f"| {name} | {r['median']:.3f} {unit} | {r['min']:.3f}–{r['max']:.3f} | {ratio} | {target} |")
    base = fl["getpid_floor_us"]["median"]
    out = ["| what | median | min–max | vs floor | target |", "|---|---|---|---|---|",
           row("getpid, native (host)", "getpid_native_us", "µs/call"),
           row("getpid, bare Unicorn + raw hook (floor)", "getpid_floor_us", "µs/call", "1.00x"),
           row("getpid, azemu unikernel-binary (trap, no switch)", "getpid_azemu_us", "µs/call",
               f"**{fl['ratio_getpid_azemu_over_floor']:.2f}x**",
               "≤ 1.5x (#2), ≤ 1.3x (#3): " + ("met" if fl["ratio_getpid_azemu_over_floor"] <= 1.3 else "missed")),
           row("getpid, azemu linux (trap, full context switch)", "getpid_azemu_linux_us", "µs/call",
               f"{fl['getpid_azemu_linux_us']['median'] / base:.2f}x", "(context)"),
           row(f"compute loop ({fl['params']['iters']:,} iterations), bare Unicorn", "compute_floor_s", "s", "1.00x"),
           row("compute loop, azemu", "compute_azemu_s", "s", f"**{fl['ratio_compute_azemu_over_floor']:.2f}x**",
               "≤ 1.2x: " + ("met" if fl["ratio_compute_azemu_over_floor"] <= 1.2 else "missed"))]
    return "\n".join(out)


def getpid_table(gp):
    """The getpid results as azemu bench prints them (azemu/bench.py computes
    the figures without KPTI and the ratios: add_ratios)."""
    add_ratios(gp)
    out = ["| variant | emulator µs/call (median of pairs) | [q1, q3] (min to max) | vs linux "
           "| modelled native ns/call | vs linux | modelled, without KPTI | vs linux, without KPTI |",
           "|---|---|---|---|---|---|---|---|"]

    def x(r):
        return f"{r:.2f}x" if r else ""
    for name, v in gp["variants"].items():
        e, m = v["emulator_us"], v["modelled_ns"]
        modelled = f"{m:.1f}" if m is not None else f"({v['measured_native_getpid_ns']:.1f} measured by calibrate)"
        no_kpti = f"{v['modelled_ns_no_kpti']:.1f}" if m is not None else ""
        out.append(f"| {name} | {fmt_time(e['median'])} | {fmt_spread(e)} | {x(v['speedup_emulator'])} | "
                   f"{modelled} | {x(v['speedup_modelled'])} | {no_kpti} | "
                   f"{x(v['speedup_modelled_no_kpti'])} |")
    p = gp["params"]
    host = p.get("host")
    out.append("")
    out.append("Modelled ratios, with KPTI / without KPTI (the page-table switches removed): "
               + "; ".join(f"{k} **{r['with_kpti']:.2f}x** / **{r['without_kpti']:.2f}x**"
                           for k, r in gp["ratios"].items()) + ". "
               f"Run with {p['repeat']} paired repeats of {p['iterations']:,} calls"
               + (f" on {host['hostname']} ({host['cpu_model']}, {host['cpus']} cores)." if host else "."))
    return "\n".join(out)


def calibration_table(gp):
    f = gp["calibration"]["figures"]
    return "| figure | ns |\n|---|---|\n" + "\n".join(f"| {k} | {v:.3f} |" for k, v in f.items())


def offload_tables(of):
    states = ("quiet", "busy")
    out = ["| served by | quiet: µs/call | quiet: round trip median / p99 | busy: µs/call "
           "| busy: round trip median / p99 |", "|---|---|---|---|---|"]
    for name in of["quiet"]["round_trip"]:
        cells = []
        for s in states:
            v = of[s]["round_trip"][name]
            rt = v["channel_rtt_us"]
            cells += [f"{v['per_call_us']['median']:.2f}",
                      f"{rt['median']:.1f} / {rt['p99']:.1f} µs" if rt else "(no channel)"]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    if of["quiet"].get("dd"):
        out += ["", "| busybox `dd bs=64` | linux s | lwk s | lwk / linux "
                "| CPU s: linux / lwk emulator + proxy | CPU lwk / linux |", "|---|---|---|---|---|---|"]
        for s in states:
            d = of[s]["dd"]
            c = d.get("cpu_s")
            cpu = (f"{c['linux']['both']:.2f} / {c['lwk']['emulator']:.2f} + {c['lwk']['proxy']:.2f} | "
                   f"{d['cpu_ratio']:.2f}x" if c else "- | -")
            out.append(f"| {s}, {d['blocks']:,} blocks | {d['linux_s']['median']:.2f} | "
                       f"{d['lwk_s']['median']:.2f} | **{d['ratio']:.2f}x** | {cpu} |")
    out += ["", "| bulk read, MiB/s | native `cat` | lwk, 128 KiB reads (cat's) | lwk, 4 MiB reads "
            "| linux, 128 KiB | the reading alone: native / lwk 128 KiB |",
            "|---|---|---|---|---|---|"]

    def ratio(b, key, bold=False):
        x = f"{b[key]['vs_native']:.2f}x"
        return f"{b[key]['median']:.0f} ({'**' + x + '**' if bold else x})"
    for s in states:
        b = of[s]["bulk"]
        out.append(f"| {s} | {b['native_cat_mib_s']['median']:.0f} | "
                   f"{ratio(b, 'lwk_proxy_128k_mib_s', True)} | {ratio(b, 'lwk_proxy_4m_mib_s')} | "
                   f"{ratio(b, 'linux_128k_mib_s')} | {b['native_cat_reading_mib_s']['median']:.0f} / "
                   f"{ratio(b, 'lwk_proxy_128k_reading_mib_s', True)} |")
    e = of["quiet"]["bulk"]["empty_file_s"]
    out += ["", f"An empty file, quiet: native `cat` {e['native_cat'] * 1000:.1f} ms, "
            f"`readfile` in lwk {e['lwk_readfile'] * 1000:.1f} ms (subtracted for \"the reading alone\")."]
    st = of["startup_s"]
    p = of["params"]
    out += ["", f"Proxy ready: a cold FWK service and its first worker "
            f"{st['cold_service']['median'] * 1000:.0f} ms, another worker of a running service "
            f"{st['warm_worker']['median'] * 1000:.0f} ms (medians). "
            f"{p['calls']:,} calls per run quiet, {p['busy_calls']:,} busy; a {p['size_mib']} MiB file; "
            f"median of {p['repeat']}; busy = one CPU hog pinned on each host CPU ({of['host_cpus']})."]
    return "\n".join(out)


def machines_table(mc):
    out = ["| cores | partitions | kernel | boot s | run s | shutdown s | total s | peak RSS, all processes, MiB "
           "| peak PSS MiB | PSS per core MiB | azemu peak MiB | processes |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in mc["rows"]:
        if "error" in r or r.get("total_s") is None:
            out.append(f"| {r['cores']} | {r['partitions']} x {r['partition_cores']} | {r['kernel']} | "
                       f"failed: {r.get('error', '?')} |||||||||")
            continue
        out.append(f"| {r['cores']} | {r['partitions']} x {r['partition_cores']} | {r['kernel']} | "
                   f"{r['boot_s']:.2f} | {r['run_s']:.2f} | {r['shutdown_s']:.2f} | {r['total_s']:.2f} | "
                   f"{r['peak_rss_mib']:.0f} | {r['peak_pss_mib']:.0f} | {r['peak_pss_mib'] / r['cores']:.2f} | "
                   f"{r['azemu_peak_rss_mib']:.0f} | {r['processes']} |")
    return "\n".join(out)


def pathwalk_table(pw):
    cols = [c for c in ("native", "linux/openat2", "lwk/openat2", "linux/components", "lwk/components")
            if c in pw["us_per_call"]]
    names = {"c": "create, write, close", "o": "open, fstat, close", "s": "stat", "a": "fstatat (dir fd)",
             "l": "open all, then close", "u": "unlink"}
    out = ["| phase, µs per call | " + " | ".join(cols) + " | lwk / linux (openat2) |",
           "|---" * (len(cols) + 2) + "|"]
    us = pw["us_per_call"]
    for k, name in names.items():
        out.append(f"| {name} | " + " | ".join(f"{us[c][k]:.1f}" for c in cols)
                   + f" | {us['lwk/openat2'][k] / us['linux/openat2'][k]:.2f}x |")
    ps = pw["program_s"]
    out.append("| **whole program, s** | " + " | ".join(f"{ps[c]:.3f}" for c in cols)
               + f" | **{ps['lwk/openat2'] / ps['linux/openat2']:.2f}x** |")
    out += ["", f"{pw['params']['files']:,} files, median of {pw['params']['repeat']} runs."]
    return "\n".join(out)


def scaling_table(sc):
    modes = list(sc["modes"])
    out = ["| N | " + " | ".join(f"{m}: modelled ns | {m}: emulator µs" for m in modes)
           + " | linux: line transfers per call |",
           "|---" * (2 + 2 * len(modes)) + "|"]
    for i, n in enumerate(sc["n"]):
        cells = [str(n)]
        for m in modes:
            r = sc["modes"][m][i]
            cells += [f"{r['modelled_ns']:.1f}", f"{r['emulator_us']:.2f}"]
        cells.append(f"{sc['modes']['linux'][i]['line_transfers_per_call']:.2f}")
        out.append("| " + " | ".join(cells) + " |")
    p = sc["params"]
    out.append("")
    out.append(f"{p['iters']} getpid and {p['iters'] // 10} mmap/munmap per thread.")
    return "\n".join(out)


def multikernel_table(mk):
    import statistics
    par, seq = statistics.median(mk["parallel_s"]), statistics.median(mk["sequential_s"])
    return ("| two compute partitions | median s | min–max |\n|---|---|---|\n"
            f"| side by side | {par:.2f} | {min(mk['parallel_s']):.2f}–{max(mk['parallel_s']):.2f} |\n"
            f"| one after another | {seq:.2f} | {min(mk['sequential_s']):.2f}–{max(mk['sequential_s']):.2f} |\n"
            f"\nSpeed-up **{seq / par:.2f}x** (target ≥ 1.6x), {mk['iters']:,} iterations each.")


def startup_table(quiet, busy):
    out = ["| command | quiet: wall ms (median) | min–max | vs bare | CPU vs bare | busy ("
           + str(busy["params"]["load"]) + " hogs): wall ms | vs bare | CPU vs bare |",
           "|---|---|---|---|---|---|---|---|"]
    for name, v in quiet["seconds"].items():
        b = busy["seconds"][name]
        out.append(f"| {name} | {v['median'] * 1e3:.1f} | {v['min'] * 1e3:.1f}–{v['max'] * 1e3:.1f} | "
                   f"{v['vs_bare']:.2f}x | {v['cpu_vs_bare']:.2f}x | {b['median'] * 1e3:.1f} | "
                   f"{b['vs_bare']:.2f}x | {b['cpu_vs_bare']:.2f}x |")
    r, rb = quiet["ratio_linux_over_bare"], busy["ratio_linux_over_bare"]
    out += ["", f"`azemu exec` (linux) / bare, wall: **{r:.2f}x** quiet, **{rb:.2f}x** busy; CPU: "
            f"{quiet['cpu_ratio_linux_over_bare']:.2f}x, {busy['cpu_ratio_linux_over_bare']:.2f}x "
            f"(target ≤ 1.5x: {'met' if r <= 1.5 else 'missed'} quiet, "
            f"{'met' if rb <= 1.5 else 'missed'} busy). Median of {quiet['params']['repeat']} "
            f"(busy: {busy['params']['repeat']}); azemu: {quiet['params']['installed']}."]
    return "\n".join(out)


def mm_table(mm):
    out = ["| mappings | cores | getpid µs | mprotect µs | vs getpid | mmap+munmap µs | "
           "per call vs getpid | pair vs getpid | mmap, store, munmap µs | per call vs getpid | "
           "mprotect: flushes, shootdowns / call | mmap, store, munmap: faults, shootdowns / iteration |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in mm["rows"]:
        p, u, m = r["mprotect"], r["mapunmap"], r["mmap"]
        out.append(f"| {r['maps']:,} | {r['cores']} | {r['getpid']['median']:.2f} | {p['median']:.2f} | "
                   f"{r['mprotect_vs_getpid']:.2f}x | {u['median']:.2f} | "
                   f"{r['mapunmap_per_call_vs_getpid']:.2f}x | {r['mapunmap_vs_getpid']:.2f}x | "
                   f"{m['median']:.2f} | {r['mmap_per_call_vs_getpid']:.2f}x | "
                   f"{p['tlb_flush']:.2f}, {p['tlb_shootdown']:.2f} | {m['page_fault']:.2f}, "
                   f"{m['tlb_shootdown']:.2f} |")

    def verdict(x):
        return "met" if x <= 3 else "missed"
    w = mm["worst"]
    wp, wu = w["mprotect_vs_getpid"], w["mapunmap_per_call_vs_getpid"]
    out += ["", f"Mode {mm['params']['mode']}, {mm['params']['calls']:,} iterations, median of "
            f"{mm['params']['repeat']}. Worst per-call ratio to getpid (target ≤ 3x): mprotect "
            f"**{wp:.2f}x** ({verdict(wp)}); mmap+munmap **{wu:.2f}x** ({verdict(wu)}). The "
            f"mmap+munmap pair as a whole: worst **{w['mapunmap_vs_getpid']:.2f}x** one getpid; "
            f"with a store between them (a demand fault, a frame freed, a TLB entry flushed) "
            f"**{w['mmap_per_call_vs_getpid']:.2f}x** per call, {w['mmap_vs_getpid']:.2f}x the pair."]
    return "\n".join(out)


def threads_table(ts):
    out = []
    for prog, rows in ts["programs"].items():
        out += [f"`{prog} N`:", "", "| N | native s | qemu-user s | azemu s | azemu / qemu | azemu vs N=1 |",
                "|---|---|---|---|---|---|"]
        for r in rows:
            out.append(f"| {r['n']} | {r['native']:.3f} | {r.get('qemu', float('nan')):.3f} | "
                       f"{r['azemu']:.3f} | {r.get('azemu_vs_qemu', float('nan')):.2f}x | "
                       f"{r['azemu'] / rows[0]['azemu']:.1f}x |")
        out.append("")
    one = ts.get("one_thread_same_work")
    if one:
        out += [f"`lost_update 1 {one['iterations']}` — the same work in one thread, no "
                "scheduling: the emulation's own speed on this loop:", "",
                "| native s | qemu-user s | azemu s | azemu / qemu |", "|---|---|---|---|",
                f"| {one['native']:.3f} | {one.get('qemu', float('nan')):.3f} | {one['azemu']:.3f} | "
                f"{one.get('azemu_vs_qemu', float('nan')):.2f}x |"]
    return "\n".join(out).rstrip()


def procs_table(pr):
    runners = pr["runners"]
    modes = [r[len("azemu "):] for r in runners if r.startswith("azemu ")]
    head = ["operation", *(f"{r} µs" for r in runners)]
    if "qemu" in runners:
        head += [f"{m} / qemu" for m in modes]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = [(r["op"] + (f", {r['mib']} MiB touched" if r["mib"] else ""), r) for r in pr["cases"]]
    if pr.get("pipeline"):
        rows.append(("3-stage sh pipeline", pr["pipeline"]))
    if pr.get("python"):
        rows.append(("python3 runs python3 -c pass", pr["python"]))
    for label, r in rows:
        cells = [f"{r[n]['median']:.0f}" if n in r else "–" for n in runners]
        if "qemu" in runners:
            cells += [f"{r['azemu ' + m]['median'] / r['qemu']['median']:.2f}x"
                      if "azemu " + m in r else "–" for m in modes]
        out.append("| " + " | ".join([label, *cells]) + " |")
    out.append("")
    for m, v in pr["summary"].items():
        out.append(f"- {m}: fork+exit+wait **{v.get('fork_vs_qemu', float('nan')):.2f}x** qemu-user "
                   f"(target ≤ 20x); fork with 256 MiB touched **{v['fork_256_vs_16']:.2f}x** "
                   "the fork with 16 MiB (target ≤ 1.5x)")
    return "\n".join(out)


def memory_table(mh):
    out = ["| workload | native s | qemu-user s | bare Unicorn s | azemu s | azemu / qemu | "
           "azemu / bare | bare / qemu | time in Unicorn |", "|---|---|---|---|---|---|---|---|---|"]

    def c(r, k):
        return f"{r[k]['median']:.2f}" if k in r else "–"

    def q(r, x, y):
        return f"{r[x]['median'] / r[y]['median']:.2f}x" if x in r and y in r else "–"
    for group in ("programs", "raw"):
        for name, r in mh[group].items():
            share = f"{r['unicorn_share']:.1%}" if "unicorn_share" in r else "–"
            out.append(f"| {name} | {c(r, 'native')} | {c(r, 'qemu')} | {c(r, 'bare_unicorn')} | "
                       f"{c(r, 'azemu')} | {q(r, 'azemu', 'qemu')} | {q(r, 'azemu', 'bare_unicorn')} | "
                       f"{q(r, 'bare_unicorn', 'qemu')} | {share} |")
    if "two_cpus" in mh:
        out += ["", two_cpus_table(mh["two_cpus"])]
    return "\n".join(out)


def two_cpus_table(r):
    b, lu = r["bare_unicorn"], r["lost_update"]
    out = [f"| two CPUs at once: {r['adds']:,} `lock add` per bare Unicorn instance; "
           f"`lost_update 2 {lu['iters']:,}` | s | CPUs used | counted / expected |", "|---|---|---|---|",
           f"| bare Unicorn, one instance | {b['one_s']:.2f} | 1 | – |",
           f"| bare Unicorn, two at once, a counter each | {b['two_apart_s']:.2f} | "
           f"{2 * b['one_s'] / b['two_apart_s']:.2f} | – |",
           f"| bare Unicorn, two at once, one shared counter | {b['two_shared_s']:.2f} | – | "
           + ", ".join(f"{c / b['expected']:.0%}" for c in b["shared_counts"]) + " |"]
    for name in ("native", "qemu-user", "azemu, 2 cores"):
        if name in lu:
            x = lu[name]
            out.append(f"| lost_update, {name} | {x['wall_s']:.2f} | {x['cpus']:.2f} | "
                       f"{'exact' if x['exact'] else '**lost**'} |")
    return "\n".join(out)


def boot_table(bt):
    def ms(v):
        return "—" if v is None else f"{v:.1f}"

    def kib(z, k):
        return "—" if z[k] is None else f"{z[k]['total'] / 1024:.1f}"
    def spread(r, k):
        xs = [x[k] if isinstance(x, dict) else x for x in r["runs_ms"]]
        xs = [x for x in xs if x is not None]
        return f"{min(xs):.1f}–{max(xs):.1f}" if xs else "—"
    out = ["| image | kernel | kernel made ms | loaded ms | first instruction ms | min–max "
           "| main ms | exit ms | min–max |", "|---|---|---|---|---|---|---|---|---|"]
    for r in bt["rows"] + bt["native"]:
        m = r["ms"]
        first = spread(r, "first") if "first" in m else "—"
        out.append(f"| {r['image']} | {r['kernel']} | {ms(m.get('kernel_made'))} | "
                   f"{ms(m.get('loaded'))} | {ms(m.get('first'))} | {first} | "
                   f"{ms(m.get('main'))} | {ms(m.get('exit'))} | {spread(r, 'exit')} |")
    out += ["", f"Median of {bt['params']['repeat']} (after one uncounted boot per kernel). "
            "Emulator times are Python + Unicorn on this host, not native boot times; "
            "native = the host's fork+exec+wait of the same static program.", "",
            "| image | file KiB | loaded KiB | app | runtime (libc) | libOS | unattributed |",
            "|---|---|---|---|---|---|---|"]
    for name, z in bt["sizes"].items():
        out.append(f"| {name} | {z['file'] / 1024:.1f} | {z['loaded'] / 1024:.1f} | "
                   f"{kib(z, 'app')} | {kib(z, 'runtime')} | {kib(z, 'libos')} | "
                   f"{z['unattributed'] / 1024:.1f} |")
    out += ["", "| published (cited by the Azalea paper; not measured here) | image size | boot "
            "| source |", "|---|---|---|---|"]
    for x in bt["published"]:
        out.append(f"| {x['system']} | {x['image_size'] or '—'} | {x['boot'] or '—'} | "
                   f"{x['source']} |")
    return "\n".join(out)


def sweep_table(path):
    """A sweep's results file as the report's rows (azemu/sweep_report.py)."""
    from azemu.sweep import read_results, spec_path
    from azemu.sweep_report import summarise
    from azemu.sweep_spec import load
    recs = read_results(path)
    if not recs:
        return "(not run yet)"
    spec = load(spec_path(recs[0]["sweep"]))
    s = summarise(spec, recs)
    axes = list(spec.axes)
    out = ["| " + " | ".join(axes) + " | runs | wall s (median) | [q1, q3] | ratio | syscalls "
           "| modelled ns/call |", "|---" * (len(axes) + 6) + "|"]
    for r in s["rows"]:
        out.append("| " + " | ".join(str(r["point"][a]) for a in axes)
                   + f" | {r['runs']} | {r['wall_median']:.3f} | [{r['wall_q1']:.3f}, {r['wall_q3']:.3f}]"
                   + f" | {r.get('ratio_to_base', float('nan')):.2f}x | {r.get('syscalls', 0):,.0f}"
                   + f" | {r.get('modelled_ns_per_call', float('nan')):.1f} |")
    out += ["", f"{s['labels'][s['hosts'][0]]}; ratio: wall time against "
            f"{s['rows'][0].get('base', '—')} at the same point."]
    return "\n".join(out)


def main():
    readme = HERE / "README.md"
    text = readme.read_text()
    fl = json.loads((HERE / "results" / "syscall_floor.json").read_text())
    gp = json.loads((HERE / "results" / "getpid.json").read_text())
    of = json.loads((HERE / "results" / "offload.json").read_text())
    sc = json.loads((HERE / "results" / "scaling.json").read_text())
    mk = json.loads((HERE / "results" / "multikernel.json").read_text())
    su = json.loads((HERE / "results" / "startup.json").read_text())
    sb = json.loads((HERE / "results" / "startup_busy.json").read_text())
    for name, body in (("floor", floor_table(fl)), ("getpid", getpid_table(gp)),
                       ("calibration", calibration_table(gp)), ("offload", offload_tables(of)),
                       ("scaling", scaling_table(sc)), ("multikernel", multikernel_table(mk)),
                       ("startup", startup_table(su, sb)),
                       ("mm", mm_table(_load("mm"))), ("threads", threads_table(_load("threads_scaling"))),
                       ("memory", memory_table(_load("memory_heavy"))),
                       ("procs", procs_table(_load("procs"))),
                       ("machines", machines_table(_load("scaling_machines"))),
                       ("pathwalk", pathwalk_table(_load("pathwalk"))),
                       ("boot", boot_table(_load("boot"))),
                       ("scaling-sweep", sweep_table(HERE / "results" / "scaling-sweep.jsonl"))):
        text = re.sub(rf"<!-- {name}:begin -->.*?<!-- {name}:end -->",
                      f"<!-- {name}:begin -->\n{body}\n<!-- {name}:end -->", text, flags=re.S)
    readme.write_text(text)


def _load(name):
    return json.loads((HERE / "results" / f"{name}.json").read_text())


if __name__ == "__main__":
    main()
