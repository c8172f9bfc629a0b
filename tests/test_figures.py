"""Figures and tables that read (issue 14, item 4): the numbers behind the
machine's live view, the `--stats` table, `azemu bench getpid`'s table, JSON
and plot, and benchmarks/scaling.py's plot.  Most tests feed synthetic
results to the pure functions that build each figure's data; one small real
run each checks --stats and bench end to end.  No timing is asserted."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import ROOT, guest, run_azemu
from azemu import bench, multikernel, stats
from kernels.costmodel import (AS_SWITCH_CYCLES, HERMITUX_LINUX_KPTI_NULL_SYSCALL,
                               UNIKRAFT_FUNCTION_CALL, published_ladder)


# -- the live view's rates ---------------------------------------------------------------------

def _partition(started, calls, ended=None, cores=(0,)):
    counters = [SimpleNamespace(trap=calls, function_hook=0) for _ in cores]
    kernel = SimpleNamespace(part=SimpleNamespace(cores=[SimpleNamespace(index=i) for i in cores]),
                             counters=counters, slots=[SimpleNamespace(task=None) for _ in cores])
    spec = SimpleNamespace(name="p", kernel="lwk", program="/x/prog")
    return SimpleNamespace(kernel=kernel, spec=spec, started=started, ended=ended)


def test_rate_needs_a_real_interval():
    assert multikernel.rate((0, 10.0), (1074, 10.0001)) is None      # the student's first frame
    assert multikernel.rate((0, None), (5, 3.0)) is None              # not started
    assert multikernel.rate((100, 10.0), (300, 10.5)) == pytest.approx(400)
    assert multikernel.rate((300, 10.0), (200, 11.0)) == 0           # never negative


def test_first_frame_is_sane_and_no_rate_beats_calls_over_elapsed():
    samples = {}
    p = _partition(started=100.0, calls=1074)
    # the first frame comes right after the start: no interval yet, no rate
    assert [row[-1] for row in multikernel._core_rows([p], samples, 100.0001)] == [None]
    assert samples == {}
    # half a second in: the rate is over the time since the start
    (row,) = multikernel._core_rows([p], samples, 100.5)
    assert row[-1] == pytest.approx(1074 / 0.5) and row[-1] <= 1074 / 0.5 + 1e-9
    # a frame 10 ms later has no interval of its own: "—", and the baseline does not move
    p.kernel.counters[0].trap = 1100
    assert multikernel._core_rows([p], samples, 100.51)[0][-1] is None
    assert samples[0] == (1074, 100.5)
    # ended: the interval stops at the end, whatever the clock says
    p.ended = 101.0
    (row,) = multikernel._core_rows([p], samples, 500.0)
    assert row[-1] == pytest.approx((1100 - 1074) / 0.5)
    assert multikernel._core_rows([p], samples, 600.0)[0][-1] is None


def test_rates_over_many_frames_never_exceed_calls_over_their_interval():
    import random
    rnd = random.Random(4)
    p = _partition(started=0.0, calls=0)
    samples, now, calls, last = {}, 0.0, 0, (0, 0.0)
    for _ in range(200):
        now += rnd.choice((1e-6, 0.01, 0.25, 0.3, 1.0))
        calls += rnd.randrange(0, 5000)
        p.kernel.counters[0].trap = calls
        r = multikernel._core_rows([p], samples, now)[0][-1]
        if r is not None:
            assert now - last[1] >= multikernel.MIN_RATE_INTERVAL
            assert r <= (calls - last[0]) / (now - last[1]) + 1e-9
            assert r <= calls / now + 1e-9 or last != (0, 0.0)
            last = (calls, now)


def test_live_view_of_a_real_machine_shows_sane_rates(tmp_path, monkeypatch):
    """A real machine with the live view on: every rate it showed is within
    calls / (time since the partition started), and the first frame has none."""
    import io
    seen = []
    real = multikernel._core_rows

    def spy(running, samples, now):
        rows = real(running, samples, now)
        r = running[0]
        calls = sum(c.trap + c.function_hook for c in r.kernel.counters)
        seen.append((rows[0][-1], calls, (min(now, r.ended) if r.ended else now) - r.started
                     if r.started else None))
        return rows
    monkeypatch.setattr(multikernel, "_core_rows", spy)
    machine = {"machine": {"cores": 2, "memory": "256M"},
               "partition": [{"name": "a", "kernel": "lwk", "cores": 1, "memory": "64M",
                              "program": "getpid_loop", "args": ["300000"]}]}
    assert multikernel.run_machine(machine, live=True, out_dir=str(tmp_path), console_file=io.StringIO()) == 0
    assert seen and seen[0][0] is None                  # the first frame: no interval yet
    rates = [(per_s, calls, elapsed) for per_s, calls, elapsed in seen if per_s is not None]
    assert rates, seen                                   # 300,000 calls take well over 0.2 s
    first, calls, elapsed = rates[0]
    assert elapsed >= multikernel.MIN_RATE_INTERVAL and first <= calls / elapsed * 1.0001
    for per_s, calls, _ in rates:                        # every interval is >= MIN_RATE_INTERVAL
        assert 0 <= per_s <= calls / multikernel.MIN_RATE_INTERVAL * 1.0001


# -- the --stats table -------------------------------------------------------------------------

def _cores(values):
    return [{"syscalls": v, "tlb_shootdown": 0} for v in values]


def test_stats_rows_sum_with_few_cores():
    d = stats.stats_table(_cores([1, 2, 3]), [0, 1, 2], {"syscalls": 6, "tlb_shootdown": 0},
                          ("syscalls", "tlb_shootdown"))
    assert d["columns"] == ["core 0", "core 1", "core 2"]
    for _, cells, total in d["rows"]:
        assert total == sum(cells)


def test_stats_events_on_no_core_get_a_column_of_their_own():
    """The student's table: shootdowns 0 on every core and 48 in total."""
    d = stats.stats_table(_cores([1, 2]), [0, 1], {"syscalls": 3, "tlb_shootdown": 48},
                          ("syscalls", "tlb_shootdown"))
    assert d["columns"][-1] == "not per core"
    rows = {f: (cells, total) for f, cells, total in d["rows"]}
    assert rows["tlb_shootdown"] == ([0, 0, 48], 48)
    assert rows["syscalls"] == ([1, 2, 0], 3)
    assert "not counted on any one core" in d["note"]


