"""The documentation stays true: every command in a ```sh block of README.md
and docs/ runs as written, from the top of the checkout, and ends as the
text says — status 0, or the N of an "(exit N)" in its comment — with no
traceback.  Blocks of other kinds (```text, ```toml) are not commands."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, shell_status

# The teaching labs' commands run in labs of their own: tests/test_labs.py.
DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").rglob("*.md")
                                    if "labs" not in p.relative_to(ROOT / "docs").parts)]
# The test commands run this very test: CI runs them (.ci/run is `make test`).
RUN_BY_CI = {"make test", "make test-all"}
SLOW = {"make demo", "make bench"}          # run with the slow tests (make test-all)
# Commands another test of the default run already runs the same way: the
# docs' copies run with the slow tests only (make test-all).
RUN_BY_TESTS = {
    "azemu conformance --mode lwk --modules test_wait4,test_fileio":
        "test_conformance.py::test_a_subset_passes_as_natively_in_lwk_mode",
    "azemu calibrate": "test_costmodel.py (its calibration fixture)",
    "azemu bench getpid --repeat 3 --plot /tmp/getpid.png":
        "test_figures.py::test_bench_getpid_json_has_pairs_kpti_ratios_and_host",
    "azemu bench getpid --repeat 3 --json /tmp/getpid.json --plot /tmp/getpid.png":
        "test_figures.py::test_bench_getpid_json_has_pairs_kpti_ratios_and_host",
    "azemu bench boot --repeat 3": "test_bench_boot.py::test_every_kernel_and_image_is_measured",
}


def commands(path: Path):
    """(line number, command) of every command in the file's ```sh blocks."""
    out, block, cont = [], None, ""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            block = None if block is not None else (line[3:].strip() == "sh")
            continue
        if not block:
            continue
        text = cont + line
        if text.rstrip().endswith("\\"):
            cont = text.rstrip()[:-1] + " "
            continue
        cont = ""
        if text.strip() and not text.strip().startswith("#"):
            out.append((n, text.strip()))
    return out


def expected_status(command: str) -> int:
    m = re.search(r"#.*\(exit (\d+)\)", command)
    return int(m.group(1)) if m else 0


def _bare(command: str) -> str:
    return re.sub(r"\s+#.*$", "", command).strip()


def _run_doc(path: Path, tmp_path: Path, slow: bool):
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["AZEMU_CACHE"] = str(tmp_path / "cache")
    env.pop("PYTHONPATH", None)
    ran = 0
    for n, cmd in commands(path):
        if _bare(cmd) in RUN_BY_CI or (_bare(cmd) in SLOW or _bare(cmd) in RUN_BY_TESTS) != slow:
            continue
        p = subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=env, capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=600)
        where = f"{path.relative_to(ROOT)}:{n}: {cmd}"
        status = shell_status(p.returncode)       # (bash may exec a lone command: its death is bash's)
        assert status == expected_status(cmd), \
            f"{where}\nexit {status}\n{p.stdout.decode()[-1500:]}\n{p.stderr.decode()[-1500:]}"
        assert b"Traceback" not in p.stderr + p.stdout, where
        ran += 1
    return ran


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_every_documented_command_runs(path, tmp_path):
    _run_doc(path, tmp_path, slow=False)


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_every_documented_long_command_runs(path, tmp_path):
    _run_doc(path, tmp_path, slow=True)


def test_the_docs_have_commands_and_no_placeholders():
    found = {p: commands(p) for p in DOCS}
    assert sum(len(c) for c in found.values()) > 40
    for path, cmds in found.items():
        for n, cmd in cmds:
            for placeholder in ("./a.out", "/srv/", "PROGRAM", "FILE", "app.c", "[ARGS"):
                assert placeholder not in _bare(cmd), f"{path.name}:{n}: {cmd}"


def test_the_tree_keeps_no_stray_files():
    """Nothing a test or a demo writes is committed (the stray `got` and
    `link_to_a` were fileio's and a probe's output)."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout
    if not tracked:
        pytest.skip("not a git checkout")
    top = {line.split("/")[0] for line in tracked.splitlines()}
    assert top <= {".ci", ".gitignore", "Makefile", "README.md", "azemu", "benchmarks", "docs",
                   "guest_bins", "kernels", "pyproject.toml", "tests"}, top
