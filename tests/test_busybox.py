"""A real, externally built static program (Debian's busybox-static) under
azemu gives exactly the output it gives natively."""
from __future__ import annotations

import pytest

from conftest import ROOT, assert_same, run_azemu, run_native

SRC = str(ROOT / "guest_bins" / "src")
README = str(ROOT / "guest_bins" / "README.md")

COMMANDS = [
    ["echo", "hello", "from", "busybox"],
    ["cat", README],
    ["wc", README],
    ["wc", "-lwc", f"{SRC}/hello.c", f"{SRC}/fileio.c"],
    ["ls", "-l", SRC],
    ["ls", "-la", str(ROOT / "guest_bins")],
    ["sha256sum", README, f"{SRC}/hello.c"],
    ["sort", README],
    ["sort", "-r", "-u", README],
    ["head", "-n", "5", README],
    ["grep", "-c", "static", README],
    ["find", SRC, "-name", "*.c"],
    ["md5sum", str(ROOT / "guest_bins" / "bin" / "musl" / "hello")],
    ["od", "-A", "x", "-t", "x1z", "-N", "64", str(ROOT / "guest_bins" / "bin" / "musl" / "hello")],
    ["expr", "6", "*", "7"],
    ["false"],
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=[" ".join(c[:2]).replace(str(ROOT), "") for c in COMMANDS])
def test_busybox_applet(busybox, cmd):
    assert_same(run_native([busybox, *cmd]), run_azemu([busybox, *cmd]))


def test_busybox_pipe_input(busybox):
    data = b"".join(b"line %d\n" % (i * 7919 % 1000) for i in range(3000))
    for cmd in (["sort", "-n"], ["uniq", "-c"], ["tr", "a-z", "A-Z"], ["sha256sum"]):
        assert_same(run_native([busybox, *cmd], stdin=data), run_azemu([busybox, *cmd], stdin=data))


def test_busybox_writes_files(busybox, tmp_path):
    """Applets that create, copy, move, link and remove files leave the same tree."""
    from conftest import tree
    for d in ("n", "a"):
        (tmp_path / d).mkdir()
    for argv in (["mkdir", "-p", "x/y"], ["cp", README, "x/y/f"], ["mv", "x/y/f", "x/g"],
                 ["ln", "-s", "g", "x/l"], ["touch", "x/t"], ["rm", "x/t"],
                 ["chmod", "600", "x/g"], ["ls", "-R", "x"]):
        assert_same(run_native([busybox, *argv], cwd=tmp_path / "n"),
                    run_azemu([busybox, *argv], cwd=tmp_path / "a"))
    assert tree(tmp_path / "n") == tree(tmp_path / "a")