def test_stats_more_cores_than_columns_are_summed_and_said_so():
    n = stats.MAX_CORE_COLUMNS + 5
    d = stats.stats_table(_cores(range(n)), list(range(n)), {"syscalls": sum(range(n)), "tlb_shootdown": 0},
                          ("syscalls", "tlb_shootdown"))
    assert len(d["columns"]) == stats.MAX_CORE_COLUMNS
    assert d["columns"][-1] == f"cores {stats.MAX_CORE_COLUMNS - 1}-{n - 1}"
    assert f"cores {stats.MAX_CORE_COLUMNS - 1}-{n - 1} summed" in d["note"]
    rows = {f: (cells, total) for f, cells, total in d["rows"]}
    cells, total = rows["syscalls"]
    assert total == sum(cells) == sum(range(n)) and cells[-1] == sum(range(stats.MAX_CORE_COLUMNS - 1, n))


def test_stats_fractional_counts_still_sum_as_printed():
    per = [{"line_transfer": x} for x in (0.4, 0.4, 0.4)]
    d = stats.stats_table(per, [0, 1, 2], {"line_transfer": 1.2}, ("line_transfer",))
    (_, cells, total), = d["rows"]
    assert total == sum(cells) and "rounded" in d["note"]


def _stats_rows(text: str) -> dict:
    """{event: (cells, total)} from a --stats table as printed."""
    rows = {}
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip().replace(",", "") for c in line.strip("│").split("│")]
        if len(cells) > 2 and all(c.isdigit() for c in cells[1:]):
            rows[cells[0]] = ([int(c) for c in cells[1:-1]], int(cells[-1]))
    return rows


@pytest.mark.parametrize("cores,threads", [(4, 8), (stats.MAX_CORE_COLUMNS + 2, 10)])
def test_stats_of_a_threads_program_that_munmaps_sum_on_every_row(cores, threads):
    """--deterministic, so that the same shootdowns happen on every run."""
    exe = guest("glibc", "syscall_threads")
    out, err, rc = run_azemu([exe, str(threads), "100"], timeout=300,
                             extra=["--mode", "linux", "--cores", str(cores), "--stats", "--deterministic"])
    assert rc == 0, err
    rows = _stats_rows(err.decode())
    assert len(rows) >= 20 and rows["syscalls"][1] > 0, err.decode()
    for event, (cells, total) in rows.items():
        assert total == sum(cells), (event, cells, total)
    assert rows["tlb shootdown"][1] > 0            # munmap on a threaded mm: shootdowns happened
    assert len(rows["syscalls"][0]) == min(cores, stats.MAX_CORE_COLUMNS)


# -- bench getpid: pairs, spread, KPTI -----------------------------------------------------------

def test_paired_summary_keeps_noise_and_counts_it():
    s = bench.paired_summary([-0.889, 1.0, 2.0, 5.285])
    assert s["min"] == -0.889 and s["nonpositive"] == 1
    assert s["q1"] <= s["median"] <= s["q3"]
    assert bench.fmt_time(s["min"]) == "< noise"
    text = bench.fmt_spread(s)
    assert "-" not in text and " to " in text and text.startswith("[")
    one = bench.paired_summary([0.5])
    assert one["q1"] == one["q3"] == one["median"] == 0.5


