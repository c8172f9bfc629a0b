"""Credentials and FPU state as Linux sets them (issue #11 items 1 and 5):
guest_bins/src/creds.c — the set*id family's permission rules, supplementary
groups, fsuid, capability sets following the uids — and fpustate.c — the x87
control word and MXCSR at exec, across fork, fresh in a signal handler and
restored after it, long double precision — natively and under azemu in
every mode, as built and as a libOS image."""
from __future__ import annotations

import pytest

from conftest import LIBCS, assert_same, guest, run_azemu, run_native

MODES = ("linux", "lwk", "unikernel")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("name", ("creds", "fpustate"))
def test_matches_linux(name, libc, mode):
    exe = guest(libc, name)
    native = run_native([exe])
    assert native[2] == 0 and native[0], native
    assert_same(native, run_azemu([exe], extra=["--mode", mode]))


@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("name", ("creds", "fpustate"))
def test_libos_images_match_linux(name, libc):
    native = run_native([guest(libc, name)])
    assert_same(native, run_azemu([guest("libos/" + libc, name)], extra=["--mode", "unikernel"]))
