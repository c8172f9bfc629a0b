"""`azemu bench boot`: times to the first instruction and to main per kernel
and image, and the image size split into app, runtime and libOS.

No speed is asserted (timings are the benchmarks' business): what is checked
is what must hold whatever the host — the order of the moments of one boot,
and what the symbol tables say each image is made of."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import BINS, ROOT, build_probe, run_cli

KERNELS = {"linux", "lwk", "unikernel"}


def _bench(tmp_path, *args):
    out = tmp_path / "boot.json"
    stdout, stderr, rc = run_cli("bench", "boot", "--repeat", "1", "--json", str(out), *args,
                                 timeout=300)
    assert rc == 0, stderr.decode()
    assert b"Traceback" not in stderr
    return json.loads(out.read_text()), stdout.decode()


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    return _bench(tmp_path_factory.mktemp("boot"))


def test_every_kernel_and_image_is_measured(default):
    data, table = default
    got = {(r["image"], r["kernel"]) for r in data["rows"]}
    for image in ("glibc/hello", "musl/hello"):
        assert {(image, k) for k in KERNELS} <= got
    # a libOS image boots only on the unikernel
    assert ("libos/glibc/hello", "unikernel") in got and ("libos/musl/hello", "unikernel") in got
    assert not any(i.startswith("libos/") and k != "unikernel" for i, k in got)
    assert {r["image"] for r in data["native"]} == {"glibc/hello", "musl/hello"}
    assert "not native" in table and "published" in table.lower()


def test_the_moments_of_a_boot_come_in_order(default):
    data, _ = default
    for r in data["rows"]:
        m = r["ms"]
        assert 0 < m["kernel_made"] <= m["loaded"] <= m["first"] <= m["main"] <= m["exit"], r
        assert r["status"] == 0, r
        for run in r["runs_ms"]:
            assert run["first"] <= run["main"], r
    for r in data["native"]:
        assert r["ms"]["exit"] > 0


def test_the_image_parts_add_up(default):
    data, _ = default
    for name, z in data["sizes"].items():
        parts = [z[p]["total"] for p in ("app", "runtime", "libos")]
        assert all(p >= 0 for p in parts) and z["file"] > 0, name
        assert sum(parts) <= z["loaded"], name
        assert sum(parts) + z["unattributed"] == z["loaded"], name
        assert z["app"]["total"] > 0 and z["runtime"]["total"] > z["app"]["total"], name
        if name.startswith("libos/"):
            assert z["libos_image"] and z["libos"]["text"] > 0 and z["libos"]["data"] > 0, name
        else:
            assert not z["libos_image"] and z["libos"]["total"] == 0, name
    s = data["sizes"]
    # the same source, with and without the libOS: the same app
    assert s["glibc/hello"]["app"] == s["libos/glibc/hello"]["app"]
    assert s["musl/hello"]["app"] == s["libos/musl/hello"]["app"]
    assert s["musl/hello"]["runtime"]["total"] < s["glibc/hello"]["runtime"]["total"]
    assert s["glibc/hello"]["libc"] == "glibc" and s["musl/hello"]["libc"] == "musl"


def test_published_figures_are_labelled_and_cited(default):
    data, _ = default
    systems = {p["system"]: p for p in data["published"]}
    assert {"ClickOS", "OSv", "unikernel web service"} <= set(systems)
    assert all("Azalea paper" in p["source"] for p in data["published"])


def test_explicit_programs_a_bigger_app_and_a_stripped_one(tmp_path):
    stripped = tmp_path / "hello-stripped"
    if shutil.which("objcopy") is None:
        pytest.skip("no objcopy")
    subprocess.run(["objcopy", "--strip-all", str(BINS / "musl/hello"), str(stripped)], check=True)
    data, _ = _bench(tmp_path, "--mode", "linux", "hello", str(BINS / "glibc/http_server"),
                     str(stripped), str(BINS / "glibc/crash_null"))
    assert {r["kernel"] for r in data["rows"]} == {"linux"} and not data["native"]
    crashed = [r for r in data["rows"] if r["image"].endswith("crash_null")][0]
    assert crashed["status"] == 139 and "(exit 139)" in crashed["kind"]
    s = data["sizes"]
    assert s[str(BINS / "glibc/http_server")]["app"]["total"] > s["hello"]["app"]["total"]
    assert s[str(stripped)]["app"] is None and s[str(stripped)]["loaded"] > 0
    row = [r for r in data["rows"] if r["image"] == str(stripped)][0]
    assert row["ms"]["main"] is None and 0 < row["ms"]["first"] <= row["ms"]["exit"]


def test_an_image_from_azemu_build(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    image = tmp_path / "hello.uk"
    _, err, rc = run_cli("build", str(ROOT / "guest_bins/src/hello.c"), "-o", str(image))
    assert rc == 0, err
    data, _ = _bench(tmp_path, "--mode", "unikernel", str(image))
    (row,) = data["rows"]
    assert row["kind"].startswith("libOS image") and row["ms"]["first"] <= row["ms"]["main"]
    z = data["sizes"][str(image)]
    assert z["libos"]["total"] > 0 and z["app"]["total"] > 0


@pytest.mark.parametrize("args, says", [
    (["no-such-program"], "no-such-program: no such program"),
    ([str(ROOT / "README.md")], "README.md"),
    (["--mode", "linux", "libos/glibc/hello"], "only on --mode unikernel"),
    ([str(ROOT / "docs")], "not a regular file"),
    (["--json", "/proc/no-such-dir/boot.json", "hello"], "boot.json"),
])
def test_bad_input_is_one_line(args, says):
    out, err, rc = run_cli("bench", "boot", "--repeat", "1", *args)
    lines = err.decode().strip().splitlines()
    assert rc == 2 and len(lines) == 1 and says in lines[0], err
    assert not out


def test_getpid_takes_no_programs():
    _, err, rc = run_cli("bench", "getpid", "hello")
    assert rc == 2 and len(err.decode().strip().splitlines()) == 1


def test_boot_takes_no_plot():
    _, err, rc = run_cli("bench", "boot", "--plot", "x.png")
    assert rc == 2 and len(err.decode().strip().splitlines()) == 1
    assert not (ROOT / "x.png").exists()


def test_the_guest_says_nothing_into_the_tables(tmp_path):
    probe = build_probe(tmp_path, "noisy", '#include <stdio.h>\n'
                        'int main(void) { fputs("guest-err\\n", stderr); '
                        'puts("guest-out"); return 3; }\n')
    out, err, rc = run_cli("bench", "boot", "--repeat", "1", "--mode", "linux", probe,
                           "--json", str(tmp_path / "b.json"))
    assert rc == 0 and b"guest-" not in out + err, (out, err)
    (row,) = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert row["status"] == 3 and row["kind"].endswith("(exit 3)")
