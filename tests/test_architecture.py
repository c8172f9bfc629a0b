"""Structural rules of the code base (DESIGN.md §2, CONVENTIONS.md)."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

MACHINE_MODULES = ["core", "memory", "machine", "loader", "ucfast", "crash"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_machine_never_imports_kernels():
    for mod in MACHINE_MODULES:
        bad = {n for n in _imports(ROOT / "azemu" / f"{mod}.py") if n.split(".")[0] == "kernels"}
        assert not bad, f"azemu/{mod}.py imports {bad}"


def test_no_file_over_700_lines():
    for path in list(ROOT.glob("azemu/**/*.py")) + list(ROOT.glob("kernels/**/*.py")):
        n = len(path.read_text().splitlines())
        assert n <= 700, f"{path.relative_to(ROOT)} has {n} lines"


def test_every_module_says_what_it_is_for():
    for path in list(ROOT.glob("azemu/*.py")) + list(ROOT.glob("kernels/**/*.py")):
        if path.name in ("__init__.py", "__main__.py") and not path.read_text().strip():
            continue
        if path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree) or path.name == "__init__.py" and not tree.body, \
            f"{path.relative_to(ROOT)} has no module docstring"


def test_handler_modules_do_not_shadow_the_standard_library():
    import sys
    for path in ROOT.glob("kernels/syscalls/*.py"):
        assert path.stem not in sys.stdlib_module_names, path.name


def test_syscall_table_is_the_single_source():
    from kernels.syscalls.table import TABLE, all_entries
    from kernels.abi.syscall_numbers import SYSCALL_NAMES
    assert len({e.nr for e in TABLE}) == len(TABLE)
    for e in TABLE:
        assert SYSCALL_NAMES[e.nr] == e.name
        if e.handler is not None:
            assert 0 <= e.arity <= 6, e.name
    assert len(all_entries()) == len(SYSCALL_NAMES)
