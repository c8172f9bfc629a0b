"""`azemu sweep` (issue #15): a small matrix on the local pool — and, in the slow
tests, on a local Dask cluster started here — with records identical apart
from timings; an interrupted sweep measures only the missing points; the
report's ratios stay within a host; bad specs are one line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, guest
from azemu import sweep_spec
from azemu.sweep_point import TIMING_FIELDS
from azemu.sweep_plot import plot_data
from azemu.sweep_report import summarise

SMALL = """
name = "small"
command = "exec"
program = "syscall_threads"
args = ["{cores}", "40"]
repeats = 2
[axes]
mode = ["linux", "lwk"]
cores = [1, 2]
[options]
deterministic = true
"""


def azemu(*args, cwd, timeout=600, env=None):
    e = dict(os.environ if env is None else env)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "azemu", *args], cwd=cwd, env=e, capture_output=True,
                          text=True, timeout=timeout)


def records(path: Path) -> dict:
    return {r["key"]: r for r in map(json.loads, path.read_text().splitlines())}


def without_timings(recs: dict) -> dict:
    return {k: {f: v for f, v in r.items() if f not in TIMING_FIELDS} for k, r in recs.items()}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    (d / "small.toml").write_text(SMALL)
    done = azemu("sweep", "small.toml", "--plot", "small.png", cwd=d)
    assert done.returncode == 0, done.stderr
    return d, done


def test_a_small_sweep_on_the_local_pool(local_run):
    d, done = local_run
    recs = records(d / "small.jsonl")
    assert len(recs) == 8                                  # 2 modes x 2 core counts x 2 repeats
    points = {(r["point"]["mode"], r["point"]["cores"], r["repeat"]) for r in recs.values()}
    assert points == {(m, c, k) for m in ("linux", "lwk") for c in (1, 2) for k in (0, 1)}
    for r in recs.values():
        assert r["status"] == 0 and r["wall_s"] > 0 and r["cpu_s"] > 0
        assert r["host"]["cpus"] == os.cpu_count() and r["azemu"] and r["calibration"]["figures"]
        assert r["counters"]["syscalls"] > 0 and r["modelled_ns_per_call"] > 0
        assert r["argv"][:1] == ["exec"] and "--deterministic" in r["argv"]
    by = {(r["point"]["mode"], r["point"]["cores"], r["repeat"]): r for r in recs.values()}
    for m in ("linux", "lwk"):
        for c in (1, 2):                                   # --deterministic: repeats count alike
            assert by[(m, c, 0)]["counters"] == by[(m, c, 1)]["counters"]
            assert by[(m, c, 0)]["stdout_sha256"] == by[(m, c, 1)]["stdout_sha256"]
    assert by[("linux", 1, 0)]["counters"]["global_lock"] > 0 == by[("lwk", 1, 0)]["counters"]["global_lock"]
    assert "8 points run now" in done.stderr
    assert "sweep small" in done.stdout and "mode=linux on this host" in done.stdout
    assert (d / "small.png").read_bytes()[:4] == b"\x89PNG"


def test_a_rerun_measures_nothing_again_and_the_report_reads_the_file(local_run):
    d, _ = local_run
    before = (d / "small.jsonl").read_text()
    again = azemu("sweep", "small.toml", cwd=d)
    assert again.returncode == 0 and "0 points run now, 8 were in small.jsonl already" in again.stderr
    assert (d / "small.jsonl").read_text() == before
    report = azemu("sweep", "small.toml", "--report", cwd=d)
    assert report.returncode == 0 and "lwk" in report.stdout and "linux" in report.stdout


def test_an_interrupted_sweep_measures_only_the_missing_points(tmp_path):
    (tmp_path / "s.toml").write_text(SMALL.replace('cores = [1, 2]', 'cores = [1, 2, 3]'))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "azemu", "sweep", "s.toml", "--workers", "1"], cwd=tmp_path,
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    out = tmp_path / "small.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGINT)                         # Ctrl-C
    p.communicate(timeout=60)
    first = records(out)
    assert 3 <= len(first) < 12, len(first)
    rerun = azemu("sweep", "s.toml", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{12 - len(first)} points run now, {len(first)} were in small.jsonl already" in rerun.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 12 and len(records(out)) == 12     # every point once
    assert all(records(out)[k] == r for k, r in first.items())


def test_the_report_keeps_ratios_within_a_host_and_says_when_hosts_mix():
    spec = sweep_spec.parse(sweep_spec.tomllib.loads(SMALL), "small.toml")

    def rec(host, cycle, mode, cores, wall):
        return {"key": f"{host}{mode}{cores}", "point": {"mode": mode, "cores": cores}, "repeat": 0,
                "status": 0, "wall_s": wall, "host": {"hostname": host, "cpu_model": "cpu", "cpus": 2},
                "calibration": {"figures": {"cycle_ns": cycle}}, "stdout_sha256": "x"}
    recs = [rec("a", 0.25, "linux", 1, 1.0), rec("a", 0.25, "lwk", 1, 2.0),
            rec("b", 0.5, "linux", 1, 4.0), rec("b", 0.5, "lwk", 1, 6.0)]
    s = summarise(spec, recs)
    assert s["mixed"] and len(s["hosts"]) == 2
    ratio = {(r["host"].split()[0], r["point"]["mode"]): r["ratio_to_base"] for r in s["rows"]}
    assert ratio == {("a", "linux"): 1.0, ("a", "lwk"): 2.0, ("b", "linux"): 1.0, ("b", "lwk"): 1.5}
    norm = {(r["host"].split()[0], r["point"]["mode"]): r["wall_normalised"] for r in s["rows"]}
    assert norm[("b", "linux")] == pytest.approx(4.0 * 0.25 / 0.5)     # to host a's cycle
    d = plot_data(spec, s)
    assert d["x"] == "cores" and d["log2_x"] and len(d["series"]) == 4
    assert all(" on " in series["label"] for series in d["series"])     # no line across hosts
    assert "syscall_threads" in d["title"] and "measured on a" in d["title"]


def test_a_program_file_travels_with_its_points_to_a_cluster(tmp_path):
    from azemu.sweep import _shipped_program
    exe = guest("glibc", "hello")
    spec = sweep_spec.parse({"name": "x", "program": exe, "axes": {"mode": ["lwk"]}}, "x")
    shipped = _shipped_program(spec, shared=False)
    import base64
    assert shipped["arg"] == exe and base64.b64decode(shipped["data"]) == Path(exe).read_bytes()
    assert _shipped_program(spec, shared=True) is None
    name = sweep_spec.parse({"name": "x", "program": "hello", "axes": {"mode": ["lwk"]}}, "x")
    assert _shipped_program(name, shared=False) is None          # a shipped example: the worker's own


@pytest.mark.parametrize("text,says", [
    ("name = 1", "`name` must be"),
    ("program = 'hello'\ncommand = 'nope'", "command 'nope'"),
    ("program = 'hello'\n[axes]\nmode = []", "axis `mode`"),
    ("program = 'hello'\n[options]\nno_such = 1", "not an option of azemu exec"),
    ("program = 'hello'\nargs = ['{x}']", "{x}, which is no axis"),
    ("program = 'hello'\ncolour = 'red'", "unknown keys"),
    ("program = [", "not TOML"),
    ("command = 'run'\nprogram = 'three'\nmeasures = ['counters']", "for `exec` only"),
])
def test_a_bad_spec_is_one_line(text, says, tmp_path):
    (tmp_path / "bad.toml").write_text(text)
    done = azemu("sweep", "bad.toml", cwd=tmp_path)
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_an_unreachable_cluster_and_a_missing_spec_are_one_line(tmp_path):
    (tmp_path / "s.toml").write_text(SMALL)
    done = azemu("sweep", "s.toml", "--cluster", "tcp://127.0.0.1:9", "--connect-timeout", "1",
                 cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "--cluster" in done.stderr and "Traceback" not in done.stderr
    done = azemu("sweep", "nothing.toml", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1


def test_the_shipped_scaling_spec_expands_as_the_benchmark_ran():
    from azemu.sweep import spec_path
    spec = sweep_spec.load(spec_path("scaling"))
    assert spec.axes["mode"] == ["linux", "lwk", "unikernel"] and spec.workers == 1
    assert len(spec.points) == 3 * len(spec.axes["cores"]) * spec.repeats
    assert all("--deterministic" in p.argv and "syscall_threads" in p.argv for p in spec.points)


@pytest.mark.slow
def test_the_same_sweep_on_a_local_dask_cluster(local_run, tmp_path):
    """Several worker processes on this host, started here: the records are
    those of the local pool, apart from timings."""
    distributed = pytest.importorskip("distributed")
    d, _ = local_run
    (tmp_path / "small.toml").write_text(SMALL)
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
               PYTHONPATH=str(ROOT))
    script = (f"import sys\nfrom distributed import LocalCluster\n"
              f"if __name__ == '__main__':\n"
              f"    c = LocalCluster(n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None)\n"
              f"    print(c.scheduler_address, flush=True)\n    sys.stdin.read()\n    c.close()\n")
    (tmp_path / "cluster.py").write_text(script)
    cluster = subprocess.Popen([sys.executable, "cluster.py"], cwd=tmp_path, env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        address = cluster.stdout.readline().strip()
        assert address.startswith("tcp://"), address
        done = azemu("sweep", "small.toml", "--cluster", address, "--out", "c.jsonl", cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert "small (dask)" in done.stderr
    finally:
        cluster.communicate("", timeout=60)
    assert distributed is not None
    assert without_timings(records(tmp_path / "c.jsonl")) == without_timings(records(d / "small.jsonl"))


def test_the_scaling_benchmark_runs_its_matrix_on_the_sweep_engine(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scaling.py"), "--max", "2", "--iters", "50",
                          "--repeats", "1", "--json", str(tmp_path / "s.json")], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    res = json.loads((tmp_path / "s.json").read_text())
    rows = res["modes"]["linux"]
    assert [r["n"] for r in rows] == [1, 2] and rows[0]["line_transfers_per_call"] == 0
    assert rows[1]["line_transfers_per_call"] > 0 == sum(r["line_transfers_per_call"]
                                                        for r in res["modes"]["lwk"])
    assert "scaling-benchmark (local)" in out.stderr + out.stdout


# ---- attacks on the sweep's own inputs ---------------------------------------------------
@pytest.mark.parametrize("payload", ["garbage", "{}", "[1, 2]", '{"argv": "exec hello", "measures": []}'])
def test_a_malformed_point_is_one_line(payload, tmp_path):
    e = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "azemu", "sweep", "--point", "-"], input=payload,
                          capture_output=True, text=True, env=e, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("azemu sweep --point: not a point")
    assert done.stderr.count("\n") == 1 and done.stdout == ""


def test_a_shipped_program_cannot_be_written_outside_the_points_directory(tmp_path):
    """A payload's program name is a file name in the point's own temporary
    directory, whatever path it claims."""
    import base64
    from azemu.sweep_point import run_point
    evil = tmp_path / "outside" / "hello"
    payload = {"argv": ["exec", "../../outside/hello"], "measures": ["status", "digest"], "timeout": 60,
               "program": {"arg": "../../outside/hello",
                           "data": base64.b64encode(Path(guest("glibc", "hello")).read_bytes()).decode()}}
    rec = run_point(payload)
    assert rec["status"] == 0 and not evil.exists() and not (tmp_path / "outside").exists()


def test_results_cut_short_or_foreign_are_skipped_and_measured_again(local_run, tmp_path):
    d, _ = local_run
    lines = (d / "small.jsonl").read_text().splitlines()
    out = tmp_path / "small.jsonl"
    out.write_text("\n".join(lines[:5]) + "\n[1, 2]\nnot json\n" + lines[5][: len(lines[5]) // 2])
    (tmp_path / "small.toml").write_text(SMALL)
    done = azemu("sweep", "small.toml", cwd=tmp_path)
    assert done.returncode == 0 and "3 points run now, 5 were in small.jsonl already" in done.stderr
    from azemu.sweep import read_results
    assert len({r["key"] for r in read_results(out)}) == 8


def test_stats_json_to_an_unwritable_place_is_one_line_and_keeps_the_status(tmp_path):
    done = azemu("exec", "--stats-json", str(tmp_path / "no" / "s.json"), guest("glibc", "exit_code"), "7",
                 cwd=tmp_path)
    assert done.returncode == 7 and "--stats-json" in done.stderr and "Traceback" not in done.stderr