def test_pairs_put_the_zero_and_n_runs_back_to_back():
    seen = []

    def measure(n):
        seen.append(n)
        return (10.0 + n * 0.001,)
    per, _, _ = bench._pair(measure, 1000, True)
    per2, _, _ = bench._pair(measure, 1000, False)
    assert seen == [0, 1000, 1000, 0] and per == per2 == pytest.approx(0.001)


def _synthetic(cycle_ns=0.5, spread=0.1):
    """A results dict as bench.run makes it (before add_ratios)."""
    def v(med, modelled=None, as_switch=0.0):
        e = bench.paired_summary([med - spread, med, med + spread])
        if modelled is None:
            return {"emulator_us": e, "modelled_ns": None, "measured_native_getpid_ns": 80.0}
        return {"emulator_us": e, "modelled_ns": modelled,
                "modelled_breakdown_ns": {"as_switch": as_switch, "trap": modelled - as_switch}}
    kpti = 2 * AS_SWITCH_CYCLES * cycle_ns
    res = {"params": {"iterations": 1000, "repeat": 3,
                      "host": {"hostname": "labhost", "cpu_model": "Test CPU 9000", "cpus": 2,
                               "kernel": "6.1"}},
           "calibration": {"figures": {"cycle_ns": cycle_ns}},
           "variants": {"native": v(0.1), "linux": v(3.0, 60.0 + kpti, kpti), "lwk": v(2.0, 50.0),
                        "unikernel-binary": v(1.0, 30.0), "unikernel-source hook": v(0.6, 10.0),
                        "unikernel-source in-guest": v(0.05, 2.0)}}
    return bench.add_ratios(res)


def test_kpti_and_no_kpti_ratios_follow_the_breakdown():
    res = _synthetic()
    lin = res["variants"]["linux"]
    assert lin["modelled_ns_no_kpti"] == pytest.approx(60.0)
    assert res["ratios"]["linux/lwk"]["with_kpti"] == pytest.approx(lin["modelled_ns"] / 50.0)
    assert res["ratios"]["linux/lwk"]["without_kpti"] == pytest.approx(60.0 / 50.0)
    assert res["ratios"]["linux/unikernel-binary"]["without_kpti"] == pytest.approx(2.0)
    assert set(res["ratios"]) == {"linux/lwk", "linux/unikernel-binary", "linux/unikernel-source hook",
                                  "linux/unikernel-source in-guest"}
    for r in res["ratios"].values():
        assert r["with_kpti"] > r["without_kpti"]          # KPTI only ever adds to linux


def test_getpid_plot_data_marks_ladders_and_host():
    res = _synthetic(cycle_ns=0.5)
    d = bench.plot_data(res)
    linux = res["variants"]["linux"]["modelled_ns"]
    assert d["paper_mark"]["ratio"] == 7.5 and d["paper_mark"]["ns"] == pytest.approx(linux / 7.5)
    assert "7.5x" in d["paper_mark"]["label"]
    bars = {b["rung"]: b for b in d["published"]["bars"]}
    assert bars["Linux null syscall, KPTI"]["ns"] == pytest.approx(HERMITUX_LINUX_KPTI_NULL_SYSCALL * 0.5)
    assert bars["function call"]["ns"] == pytest.approx(UNIKRAFT_FUNCTION_CALL * 0.5)
    assert len(d["published"]["bars"]) == len(published_ladder())
    assert all(b["label"].startswith("published") for b in d["published"]["bars"])
    assert "published" in d["published"]["label"]
    assert "labhost" in d["host"] and "Test CPU 9000" in d["host"] and "2 cores" in d["host"]
    assert d["modelled"]["yscale"] == "log"
    assert d["modelled"]["no_kpti_ns"][0] == pytest.approx(60.0)
    em = d["emulator"]
    assert min(em["err_low"] + em["err_high"] + em["median_us"]) >= 0


def test_getpid_plot_data_shows_noise_as_noise():
    res = _synthetic()
    res["variants"]["native"]["emulator_us"] = bench.paired_summary([-0.9, -0.1, 0.2])
    d = bench.plot_data(bench.add_ratios(res))
    assert d["emulator"]["labels"][0] == "< noise" and d["emulator"]["median_us"][0] == 0
    assert min(d["emulator"]["err_low"] + d["emulator"]["err_high"]) >= 0


