"""The files azemu ships inside its own package, and how commands find them.

Everything a command needs at run time — the example guest programs, the
benchmark's getpid loop and its libOS image, the native calibration helper,
the example machine files — is package data under `azemu/data/`, found with
`importlib.resources` from wherever azemu is installed: never relative to a
source checkout or to the current directory.  (In the source tree the
programs under `data/guests/` are links to the committed binaries in
`guest_bins/bin/`; a wheel carries copies.)  The libOS's own sources are
package data of `kernels.libos`, found the same way there.

`azemu examples` lists what is here; `azemu exec NAME` and `azemu run NAME`
accept these names where no such file exists.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


class MissingResource(Exception):
    """A file that should have been installed with azemu is not there."""


def data_dir() -> Path:
    # An installed package is a directory on disk (wheels are unpacked), so
    # the Traversable is a real path; azemu needs real files to execute them.
    return Path(str(files("azemu") / "data"))


def _find(kind: str, name: str) -> Path:
    if name.startswith("/") or ".." in Path(name).parts:
        raise MissingResource(f"{name}: not the name of something shipped with azemu")
    path = data_dir() / kind / name
    if not path.is_file():
        raise MissingResource(f"{kind}/{name} is not installed with azemu "
                              f"(looked in {path.parent}); reinstall the package")
    return path


def guest(name: str) -> Path:
    """A shipped guest program, by its name under data/guests: 'glibc/hello',
    'musl/threads', 'libos/glibc/getpid_loop'."""
    return _find("guests", name)


def machine(name: str) -> Path:
    """A shipped example machine file: 'three' or 'three.toml'."""
    return _find("machines", name if name.endswith(".toml") else name + ".toml")


def native(name: str) -> Path:
    """A native helper run on the host, never under azemu: 'calibrate'."""
    return _find("native", name)


def guests() -> list[str]:
    """Names of every shipped guest program, sorted."""
    root = data_dir() / "guests"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def machines() -> list[str]:
    return sorted(p.stem for p in (data_dir() / "machines").glob("*.toml"))


def lookup_guest(name: str) -> Path | None:
    """A bare program name given to `azemu exec`, among the shipped programs:
    'glibc/hello' as it is; 'hello' means the glibc build."""
    for cand in (name, f"glibc/{name}"):
        path = data_dir() / "guests" / cand
        if ".." not in Path(cand).parts and path.is_file():
            return path
    return None
