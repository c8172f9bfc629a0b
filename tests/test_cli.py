"""The command line: info, syscalls, help, usage errors."""
from __future__ import annotations

import json

from conftest import guest, run_cli


def test_info_static_and_pie():
    out, err, rc = run_cli("info", guest("glibc", "hello"))
    assert rc == 0 and b"ET_EXEC, static" in out and b"LOAD" in out and b"image size" in out
    out, err, rc = run_cli("info", guest("glibc", "hello-pie"))
    assert rc == 0 and b"static-pie" in out


def test_info_bad_file(tmp_path):
    p = tmp_path / "x"
    p.write_text("not elf")
    out, err, rc = run_cli("info", str(p))
    assert rc == 126 and len(err.splitlines()) == 1


def test_syscalls_json_comes_from_the_table():
    out, err, rc = run_cli("syscalls", "--format", "json")
    assert rc == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["read"]["support"] == "full" and rows["read"]["nr"] == 0
    assert rows["mmap"]["support"] == "partial" and rows["mmap"]["note"]
    assert "io_setup" not in rows
    out, err, rc = run_cli("syscalls", "--format", "json", "--all")
    assert {r["name"]: r for r in json.loads(out)}["io_setup"]["support"] == "missing"


def test_syscalls_table_prints():
    out, err, rc = run_cli("syscalls")
    assert rc == 0 and b"getpid" in out and b"exit_group" in out


def test_help_and_usage():
    out, err, rc = run_cli("--help")
    assert rc == 0 and b"exec" in out
    out, err, rc = run_cli("exec", "--help")
    assert rc == 0 and b"--mem" in out
    out, err, rc = run_cli()
    assert rc == 2 and b"Traceback" not in err