def test_saved_results_from_before_the_pairs_still_plot_and_say_what_host_they_know():
    res = _synthetic()
    del res["ratios"]
    for v in res["variants"].values():
        v["emulator_us"] = {k: v["emulator_us"][k] for k in ("median", "min", "max", "runs")}
        v.pop("modelled_ns_no_kpti")
    del res["params"]["host"]
    res["calibration"]["host"] = {"machine": "x86_64", "cpus": 2, "kernel": "6.1"}
    d = bench.plot_data(res)
    assert "CPU model not recorded" in d["host"] and "2 cores" in d["host"]
    assert d["modelled"]["no_kpti_ns"][0] == pytest.approx(60.0)
    assert "ratios" not in res                             # the caller's dict is left alone


def test_record_reuses_bench_for_the_no_kpti_line():
    spec = importlib.util.spec_from_file_location("record", ROOT / "benchmarks" / "record.py")
    record = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(record)
    text = record.getpid_table(_synthetic())
    assert "without KPTI" in text and "labhost" in text
    assert "linux/lwk" in text and f"{60.0 / 50.0:.2f}x" in text
    assert not re.search(r"\d-\d", text)                # no hyphen as a range


def test_bench_getpid_json_has_pairs_kpti_ratios_and_host(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), AZEMU_CACHE=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "azemu", "bench", "getpid", "--iterations", "300",
                          "--repeat", "2", "--json", str(tmp_path / "r.json"),
                          "--plot", str(tmp_path / "r.png")],
                         capture_output=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert "no KPTI" in text and "linux/lwk" in text and "measured on" in text and "[q1, q3]" in text
    assert not re.search(r"\d\.\d+-\d", text)               # no '0.889-5.285'
    for name in ("native", "linux", "lwk", "unikernel-binary", "hook", "in-guest"):
        assert name in text
    res = json.loads((tmp_path / "r.json").read_text())
    assert set(res["variants"]) == {"native", "linux", "lwk", "unikernel-binary",
                                    "unikernel-source hook", "unikernel-source in-guest"}
    assert res["variants"]["linux"]["events_per_call"]["trap"] == 1.0
    assert res["variants"]["unikernel-source in-guest"]["events_per_call"]["in_guest"] == 1.0
    assert res["params"]["host"]["cpus"] == os.cpu_count()
    for name, v in res["variants"].items():
        e = v["emulator_us"]
        assert len(e["runs"]) == 2 and e["q1"] <= e["median"] <= e["q3"], name
    lin = res["variants"]["linux"]
    assert lin["modelled_ns_no_kpti"] == pytest.approx(lin["modelled_ns"]
                                                       - lin["modelled_breakdown_ns"]["as_switch"])
    assert lin["modelled_breakdown_ns"]["as_switch"] > 0
    assert res["ratios"]["linux/lwk"]["with_kpti"] > res["ratios"]["linux/lwk"]["without_kpti"]
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


# -- benchmarks/scaling.py's plot --------------------------------------------------------------

def _scaling():
    spec = importlib.util.spec_from_file_location("scaling", ROOT / "benchmarks" / "scaling.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_scaling_plot_is_log_titled_and_says_workload_and_host(tmp_path):
    sc = _scaling()
    rows = lambda k: [{"n": n, "modelled_ns": k * n, "emulator_us": 10.0 / n} for n in (1, 2, 4)]  # noqa: E731
    res = {"params": {"iters": 50, "workload": sc.WORKLOAD,
                      "host": {"hostname": "labhost", "cpu_model": "Test CPU", "cpus": 2, "kernel": "6"}},
           "n": [1, 2, 4], "modes": {"linux": rows(100.0), "lwk": rows(10.0)}}
    d = sc.plot_data(res)
    assert d["xscale"] == ("log", 2)
    assert [p["yscale"] for p in d["panels"]] == ["log", "log"]
    assert "syscall_threads" in d["workload"] and d["title"]
    assert "labhost" in d["host"] and "Test CPU" in d["host"]
    assert d["series"]["linux"]["modelled_ns"] == [100.0, 200.0, 400.0]
    sc.plot(res, str(tmp_path / "s.png"))
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_threads_scaling_records_and_names_its_host(tmp_path):
    """benchmarks/threads_scaling.py: the host in its results and in its plot's title."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "threads_scaling.py"), "--max", "1",
                          "--repeat", "1", "--json", str(tmp_path / "t.json"),
                          "--plot", str(tmp_path / "t.png")], capture_output=True, timeout=600)
    assert out.returncode == 0, out.stderr
    res = json.loads((tmp_path / "t.json").read_text())
    assert res["host"]["cpus"] == os.cpu_count() and res["host"]["cpu_model"]
    spec = importlib.util.spec_from_file_location("threads_scaling", ROOT / "benchmarks" / "threads_scaling.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    title = mod.plot_title(res)
    assert res["host"]["cpu_model"] in title and "N threads on N cores" in title
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
