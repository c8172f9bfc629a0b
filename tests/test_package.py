"""azemu is a package like any other: installed from its wheel into a fresh
virtual environment outside the source tree, every main command works from
an empty directory — nothing is looked up relative to a checkout or to the
current directory (run-time files are package data, azemu/resources.py)."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGES = ("azemu", "kernels")


def _sources():
    for pkg in PACKAGES:
        yield from sorted((ROOT / pkg).rglob("*.py"))


def test_no_module_looks_for_files_beside_itself_or_in_the_checkout():
    """No `__file__` arithmetic and no path into the source tree's other
    directories: files are found with importlib.resources."""
    for path in _sources():
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            rel = path.relative_to(ROOT)
            if isinstance(node, ast.Name) and node.id == "__file__":
                pytest.fail(f"{rel}:{node.lineno} uses __file__")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in docstrings:
                for where in ("guest_bins", "benchmarks/", "machines/", "tests/"):
                    assert where not in node.value, f"{rel}:{node.lineno}: {node.value!r}"


def test_the_wheel_carries_what_commands_need(wheel):
    import zipfile
    names = set(zipfile.ZipFile(wheel).namelist())
    for need in ("kernels/libos/libos.S", "azemu/data/native/calibrate",
                 "azemu/data/guests/glibc/getpid_loop", "azemu/data/guests/libos/glibc/getpid_loop",
                 "azemu/data/machines/three.toml", "azemu/data/sweeps/scaling.toml",
                 "azemu/data/sweeps/quick.toml", "azemu/data/guests/glibc/cow"):
        assert need in names, need
    assert not any(n.startswith(("guest_bins/", "tests/", "benchmarks/")) for n in names)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "--disable-pip-version-check", "-w", str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return next(out.glob("azemu-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """A fresh venv, outside the tree, with the wheel installed: its azemu."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    p = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                        f"{wheel}[plot]"], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    return venv / "bin" / "azemu"


def _run(azemu, *args, cwd, stdin=None, timeout=300):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["AZEMU_CACHE"] = str(cwd / ".azemu-cache")
    env["PATH"] = f"{azemu.parent}{os.pathsep}{env.get('PATH', '')}"
    p = subprocess.run([str(azemu), *args], cwd=cwd, capture_output=True, input=stdin,
                       env=env, timeout=timeout)
    return p.stdout.decode(), p.stderr.decode(), p.returncode


def test_installed_azemu_works_from_an_empty_directory(installed, tmp_path):
    here = tmp_path / "empty"
    here.mkdir()
    out, err, rc = _run(installed, "--version", cwd=here)
    assert rc == 0 and out.startswith("azemu "), err
    out, err, rc = _run(installed, "exec", "hello", cwd=here)
    assert rc == 0 and out.startswith("Hello, world!"), err
    out, err, rc = _run(installed, "exec", "--mode", "lwk", "musl/cat_stdin", cwd=here, stdin=b"via the FWK\n")
    assert rc == 0 and out == "via the FWK\n", err
    out, err, rc = _run(installed, "exec", "--mode", "lwk", "/bin/sh", "-c",
                        "printf 'b\\na\\n' | sort | head -1; exit 5", cwd=here)
    assert rc == 5 and out == "a\n", err                  # fork, exec, pipes, wait
    if shutil.which("gcc"):
        (here / "app.c").write_text('#include <stdio.h>\n#include <math.h>\n'
                                    'int main(void) { printf("%.3f\\n", sqrt(2.0)); return 0; }\n')
        out, err, rc = _run(installed, "build", "app.c", "-lm", "-o", "app.uk", cwd=here)
        assert rc == 0 and "left as traps: none" in out, err
        out, err, rc = _run(installed, "exec", "--mode", "unikernel", "./app.uk", cwd=here)
        assert rc == 0 and out == "1.414\n", err
    out, err, rc = _run(installed, "calibrate", cwd=here)
    assert rc == 0 and "getpid_ns" in out, err
    out, err, rc = _run(installed, "bench", "getpid", "--repeat", "1", "--iterations", "200",
                        "--plot", "getpid.png", cwd=here)
    assert rc == 0 and "unikernel-source in-guest" in out and (here / "getpid.png").exists(), err
    # this session's features, from the wheel: strace-format tracing, the
    # kernel's view, a core file, and the Python API
    out, err, rc = _run(installed, "exec", "--strace", "hello", cwd=here)
    assert rc == 0 and "+++ exited with 0 +++" in err and 'write(1, "Hello, world!' in err, err
    out, err, rc = _run(installed, "exec", "--mode", "unikernel", "--trace-json", "t.json",
                        "libos/glibc/getpid_loop", "2", cwd=here)
    assert rc == 0 and '"entry": "in-guest"' in (here / "t.json").read_text(), err
    out, err, rc = _run(installed, "exec", "--core", "c.core", "crash_null", cwd=here)
    assert rc == -11 and "main+" in err and (here / "c.core").read_bytes()[:4] == b"\x7fELF", err
    out, err, rc = _run(installed.parent / "python", "-c",
                        "import azemu; h = azemu.Hooks().syscall('getpid', after=lambda c, r: 42); "
                        "r = azemu.run('sysinfo', mode='lwk', hooks=h); print(r.status, r.stdout.decode())",
                        cwd=here)
    assert rc == 0 and out.startswith("0 ") and "gettid()==getpid(): no" in out, err
    out, err, rc = _run(installed, "run", "--no-live", "three", cwd=here)
    assert rc == 0 and (here / "uk-hello.out").read_text().startswith("Hello, world!"), err
    assert "[machine]" in (here / "uk-source-cat.out").read_text()
    assert {p.name for p in here.iterdir()} >= {"lwk-threads.out", "uk-hello.err"}
    # this stop's: a sweep of a shipped spec, resumed; boot times; the debugger's batch mode
    out, err, rc = _run(installed, "sweep", "quick", cwd=here)
    assert rc == 0 and "12 points run now" in err and "sweep quick" in out, err
    out, err, rc = _run(installed, "sweep", "quick", cwd=here)
    assert rc == 0 and "0 points run now, 12 were in quick.jsonl already" in err, err
    out, err, rc = _run(installed, "bench", "boot", "--repeat", "1", "--mode", "lwk", "hello", cwd=here)
    assert rc == 0 and "first instruction" in out, err
    out, err, rc = _run(installed, "debug", "--batch", "b main; c; s; c", "hello", cwd=here)
    assert rc == 0 and "main+0" in out + err, out + err
